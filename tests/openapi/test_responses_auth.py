"""Real answers of the public and user routes match the OpenAPI document: sign-up, the token
grants, the user, verification and codes, MFA, OAuth redirects and GoTrue's errors, in both
error shapes and under both prefixes."""

from __future__ import annotations

import uuid

import pyotp
import pytest

from gotrue_web import API_PREFIX

from ..conftest import ApiClient, api_for, make_jwt
from .conformance import schema_errors
from .support import checked, error_code


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


@pytest.mark.parametrize("prefix", ["", API_PREFIX])
@pytest.mark.parametrize("path", ["/health", "/ready", "/settings", "/.well-known/jwks.json"])
def test_meta_routes(client, service_role_token, prefix, path):
    checked(ApiClient(client, service_role_token, prefix), "GET", path, 200)


def test_sign_up_sign_in_refresh_read_update_and_log_out(api):
    email = _email()
    session = checked(api, "POST", "/signup", 200,
                      json={"email": email, "password": "password-123"}).get_json()
    assert session["user"]["email"] == email
    signed_in = checked(api, "POST", "/token?grant_type=password", 200,
                        json={"email": email, "password": "password-123"}).get_json()
    # The password grant always reports weak_password (null when the password passes).
    assert "weak_password" in signed_in
    refreshed = checked(api, "POST", "/token?grant_type=refresh_token", 200,
                        json={"refresh_token": signed_in["refresh_token"]}).get_json()
    token = refreshed["access_token"]
    checked(api, "GET", "/user", 200, token=token)
    updated = checked(api, "PUT", "/user", 200, token=token,
                      json={"data": {"full_name": "Ada"}}).get_json()
    assert updated["user_metadata"]["full_name"] == "Ada"
    checked(api, "POST", "/logout", 204, token=token)
    checked(api, "GET", "/user", 403, "session_not_found", token=token)


def test_the_same_answers_under_the_prefix(client, service_role_token):
    api = ApiClient(client, service_role_token, API_PREFIX)
    session = checked(api, "POST", "/signup", 200,
                      json={"email": _email(), "password": "password-123"}).get_json()
    checked(api, "GET", "/user", 200, token=session["access_token"])
    checked(api, "GET", "/user", 401, "no_authorization")


def test_anonymous_sign_in(make_app, service_role_token):
    api = api_for(make_app(**{"external.anonymous_users_enabled": True}), service_role_token)
    session = checked(api, "POST", "/signup", 200, json={}).get_json()
    assert session["user"]["is_anonymous"] is True


def test_email_flows_without_autoconfirm(mail_api):
    email = _email()
    user = checked(mail_api, "POST", "/signup", 200,
                   json={"email": email, "password": "password-123"}).get_json()
    assert "access_token" not in user and user["email"] == email
    checked(mail_api, "POST", "/token?grant_type=password", 400, "email_not_confirmed",
            json={"email": email, "password": "password-123"})
    # The confirmation just went out: resending it this soon is refused.
    checked(mail_api, "POST", "/resend", 429, "over_email_send_rate_limit",
            json={"type": "signup", "email": email})
    checked(mail_api, "POST", "/resend", 200, json={"type": "signup", "email": _email()})
    checked(mail_api, "POST", "/recover", 200, json={"email": _email()})
    checked(mail_api, "POST", "/otp", 200, json={"email": _email()})
    checked(mail_api, "POST", "/magiclink", 200, json={"email": _email()})
    checked(mail_api, "POST", "/verify", 403, "otp_expired",
            json={"type": "signup", "email": email, "token": "123456"})
    expired = checked(mail_api, "GET", "/verify?type=signup&token=not-a-token", 303)
    assert "error_code=otp_expired" in expired.headers["Location"]
    checked(mail_api, "GET", "/verify?token=x", 400, "validation_failed")


def test_reauthenticate_sends_a_code(mail_api):
    email = _email()
    checked(mail_api, "POST", "/admin/users", 200, token=mail_api.service_role_token,
            json={"email": email, "password": "password-123", "email_confirm": True})
    session = checked(mail_api, "POST", "/token?grant_type=password", 200,
                      json={"email": email, "password": "password-123"}).get_json()
    assert checked(mail_api, "GET", "/reauthenticate", 200,
                   token=session["access_token"]).get_json() == {}


def test_totp_factor_enrol_challenge_verify_and_unenrol(api):
    token = api.session()["access_token"]
    factor = checked(api, "POST", "/factors", 200, token=token,
                     json={"factor_type": "totp", "friendly_name": "phone app"}).get_json()
    path = f"/factors/{factor['id']}"
    challenge = checked(api, "POST", path + "/challenge", 200, token=token).get_json()
    checked(api, "POST", path + "/verify", 422, "mfa_verification_failed", token=token,
            json={"challenge_id": challenge["id"], "code": "000000"})
    challenge = checked(api, "POST", path + "/challenge", 200, token=token).get_json()
    session = checked(api, "POST", path + "/verify", 200, token=token, json={
        "challenge_id": challenge["id"],
        "code": pyotp.TOTP(factor["totp"]["secret"]).now()}).get_json()
    # The verified factor now appears on the user.
    user = checked(api, "GET", "/user", 200, token=session["access_token"]).get_json()
    assert [f["status"] for f in user["factors"]] == ["verified"]
    checked(api, "DELETE", path, 200, token=session["access_token"])
    checked(api, "POST", path + "/challenge", 404, "mfa_factor_not_found",
            token=session["access_token"])


def test_oauth_routes_redirect_or_refuse(api):
    checked(api, "GET", "/authorize?provider=github", 400, "validation_failed")
    missing_state = checked(api, "GET", "/callback", 303)
    assert "error_code=bad_oauth_callback" in missing_state.headers["Location"]
    checked(api, "POST", "/callback", 303, data={"state": "not-a-uuid"})
    token = api.session()["access_token"]
    checked(api, "GET", "/user/identities/authorize?provider=github", 404,
            "manual_linking_disabled", token=token)
    checked(api, "DELETE", f"/user/identities/{uuid.uuid4()}", 404,
            "manual_linking_disabled", token=token)


BAD_SIGNATURE = make_jwt({"sub": str(uuid.uuid4()), "role": "authenticated"}, secret="x" * 40)

ERRORS = [
    # (method, path, request keywords, status, error code)
    ("POST", "/signup", {"json": {}}, 422, "anonymous_provider_disabled"),
    ("POST", "/signup", {"data": "not json"}, 400, "bad_json"),
    ("POST", "/signup", {"json": {"email": "a@example.com", "password": ""}}, 400,
     "validation_failed"),
    ("POST", "/token?grant_type=nope", {"json": {}}, 400, "invalid_credentials"),
    ("POST", "/token?grant_type=password",
     {"json": {"email": "nobody@example.com", "password": "password-123"}}, 400,
     "invalid_credentials"),
    ("POST", "/token?grant_type=refresh_token", {"json": {"refresh_token": "unknown"}}, 400,
     "validation_failed"),
    ("POST", "/token?grant_type=pkce",
     {"json": {"auth_code": str(uuid.uuid4()), "code_verifier": "v" * 43}}, 404,
     "flow_state_not_found"),
    ("GET", "/user", {}, 401, "no_authorization"),
    ("GET", "/user", {"token": "not-a-jwt"}, 403, "bad_jwt"),
    ("PUT", "/user", {"token": BAD_SIGNATURE, "json": {}}, 403, "bad_jwt"),
    ("POST", "/logout?scope=everywhere", {"token": BAD_SIGNATURE}, 403, "bad_jwt"),
    ("POST", "/factors", {}, 401, "no_authorization"),
    ("POST", "/verify", {"json": {"type": "signup", "token": "1", "token_hash": "2"}}, 400,
     "validation_failed"),
    ("POST", "/otp", {"json": {"email": "a@example.com", "phone": "15550001111"}}, 400,
     "validation_failed"),
    ("POST", "/magiclink", {"json": {}}, 422, "validation_failed"),
]


@pytest.mark.parametrize("method, path, kwargs, status, code", ERRORS)
@pytest.mark.parametrize("api_version", ["2024-01-01", None])
def test_errors_in_both_shapes(api, method, path, kwargs, status, code, api_version):
    headers = {"X-Supabase-Api-Version": api_version} if api_version else {
        "X-Supabase-Api-Version": ""}
    response = checked(api, method, path, status, code, headers=headers, **kwargs)
    body = response.get_json()
    assert ("message" in body) == (api_version is not None)
    assert response.headers["x-sb-error-code"] == code


def test_id_token_grant_errors_in_the_oauth_shape(api):
    response = checked(api, "POST", "/token?grant_type=id_token", 400, json={})
    assert response.get_json() == {"error": "invalid request",
                                   "error_description": "id_token required"}


def test_weak_password_and_existing_user(make_app, service_role_token):
    api = api_for(make_app(**{"mailer.autoconfirm": True, "password.min_length": 10}),
                  service_role_token)
    weak = checked(api, "POST", "/signup", 422, "weak_password",
                   json={"email": _email(), "password": "short-1"})
    assert weak.get_json()["weak_password"] == {"reasons": ["length"]}
    email = _email()
    checked(api, "POST", "/signup", 200, json={"email": email, "password": "long-password-1"})
    checked(api, "POST", "/signup", 422, "user_already_exists",
            json={"email": email, "password": "long-password-1"})


def test_rate_limited_answers(make_app, service_role_token):
    api = api_for(make_app(**{"rate_limit.verify": 1}), service_role_token)
    body = {"type": "signup", "email": _email(), "token": "123456"}
    checked(api, "POST", "/verify", 403, "otp_expired", json=body)
    limited = checked(api, "POST", "/verify", 429, "over_request_rate_limit", json=body)
    assert int(limited.headers["Retry-After"]) >= 1


def test_routing_errors_are_gotrue_errors(api):
    """Paths and methods the API does not serve are not in the document; their answers are
    still the document's Error."""
    for method, path, status, code in (("GET", "/no-such-route", 404, "not_found"),
                                       ("GET", "/signup", 405, "method_not_allowed")):
        response = api.request(method, path)
        assert response.status_code == status
        assert error_code(response) == code
        assert schema_errors("/components/schemas/Error", response.get_json()) == []
