"""POST /admin/generate_link (contract section 3, Admin): every link type, nothing sent."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry, MailLogEntry, OneTimeToken, User

from ..conftest import ApiClient, make_jwt, table_rows

SITE = "http://localhost:3000"
LINK_KEYS = ("action_link", "email_otp", "hashed_token", "verification_type", "redirect_to")
USER_KEYS = ("id", "aud", "role", "email", "phone", "app_metadata", "user_metadata",
             "identities", "created_at", "updated_at", "is_anonymous")


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(**{"smtp.host": "127.0.0.1", "smtp.port": smtp_server.port,
                       "smtp.admin_email": "auth@example.com", "mailer.autoconfirm": False,
                       "uri_allow_list": ("https://app.example.com/**",)})


@pytest.fixture
def admin(mail_app, service_role_token) -> ApiClient:
    return ApiClient(mail_app.test_client(), service_role_token)


@pytest.fixture(autouse=True)
def nothing_is_sent(make_app, smtp_server, request):
    """Every test here ends with an empty SMTP sink and mail log: generate_link sends nothing."""
    app = request.getfixturevalue("mail_app") if "mail_app" in request.fixturenames else None
    yield
    assert smtp_server.messages == []
    if app is not None:
        assert table_rows(app, sa.select(MailLogEntry.id)) == []


def _sha224(text: str) -> str:
    return hashlib.sha224(text.encode()).hexdigest()


def _generate(admin: ApiClient, type_: str, email: str, **body):
    return admin.admin("POST", "/admin/generate_link", json={"type": type_, "email": email,
                                                             **body})


def _user_row(app, email: str) -> User | None:
    rows = table_rows(app, sa.select(User).where(User.email == email))
    return rows[0][0] if rows else None


def _otts(app, user_id) -> dict:
    return {row.token_type.value: (row.token_hash, row.relates_to) for (row,) in table_rows(
        app, sa.select(OneTimeToken).where(OneTimeToken.user_id == uuid.UUID(str(user_id))))}


def _query(link: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def _fragment(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment,
                                          keep_blank_values=True).items()}


def _confirmed_user(admin: ApiClient, email: str, password: str = "password-123") -> dict:
    response = admin.admin("POST", "/admin/users", json={"email": email, "password": password,
                                                         "email_confirm": True})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _check_link_shape(body: dict, email: str, verification_type: str, redirect_to: str = SITE):
    for key in USER_KEYS + LINK_KEYS:
        assert key in body, key
    assert "user" not in body, "the user fields are flat"
    assert body["verification_type"] == verification_type
    assert body["redirect_to"] == redirect_to
    assert body["email_otp"].isdigit() and len(body["email_otp"]) == 6
    assert body["hashed_token"] == _sha224(email + body["email_otp"])
    query = _query(body["action_link"])
    assert body["action_link"].startswith("http://localhost:9999/verify?")
    assert query["redirect_to"] == redirect_to


# --- auth and bad input -----------------------------------------------------------------------


def test_generate_link_needs_an_admin(admin, mail_app):
    assert admin.post("/admin/generate_link",
                      json={"type": "signup", "email": "a@example.com"}).status_code == 401
    token = make_jwt({"sub": str(uuid.uuid4()), "role": "authenticated",
                      "aud": "authenticated", "exp": 4102444800})
    response = admin.post("/admin/generate_link", token=token,
                          json={"type": "invite", "email": "a@example.com"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "not_admin"
    assert table_rows(mail_app, sa.select(User.id)) == []


@pytest.mark.parametrize("body", [
    {"type": "bogus", "email": "a@example.com"},
    {"type": "", "email": "a@example.com"},
    {"type": "signup", "email": "not-an-email", "password": "password-123"},
    {"type": "signup", "password": "password-123"},
])
def test_bad_type_or_email_is_400(admin, mail_app, body):
    response = admin.admin("POST", "/admin/generate_link", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert table_rows(mail_app, sa.select(User.id)) == []


# --- signup -----------------------------------------------------------------------------------


def test_signup_link_creates_the_user_and_confirms_through_get_verify(admin, mail_app):
    response = _generate(admin, "signup", "Fresh@Example.com", password="signup-pass-1",
                         data={"plan": "gold"}, redirect_to="https://app.example.com/done")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "fresh@example.com", "signup", "https://app.example.com/done")
    assert body["email"] == "fresh@example.com"
    assert body["user_metadata"]["plan"] == "gold"
    assert _query(body["action_link"])["type"] == "signup"
    assert _query(body["action_link"])["token"] == body["hashed_token"]
    row = _user_row(mail_app, "fresh@example.com")
    assert str(row.id) == body["id"]
    assert row.email_confirmed_at is None
    assert row.confirmation_token == body["hashed_token"]
    assert _otts(mail_app, row.id) == {
        "confirmation_token": (body["hashed_token"], "fresh@example.com")}
    assert admin.login("fresh@example.com", "signup-pass-1").get_json()["code"] == \
        "email_not_confirmed"

    verified = admin.get(body["action_link"])
    assert verified.status_code == 303
    location = verified.headers["Location"]
    assert location.startswith("https://app.example.com/done#")
    assert _fragment(location)["type"] == "signup"
    assert _user_row(mail_app, "fresh@example.com").email_confirmed_at is not None
    assert admin.login("fresh@example.com", "signup-pass-1").status_code == 200


def test_signup_link_code_works_with_post_verify(admin, mail_app):
    body = _generate(admin, "signup", "code@example.com", password="signup-pass-1").get_json()
    response = admin.post("/verify", json={"type": "signup", "email": "code@example.com",
                                           "token": body["email_otp"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["id"] == body["id"]
    assert _user_row(mail_app, "code@example.com").email_confirmed_at is not None


def test_signup_link_with_a_weak_password_is_422(make_app, service_role_token, smtp_server):
    app = make_app(**{"password.min_length": 10})
    admin = ApiClient(app.test_client(), service_role_token)
    response = _generate(admin, "signup", "weak@example.com", password="short")
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "weak_password"
    assert body["weak_password"]["reasons"] == ["length"]
    assert table_rows(app, sa.select(User.id)) == []


def test_signup_link_for_a_new_user_needs_a_password(admin, mail_app):
    response = _generate(admin, "signup", "nopass@example.com")
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert table_rows(mail_app, sa.select(User.id)) == []


def test_signup_link_for_an_existing_unconfirmed_user(admin, mail_app):
    first = _generate(admin, "signup", "again@example.com", password="first-pass-1",
                      data={"a": 1}).get_json()
    second = _generate(admin, "signup", "again@example.com", password="ignored-pass-2",
                       data={"b": 2})
    assert second.status_code == 200, second.get_data(as_text=True)
    body = second.get_json()
    assert body["id"] == first["id"]
    assert body["user_metadata"]["a"] == 1 and body["user_metadata"]["b"] == 2
    assert body["hashed_token"] != first["hashed_token"]
    row = _user_row(mail_app, "again@example.com")
    assert row.confirmation_token == body["hashed_token"]
    assert _otts(mail_app, row.id)["confirmation_token"][0] == body["hashed_token"]
    # The first link is replaced; the password stays the first one.
    stale = admin.get(first["action_link"])
    assert _fragment(stale.headers["Location"])["error_code"] == "otp_expired"
    assert "access_token" in _fragment(admin.get(body["action_link"]).headers["Location"])
    assert admin.login("again@example.com", "ignored-pass-2").status_code == 400
    assert admin.login("again@example.com", "first-pass-1").status_code == 200


@pytest.mark.parametrize("link_type", ["signup", "invite"])
def test_confirmed_address_on_signup_or_invite_is_422(admin, mail_app, link_type):
    _confirmed_user(admin, "taken@example.com")
    response = _generate(admin, link_type, "taken@example.com", password="password-123")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    row = _user_row(mail_app, "taken@example.com")
    assert row.confirmation_token == "" and row.invited_at is None


# --- invite -----------------------------------------------------------------------------------


def test_invite_link(admin, mail_app):
    response = _generate(admin, "invite", "guest@example.com", data={"team": "blue"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "guest@example.com", "invite")
    assert "invited_at" in body and body["user_metadata"]["team"] == "blue"
    assert _query(body["action_link"])["type"] == "invite"
    row = _user_row(mail_app, "guest@example.com")
    assert row.encrypted_password == "" and row.invited_at is not None
    assert row.confirmation_token == body["hashed_token"]
    assert _otts(mail_app, row.id) == {
        "confirmation_token": (body["hashed_token"], "guest@example.com")}
    actions = [p["action"] for (p,) in table_rows(mail_app, sa.select(AuditLogEntry.payload))]
    assert "user_invited" in actions

    verified = admin.get(body["action_link"])
    fragment = _fragment(verified.headers["Location"])
    assert fragment["type"] == "invite"
    assert admin.put("/user", token=fragment["access_token"],
                     json={"password": "guest-pass-1"}).status_code == 200
    assert admin.login("guest@example.com", "guest-pass-1").status_code == 200


def test_invite_link_code_works_with_post_verify(admin, mail_app):
    body = _generate(admin, "invite", "guest2@example.com").get_json()
    response = admin.post("/verify", json={"type": "invite", "email": "guest2@example.com",
                                           "token": body["email_otp"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _user_row(mail_app, "guest2@example.com").email_confirmed_at is not None


# --- magic link and recovery ------------------------------------------------------------------


def test_magiclink_for_an_existing_user(admin, mail_app):
    user = _confirmed_user(admin, "magic@example.com")
    response = _generate(admin, "magiclink", "magic@example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "magic@example.com", "magiclink")
    assert body["id"] == user["id"]
    assert _query(body["action_link"])["type"] == "magiclink"
    row = _user_row(mail_app, "magic@example.com")
    assert row.recovery_token == body["hashed_token"] and row.recovery_sent_at is not None
    assert _otts(mail_app, row.id) == {
        "recovery_token": (body["hashed_token"], "magic@example.com")}

    response = admin.post("/verify", json={"type": "magiclink", "email": "magic@example.com",
                                           "token": body["email_otp"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["id"] == user["id"]
    assert _otts(mail_app, row.id) == {}


def test_magiclink_for_an_unknown_email_becomes_a_signup(admin, mail_app):
    response = _generate(admin, "magiclink", "stranger@example.com", password="not-used-1")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "stranger@example.com", "signup")
    assert _query(body["action_link"])["type"] == "signup"
    row = _user_row(mail_app, "stranger@example.com")
    assert row.encrypted_password and row.email_confirmed_at is None
    assert row.confirmation_token == body["hashed_token"] and row.recovery_token == ""
    verified = admin.get(body["action_link"])
    assert "access_token" in _fragment(verified.headers["Location"])
    assert _user_row(mail_app, "stranger@example.com").email_confirmed_at is not None
    # The generated password is nobody's, not the one in the body.
    assert admin.login("stranger@example.com", "not-used-1").status_code == 400


def test_recovery_link(admin, mail_app):
    user = _confirmed_user(admin, "forgot@example.com", "old-password-1")
    response = _generate(admin, "recovery", "forgot@example.com",
                         redirect_to="https://app.example.com/reset")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "forgot@example.com", "recovery", "https://app.example.com/reset")
    assert _query(body["action_link"])["type"] == "recovery"
    row = _user_row(mail_app, "forgot@example.com")
    assert row.recovery_token == body["hashed_token"]
    actions = [p["action"] for (p,) in table_rows(mail_app, sa.select(AuditLogEntry.payload))]
    assert "user_recovery_requested" in actions

    verified = admin.get(body["action_link"])
    location = verified.headers["Location"]
    assert location.startswith("https://app.example.com/reset#")
    fragment = _fragment(location)
    assert fragment["type"] == "recovery"
    assert admin.put("/user", token=fragment["access_token"],
                     json={"password": "new-password-2"}).get_json()["id"] == user["id"]
    assert admin.login("forgot@example.com", "new-password-2").status_code == 200


def test_recovery_code_works_with_post_verify_token_hash(admin, mail_app):
    _confirmed_user(admin, "hash@example.com")
    body = _generate(admin, "recovery", "hash@example.com").get_json()
    response = admin.post("/verify", json={"type": "recovery",
                                           "token_hash": body["hashed_token"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == "hash@example.com"


@pytest.mark.parametrize("link_type", ["recovery", "email_change_current", "email_change_new"])
def test_unknown_email_is_404_for_recovery_and_email_change(admin, mail_app, link_type):
    response = _generate(admin, link_type, "ghost@example.com", new_email="new@example.com")
    assert response.status_code == 404
    assert response.get_json()["code"] == "user_not_found"
    assert table_rows(mail_app, sa.select(User.id)) == []


# --- email change -----------------------------------------------------------------------------


def test_email_change_links_apply_the_change_once_both_are_followed(admin, mail_app):
    user = _confirmed_user(admin, "current@example.com", "password-123")
    current = _generate(admin, "email_change_current", "current@example.com",
                        new_email="Next@Example.com")
    assert current.status_code == 200, current.get_data(as_text=True)
    current = current.get_json()
    _check_link_shape(current, "current@example.com", "email_change_current")
    assert current["new_email"] == "next@example.com" and "email_change_sent_at" in current
    assert _query(current["action_link"])["type"] == "email_change"

    new = _generate(admin, "email_change_new", "current@example.com",
                    new_email="next@example.com").get_json()
    assert new["verification_type"] == "email_change_new"
    # The new address's token is made with the new address, so that the hash verifies.
    assert new["hashed_token"] == _sha224("next@example.com" + new["email_otp"])
    row = _user_row(mail_app, "current@example.com")
    assert row.email_change == "next@example.com"
    assert row.email_change_confirm_status == 0
    assert row.email_change_token_current == current["hashed_token"]
    assert row.email_change_token_new == new["hashed_token"]
    assert _otts(mail_app, row.id) == {
        "email_change_token_current": (current["hashed_token"], "current@example.com"),
        "email_change_token_new": (new["hashed_token"], "next@example.com")}

    half = admin.get(current["action_link"])
    assert half.status_code == 303
    assert _fragment(half.headers["Location"])["message"].startswith(
        "Confirmation link accepted")
    assert _user_row(mail_app, "current@example.com").email_change_confirm_status == 1

    done = admin.post("/verify", json={"type": "email_change", "email": "next@example.com",
                                       "token": new["email_otp"]})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["user"]["email"] == "next@example.com"
    row = _user_row(mail_app, "next@example.com")
    assert str(row.id) == user["id"] and row.email_change == ""
    assert _otts(mail_app, row.id) == {}
    assert admin.login("next@example.com").status_code == 200
    assert admin.login("current@example.com").status_code == 400


def test_email_change_new_hash_works_with_post_verify(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": False,
                      "mailer.secure_email_change_enabled": False})
    admin = ApiClient(app.test_client(), service_role_token)
    _confirmed_user(admin, "plain@example.com")
    body = _generate(admin, "email_change_new", "plain@example.com",
                     new_email="moved@example.com").get_json()
    response = admin.post("/verify", json={"type": "email_change",
                                           "token_hash": body["hashed_token"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == "moved@example.com"
    assert _user_row(app, "moved@example.com") is not None


def test_email_change_current_needs_secure_email_change(make_app, service_role_token):
    app = make_app(**{"mailer.secure_email_change_enabled": False})
    admin = ApiClient(app.test_client(), service_role_token)
    _confirmed_user(admin, "insecure@example.com")
    response = _generate(admin, "email_change_current", "insecure@example.com",
                         new_email="other@example.com")
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert _user_row(app, "insecure@example.com").email_change == ""


@pytest.mark.parametrize("link_type", ["email_change_current", "email_change_new"])
def test_email_change_to_a_taken_address_is_422(admin, mail_app, link_type):
    _confirmed_user(admin, "mover@example.com")
    _confirmed_user(admin, "occupied@example.com")
    response = _generate(admin, link_type, "mover@example.com", new_email="OCCUPIED@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    row = _user_row(mail_app, "mover@example.com")
    assert row.email_change == "" and row.email_change_token_new == ""
    assert row.email_change_token_current == ""


@pytest.mark.parametrize("new_email", [None, "", "not-an-email"])
def test_email_change_without_a_valid_new_email_is_400(admin, mail_app, new_email):
    _confirmed_user(admin, "stay@example.com")
    body = {} if new_email is None else {"new_email": new_email}
    response = _generate(admin, "email_change_new", "stay@example.com", **body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert _user_row(mail_app, "stay@example.com").email_change == ""


def test_a_different_new_email_drops_the_other_half(admin, mail_app):
    _confirmed_user(admin, "switch@example.com")
    first = _generate(admin, "email_change_current", "switch@example.com",
                      new_email="first@example.com").get_json()
    second = _generate(admin, "email_change_new", "switch@example.com",
                       new_email="second@example.com").get_json()
    row = _user_row(mail_app, "switch@example.com")
    assert row.email_change == "second@example.com"
    assert row.email_change_token_current == ""
    assert set(_otts(mail_app, row.id)) == {"email_change_token_new"}
    # The link made for first@ cannot confirm the move to second@.
    stale = admin.get(first["action_link"])
    assert _fragment(stale.headers["Location"])["error_code"] == "otp_expired"
    assert second["new_email"] == "second@example.com"


# --- redirect_to ------------------------------------------------------------------------------


def test_redirect_to_outside_the_allow_list_becomes_the_site_url(admin, mail_app):
    body = _generate(admin, "signup", "redir@example.com", password="password-123",
                     redirect_to="https://evil.example.net/").get_json()
    assert body["redirect_to"] == SITE
    assert _query(body["action_link"])["redirect_to"] == SITE
    location = admin.get(body["action_link"]).headers["Location"]
    assert location.startswith(SITE + "#")


def test_redirect_to_from_the_query_string_is_used_without_a_body_value(admin, mail_app):
    response = admin.admin("POST",
                           "/admin/generate_link?redirect_to=https://app.example.com/q",
                           json={"type": "invite", "email": "query@example.com"})
    body = response.get_json()
    assert body["redirect_to"] == "https://app.example.com/q"
    assert _query(body["action_link"])["redirect_to"] == "https://app.example.com/q"


def test_generate_link_ignores_disable_signup(make_app, service_role_token):
    app = make_app(**{"disable_signup": True})
    admin = ApiClient(app.test_client(), service_role_token)
    response = _generate(admin, "signup", "admin-made@example.com", password="password-123")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _user_row(app, "admin-made@example.com") is not None
