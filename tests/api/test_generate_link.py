"""POST /admin/generate_link (contract section 3, Admin): every link type, nothing sent."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry, MailLogEntry, User

from ..conftest import ApiClient, api_for, make_jwt, table_rows
from ..factories import (
    create_user,
    fragment,
    gotrue_hash,
    link_hash,
    query,
    token_hash,
    token_hashes,
    user_row,
)

SITE = "http://localhost:3000"
LINK_KEYS = ("action_link", "email_otp", "hashed_token", "verification_type", "redirect_to")
USER_KEYS = ("id", "aud", "role", "email", "phone", "app_metadata", "user_metadata",
             "identities", "created_at", "updated_at", "is_anonymous")


@pytest.fixture
def mail_app(make_mail_app):
    return make_mail_app(uri_allow_list=("https://app.example.com/**",))


@pytest.fixture(autouse=True)
def nothing_is_sent(make_app, smtp_server, request):
    """Every test here ends with an empty SMTP sink and mail log: generate_link sends nothing."""
    app = request.getfixturevalue("mail_app") if "mail_app" in request.fixturenames else None
    yield
    assert smtp_server.messages == []
    if app is not None:
        assert table_rows(app, sa.select(MailLogEntry.id)) == []


def _generate(api: ApiClient, type_: str, email: str, **body):
    return api.admin("POST", "/admin/generate_link", json={"type": type_, "email": email,
                                                           **body})


def _check_link_shape(body: dict, email: str, verification_type: str, redirect_to: str = SITE):
    for key in USER_KEYS + LINK_KEYS:
        assert key in body, key
    assert "user" not in body, "the user fields are flat"
    assert body["verification_type"] == verification_type
    assert body["redirect_to"] == redirect_to
    assert body["email_otp"].isdigit() and len(body["email_otp"]) == 6
    # Its own random secret, which the code does not give; the link carries it.
    assert len(body["hashed_token"]) == 56
    assert body["hashed_token"] != gotrue_hash(email, body["email_otp"])
    assert query(body["action_link"])["token"] == body["hashed_token"]
    assert body["action_link"].startswith("http://localhost:9999/verify?")
    assert query(body["action_link"])["redirect_to"] == redirect_to


# --- auth and bad input -----------------------------------------------------------------------


def test_generate_link_needs_an_admin(mail_api, mail_app):
    assert mail_api.post("/admin/generate_link",
                         json={"type": "signup", "email": "a@example.com"}).status_code == 401
    token = make_jwt({"sub": str(uuid.uuid4()), "role": "authenticated",
                      "aud": "authenticated", "exp": 4102444800})
    response = mail_api.post("/admin/generate_link", token=token,
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
def test_bad_type_or_email_is_400(mail_api, mail_app, body):
    response = mail_api.admin("POST", "/admin/generate_link", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert table_rows(mail_app, sa.select(User.id)) == []


# --- signup -----------------------------------------------------------------------------------


def test_signup_link_creates_the_user_and_confirms_through_get_verify(mail_api, mail_app):
    response = _generate(mail_api, "signup", "Fresh@Example.com", password="signup-pass-1",
                         data={"plan": "gold"}, redirect_to="https://app.example.com/done")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "fresh@example.com", "signup", "https://app.example.com/done")
    assert body["email"] == "fresh@example.com"
    assert body["user_metadata"]["plan"] == "gold"
    assert query(body["action_link"])["type"] == "signup"
    assert query(body["action_link"])["token"] == body["hashed_token"]
    row = user_row(mail_app, "fresh@example.com")
    assert str(row.id) == body["id"]
    assert row.email_confirmed_at is None
    assert row.confirmation_token == token_hash("fresh@example.com", body["email_otp"])
    assert token_hashes(mail_app, row.id) == {
        "confirmation_token": (link_hash(body["hashed_token"]), "fresh@example.com")}
    assert mail_api.login("fresh@example.com", "signup-pass-1").get_json()["code"] == \
        "email_not_confirmed"

    verified = mail_api.get(body["action_link"])
    assert verified.status_code == 303
    location = verified.headers["Location"]
    assert location.startswith("https://app.example.com/done#")
    assert fragment(location)["type"] == "signup"
    assert user_row(mail_app, "fresh@example.com").email_confirmed_at is not None
    assert mail_api.login("fresh@example.com", "signup-pass-1").status_code == 200


def test_signup_link_code_works_with_post_verify(mail_api, mail_app):
    body = _generate(mail_api, "signup", "code@example.com", password="signup-pass-1").get_json()
    response = mail_api.post("/verify", json={"type": "signup", "email": "code@example.com",
                                              "token": body["email_otp"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["id"] == body["id"]
    assert user_row(mail_app, "code@example.com").email_confirmed_at is not None


def test_signup_link_with_a_weak_password_is_422(make_app, service_role_token, smtp_server):
    app = make_app(**{"password.min_length": 10})
    api = api_for(app, service_role_token)
    response = _generate(api, "signup", "weak@example.com", password="short")
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "weak_password"
    assert body["weak_password"]["reasons"] == ["length"]
    assert table_rows(app, sa.select(User.id)) == []


def test_signup_link_for_a_new_user_needs_a_password(mail_api, mail_app):
    response = _generate(mail_api, "signup", "nopass@example.com")
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert table_rows(mail_app, sa.select(User.id)) == []


def test_signup_link_for_an_existing_unconfirmed_user(mail_api, mail_app):
    first = _generate(mail_api, "signup", "again@example.com", password="first-pass-1",
                      data={"a": 1}).get_json()
    second = _generate(mail_api, "signup", "again@example.com", password="ignored-pass-2",
                       data={"b": 2})
    assert second.status_code == 200, second.get_data(as_text=True)
    body = second.get_json()
    assert body["id"] == first["id"]
    assert body["user_metadata"]["a"] == 1 and body["user_metadata"]["b"] == 2
    assert body["hashed_token"] != first["hashed_token"]
    row = user_row(mail_app, "again@example.com")
    assert row.confirmation_token == token_hash("again@example.com", body["email_otp"])
    assert token_hashes(mail_app, row.id)["confirmation_token"][0] == \
        link_hash(body["hashed_token"])
    # The first link is replaced; the password stays the first one.
    stale = mail_api.get(first["action_link"])
    assert fragment(stale.headers["Location"])["error_code"] == "otp_expired"
    assert "access_token" in fragment(mail_api.get(body["action_link"]).headers["Location"])
    assert mail_api.login("again@example.com", "ignored-pass-2").status_code == 400
    assert mail_api.login("again@example.com", "first-pass-1").status_code == 200


@pytest.mark.parametrize("link_type", ["signup", "invite"])
def test_confirmed_address_on_signup_or_invite_is_422(mail_api, mail_app, link_type):
    create_user(mail_api, "taken@example.com", password="password-123")
    response = _generate(mail_api, link_type, "taken@example.com", password="password-123")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    row = user_row(mail_app, "taken@example.com")
    assert row.confirmation_token == "" and row.invited_at is None


# --- invite -----------------------------------------------------------------------------------


def test_invite_link(mail_api, mail_app):
    response = _generate(mail_api, "invite", "guest@example.com", data={"team": "blue"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "guest@example.com", "invite")
    assert "invited_at" in body and body["user_metadata"]["team"] == "blue"
    assert query(body["action_link"])["type"] == "invite"
    row = user_row(mail_app, "guest@example.com")
    assert row.encrypted_password == "" and row.invited_at is not None
    assert row.confirmation_token == token_hash("guest@example.com", body["email_otp"])
    assert token_hashes(mail_app, row.id) == {
        "confirmation_token": (link_hash(body["hashed_token"]), "guest@example.com")}
    actions = [p["action"] for (p,) in table_rows(mail_app, sa.select(AuditLogEntry.payload))]
    assert "user_invited" in actions

    verified = mail_api.get(body["action_link"])
    values = fragment(verified.headers["Location"])
    assert values["type"] == "invite"
    assert mail_api.put("/user", token=values["access_token"],
                        json={"password": "guest-pass-1"}).status_code == 200
    assert mail_api.login("guest@example.com", "guest-pass-1").status_code == 200


def test_invite_link_code_works_with_post_verify(mail_api, mail_app):
    body = _generate(mail_api, "invite", "guest2@example.com").get_json()
    response = mail_api.post("/verify", json={"type": "invite", "email": "guest2@example.com",
                                              "token": body["email_otp"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user_row(mail_app, "guest2@example.com").email_confirmed_at is not None


# --- magic link and recovery ------------------------------------------------------------------


def test_magiclink_for_an_existing_user(mail_api, mail_app):
    user = create_user(mail_api, "magic@example.com", password="password-123")
    response = _generate(mail_api, "magiclink", "magic@example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "magic@example.com", "magiclink")
    assert body["id"] == user["id"]
    assert query(body["action_link"])["type"] == "magiclink"
    row = user_row(mail_app, "magic@example.com")
    assert row.recovery_token == token_hash("magic@example.com", body["email_otp"])
    assert row.recovery_sent_at is not None
    assert token_hashes(mail_app, row.id) == {
        "recovery_token": (link_hash(body["hashed_token"]), "magic@example.com")}

    response = mail_api.post("/verify", json={"type": "magiclink", "email": "magic@example.com",
                                              "token": body["email_otp"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["id"] == user["id"]
    assert token_hashes(mail_app, row.id) == {}


def test_magiclink_for_an_unknown_email_becomes_a_signup(mail_api, mail_app):
    response = _generate(mail_api, "magiclink", "stranger@example.com", password="not-used-1")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "stranger@example.com", "signup")
    assert query(body["action_link"])["type"] == "signup"
    row = user_row(mail_app, "stranger@example.com")
    assert row.encrypted_password and row.email_confirmed_at is None
    assert row.confirmation_token == token_hash("stranger@example.com", body["email_otp"])
    assert row.recovery_token == ""
    verified = mail_api.get(body["action_link"])
    assert "access_token" in fragment(verified.headers["Location"])
    assert user_row(mail_app, "stranger@example.com").email_confirmed_at is not None
    # The generated password is nobody's, not the one in the body.
    assert mail_api.login("stranger@example.com", "not-used-1").status_code == 400


def test_recovery_link(mail_api, mail_app):
    user = create_user(mail_api, "forgot@example.com", password="old-password-1")
    response = _generate(mail_api, "recovery", "forgot@example.com",
                         redirect_to="https://app.example.com/reset")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _check_link_shape(body, "forgot@example.com", "recovery", "https://app.example.com/reset")
    assert query(body["action_link"])["type"] == "recovery"
    row = user_row(mail_app, "forgot@example.com")
    assert row.recovery_token == token_hash("forgot@example.com", body["email_otp"])
    actions = [p["action"] for (p,) in table_rows(mail_app, sa.select(AuditLogEntry.payload))]
    assert "user_recovery_requested" in actions

    verified = mail_api.get(body["action_link"])
    location = verified.headers["Location"]
    assert location.startswith("https://app.example.com/reset#")
    values = fragment(location)
    assert values["type"] == "recovery"
    assert mail_api.put("/user", token=values["access_token"],
                        json={"password": "new-password-2"}).get_json()["id"] == user["id"]
    assert mail_api.login("forgot@example.com", "new-password-2").status_code == 200


def test_recovery_code_works_with_post_verify_token_hash(mail_api, mail_app):
    create_user(mail_api, "hash@example.com", password="password-123")
    body = _generate(mail_api, "recovery", "hash@example.com").get_json()
    response = mail_api.post("/verify", json={"type": "recovery",
                                              "token_hash": body["hashed_token"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == "hash@example.com"


@pytest.mark.parametrize("link_type", ["recovery", "email_change_current", "email_change_new"])
def test_unknown_email_is_404_for_recovery_and_email_change(mail_api, mail_app, link_type):
    response = _generate(mail_api, link_type, "ghost@example.com", new_email="new@example.com")
    assert response.status_code == 404
    assert response.get_json()["code"] == "user_not_found"
    assert table_rows(mail_app, sa.select(User.id)) == []


# --- email change -----------------------------------------------------------------------------


def test_email_change_links_apply_the_change_once_both_are_followed(mail_api, mail_app):
    user = create_user(mail_api, "current@example.com", password="password-123")
    current = _generate(mail_api, "email_change_current", "current@example.com",
                        new_email="Next@Example.com")
    assert current.status_code == 200, current.get_data(as_text=True)
    current = current.get_json()
    _check_link_shape(current, "current@example.com", "email_change_current")
    assert current["new_email"] == "next@example.com" and "email_change_sent_at" in current
    assert query(current["action_link"])["type"] == "email_change"

    new = _generate(mail_api, "email_change_new", "current@example.com",
                    new_email="next@example.com").get_json()
    assert new["verification_type"] == "email_change_new"
    row = user_row(mail_app, "current@example.com")
    assert row.email_change == "next@example.com"
    assert row.email_change_confirm_status == 0
    # The new address's code is kept for the new address, so that it verifies.
    assert row.email_change_token_current == token_hash("current@example.com",
                                                        current["email_otp"])
    assert row.email_change_token_new == token_hash("next@example.com", new["email_otp"])
    assert token_hashes(mail_app, row.id) == {
        "email_change_token_current": (link_hash(current["hashed_token"]),
                                       "current@example.com"),
        "email_change_token_new": (link_hash(new["hashed_token"]), "next@example.com")}

    half = mail_api.get(current["action_link"])
    assert half.status_code == 303
    assert fragment(half.headers["Location"])["message"].startswith(
        "Confirmation link accepted")
    assert user_row(mail_app, "current@example.com").email_change_confirm_status == 1

    done = mail_api.post("/verify", json={"type": "email_change", "email": "next@example.com",
                                          "token": new["email_otp"]})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["user"]["email"] == "next@example.com"
    row = user_row(mail_app, "next@example.com")
    assert str(row.id) == user["id"] and row.email_change == ""
    assert token_hashes(mail_app, row.id) == {}
    assert mail_api.login("next@example.com").status_code == 200
    assert mail_api.login("current@example.com").status_code == 400


def test_email_change_new_hash_works_with_post_verify(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": False,
                      "mailer.secure_email_change_enabled": False})
    api = api_for(app, service_role_token)
    create_user(api, "plain@example.com", password="password-123")
    body = _generate(api, "email_change_new", "plain@example.com",
                     new_email="moved@example.com").get_json()
    response = api.post("/verify", json={"type": "email_change",
                                         "token_hash": body["hashed_token"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == "moved@example.com"
    assert user_row(app, "moved@example.com") is not None


def test_email_change_current_needs_secure_email_change(make_app, service_role_token):
    app = make_app(**{"mailer.secure_email_change_enabled": False})
    api = api_for(app, service_role_token)
    create_user(api, "insecure@example.com", password="password-123")
    response = _generate(api, "email_change_current", "insecure@example.com",
                         new_email="other@example.com")
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert user_row(app, "insecure@example.com").email_change == ""


@pytest.mark.parametrize("link_type", ["email_change_current", "email_change_new"])
def test_email_change_to_a_taken_address_is_422(mail_api, mail_app, link_type):
    create_user(mail_api, "mover@example.com", password="password-123")
    create_user(mail_api, "occupied@example.com", password="password-123")
    response = _generate(mail_api, link_type, "mover@example.com", new_email="OCCUPIED@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    row = user_row(mail_app, "mover@example.com")
    assert row.email_change == "" and row.email_change_token_new == ""
    assert row.email_change_token_current == ""


@pytest.mark.parametrize("new_email", [None, "", "not-an-email"])
def test_email_change_without_a_valid_new_email_is_400(mail_api, mail_app, new_email):
    create_user(mail_api, "stay@example.com", password="password-123")
    body = {} if new_email is None else {"new_email": new_email}
    response = _generate(mail_api, "email_change_new", "stay@example.com", **body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert user_row(mail_app, "stay@example.com").email_change == ""


def test_a_different_new_email_drops_the_other_half(mail_api, mail_app):
    create_user(mail_api, "switch@example.com", password="password-123")
    first = _generate(mail_api, "email_change_current", "switch@example.com",
                      new_email="first@example.com").get_json()
    second = _generate(mail_api, "email_change_new", "switch@example.com",
                       new_email="second@example.com").get_json()
    row = user_row(mail_app, "switch@example.com")
    assert row.email_change == "second@example.com"
    assert row.email_change_token_current == ""
    assert set(token_hashes(mail_app, row.id)) == {"email_change_token_new"}
    # The link made for first@ cannot confirm the move to second@.
    stale = mail_api.get(first["action_link"])
    assert fragment(stale.headers["Location"])["error_code"] == "otp_expired"
    assert second["new_email"] == "second@example.com"


# --- redirect_to ------------------------------------------------------------------------------


def test_redirect_to_outside_the_allow_list_becomes_the_site_url(mail_api, mail_app):
    body = _generate(mail_api, "signup", "redir@example.com", password="password-123",
                     redirect_to="https://evil.example.net/").get_json()
    assert body["redirect_to"] == SITE
    assert query(body["action_link"])["redirect_to"] == SITE
    location = mail_api.get(body["action_link"]).headers["Location"]
    assert location.startswith(SITE + "#")


def test_redirect_to_from_the_query_string_is_used_without_a_body_value(mail_api, mail_app):
    response = mail_api.admin("POST",
                              "/admin/generate_link?redirect_to=https://app.example.com/q",
                              json={"type": "invite", "email": "query@example.com"})
    body = response.get_json()
    assert body["redirect_to"] == "https://app.example.com/q"
    assert query(body["action_link"])["redirect_to"] == "https://app.example.com/q"


def test_generate_link_ignores_disable_signup(make_app, service_role_token):
    app = make_app(**{"disable_signup": True})
    api = api_for(app, service_role_token)
    response = _generate(api, "signup", "admin-made@example.com", password="password-123")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user_row(app, "admin-made@example.com") is not None
