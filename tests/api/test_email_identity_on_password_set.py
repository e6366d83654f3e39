"""GOTRUE_EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED: a user who signed in with
an OAuth provider (an address, no ``email`` identity) and sets a password through PUT /user gets
an ``email`` identity, so the address shows as a way in of its own; off by default."""

from __future__ import annotations

import pytest

from ..conftest import api_for
from ..factories import identities, make_user, sign_in, unique_email, user_row
from ..test_settings import load
from .phone.send_support import token_for

FLAG = "security.create_email_identity_on_password_set"


def _github_user(app, email: str, **columns):
    return make_user(app, email, providers=("github",), **columns)


def _set_password(app, user_id, password: str = "a-new-password-9"):
    response = api_for(app).put("/user", token=token_for(user_id),
                                json={"password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("confirmed", [True, False])
def test_setting_a_password_adds_the_email_identity(make_app, confirmed):
    app = make_app(**{"mailer.autoconfirm": True, FLAG: True})
    email = unique_email("gh")
    user_id = _github_user(app, email, confirmed=confirmed)
    body = _set_password(app, user_id)
    assert sorted(identity["provider"] for identity in body["identities"]) == [
        "email", "github"]
    assert body["app_metadata"]["providers"] == ["github", "email"]
    [email_identity] = [i for i in identities(app, user_id) if i.provider == "email"]
    assert email_identity.provider_id == str(user_id)
    assert email_identity.identity_data["email"] == email
    assert email_identity.identity_data["sub"] == str(user_id)
    assert email_identity.identity_data["email_verified"] is confirmed
    if confirmed:
        assert sign_in(api_for(app), email, "a-new-password-9")["user"]["id"] == str(user_id)


def test_a_second_password_change_adds_nothing_more(make_app):
    app = make_app(**{"mailer.autoconfirm": True, FLAG: True})
    user_id = _github_user(app, unique_email("gh"))
    _set_password(app, user_id)
    first = {i.id for i in identities(app, user_id)}
    _set_password(app, user_id, "another-password-7")
    assert {i.id for i in identities(app, user_id)} == first


def test_off_by_default(app):
    user_id = _github_user(app, unique_email("gh"))
    body = _set_password(app, user_id)
    assert [identity["provider"] for identity in body["identities"]] == ["github"]
    assert [i.provider for i in identities(app, user_id)] == ["github"]
    assert user_row(app, user_id).encrypted_password


def test_a_user_without_an_address_gets_none(make_app):
    app = make_app(**{"mailer.autoconfirm": True, FLAG: True})
    user_id = make_user(app, phone="15550001111", providers=("phone",))
    _set_password(app, user_id)
    assert [i.provider for i in identities(app, user_id)] == ["phone"]


def test_the_setting_is_read_from_gotrue_s_variable():
    assert load().security.create_email_identity_on_password_set is False
    assert load(GOTRUE_EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED="true"
                ).security.create_email_identity_on_password_set
