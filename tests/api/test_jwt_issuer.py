"""GOTRUE_JWT_ISSUER is enforced on user routes (issue: abuse defences, finding 7).

Before this defence a token whose iss named another service sharing the secret was accepted as
a session of this server. Admin routes keep accepting Supabase's service_role keys, whose iss is
"supabase" whatever the server's issuer.
"""

from __future__ import annotations

import pytest

from ..conftest import api_for, make_jwt
from ..factories import claims

ISSUER = "https://auth.example.com/auth/v1"
INVALID_ISSUER = {"code": "bad_jwt",
                  "message": "invalid JWT: unable to parse or verify signature, token has "
                             "invalid issuer"}


@pytest.fixture
def issuing_api(make_app, service_role_token):
    return api_for(make_app(**{"mailer.autoconfirm": True, "jwt.issuer": ISSUER}),
                   service_role_token)


def _with_iss(access_token: str, iss: str | None) -> str:
    """The same session's claims, re-signed with another iss (None: no iss at all)."""
    changed = {key: value for key, value in claims(access_token).items() if key != "iss"}
    if iss is not None:
        changed["iss"] = iss
    return make_jwt(changed)


def test_own_tokens_are_accepted(issuing_api):
    session = issuing_api.session("own@example.com")
    assert claims(session["access_token"])["iss"] == ISSUER
    assert issuing_api.get("/user", token=session["access_token"]).status_code == 200


@pytest.mark.parametrize("iss", ["supabase", ISSUER + "/", "", None])
def test_a_token_of_another_issuer_is_refused_on_user_routes(issuing_api, iss):
    session = issuing_api.session()
    forged = _with_iss(session["access_token"], iss)
    for method, path in (("GET", "/user"), ("PUT", "/user"), ("POST", "/logout")):
        response = issuing_api.request(method, path, token=forged, json={})
        assert response.status_code == 403, (method, path)
        assert response.get_json() == INVALID_ISSUER
    # Nothing was done with it: the session is still there.
    assert issuing_api.refresh(session["refresh_token"]).status_code == 200


def test_admin_routes_accept_supabase_service_role_keys(issuing_api, service_role_token):
    assert claims(service_role_token)["iss"] == "supabase"
    assert issuing_api.admin("GET", "/admin/users").status_code == 200


def test_without_a_configured_issuer_any_iss_is_accepted(make_app):
    # GoTrue's behaviour when GOTRUE_JWT_ISSUER is unset.
    api = api_for(make_app(**{"mailer.autoconfirm": True}))
    session = api.session()
    assert api.get("/user", token=_with_iss(session["access_token"], "elsewhere")
                   ).status_code == 200
