"""The console sets passwords through the same checks as the API: a common password (the
shipped list) or one the Pwned Passwords range API knows is refused with GoTrue's message and
nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..conftest import api_for
from ..factories import create_user, sign_in, unique_email, user_row
from ..support.pwned_passwords import RangeAPIServer
from .conftest import signed_in

PWNED_MESSAGE = "Password is known to be weak and easy to guess, please choose a different one."
BREACHED = "tangerine-velvet-1987"


@pytest.fixture
def hibp_app(make_app, servers):
    range_api = servers(RangeAPIServer({BREACHED: 12}))
    return make_app(**{"mailer.autoconfirm": True, "password.hibp_enabled": True,
                       "password.hibp_url": range_api.url,
                       "password.hibp_timeout": timedelta(seconds=2)})


@pytest.mark.parametrize("password", ["iloveyou", BREACHED])
def test_create_user_refuses_a_common_or_breached_password(hibp_app, password):
    console = signed_in(hibp_app)
    email = unique_email("console-new")
    response = console.post("/console/users/new", {"email": email, "password": password})
    assert response.status_code == 422
    assert PWNED_MESSAGE in response.get_data(as_text=True)
    assert user_row(hibp_app, email) is None


@pytest.mark.parametrize("password", ["baseball1", BREACHED])
def test_set_password_refuses_a_common_or_breached_password(hibp_app, service_role_token,
                                                            password):
    api = api_for(hibp_app, service_role_token)
    email = unique_email("console-set")
    user = create_user(api, email, password="orbit-saffron-meadow-31")
    hashed = user_row(hibp_app, email).encrypted_password
    console = signed_in(hibp_app)
    response = console.post(f"/console/users/{user['id']}/password",
                            {"password": password, "password_confirm": password})
    assert response.status_code == 422
    assert PWNED_MESSAGE in response.get_data(as_text=True)
    assert user_row(hibp_app, email).encrypted_password == hashed
    sign_in(api, email, "orbit-saffron-meadow-31")
