"""POST /signup (contract sections 3, 4 and 12): the order of checks, the user and session JSON,
confirmation mail through a real SMTP server, repeated signups and anonymous sign-in."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import (
    AMRClaim,
    FlowState,
    Identity,
    OneTimeToken,
    RefreshToken,
    Session,
    User,
)

from ..conftest import api_for, email_provider, smtp_settings, table_rows
from ..factories import (
    audit_actions,
    count,
    gotrue_hash,
    link_hash,
    mail_log,
    make_user,
    refresh_token_hash,
    token_hash,
    user_row,
    verified_claims,
)
from ..support import smtp as smtp_support

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
SESSION_KEYS = ["access_token", "token_type", "expires_in", "expires_at", "refresh_token",
                "user"]
NEW_UNCONFIRMED_USER_KEYS = ["id", "aud", "role", "email", "phone", "confirmation_sent_at",
                             "app_metadata", "user_metadata", "identities", "created_at",
                             "updated_at", "is_anonymous"]


# --- order of checks --------------------------------------------------------------------------

LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
PKCE_HALF_MESSAGE = "PKCE flow requires code_challenge_method and code_challenge"

CHECKS = [
    # (id, settings overrides, body, status, code, message or None)
    ("signup-disabled-before-password", {"disable_signup": True},
     {"email": "a@example.com", "password": ""}, 422, "signup_disabled", None),
    ("empty-password", {}, {"email": "a@example.com", "password": ""}, 400,
     "validation_failed", "Signup requires a valid password"),
    ("missing-password", {}, {"email": "a@example.com"}, 400, "validation_failed", None),
    ("73-byte-password", {}, {"email": "a@example.com", "password": "x" * 73}, 400,
     "validation_failed", None),
    ("74-byte-multibyte-password", {}, {"email": "a@example.com", "password": "é" * 37}, 400,
     "validation_failed", None),
    ("long-password-before-weak", {"password.min_length": 100},
     {"email": "a@example.com", "password": "x" * 73}, 400, "validation_failed", None),
    ("weak-before-email-and-phone", {},
     {"email": "a@example.com", "phone": "+15555550100", "password": "abc"}, 422,
     "weak_password", None),
    ("email-and-phone", {"external.phone_enabled": True},
     {"email": "a@example.com", "phone": "+15555550100", "password": "password-123"}, 400,
     "validation_failed",
     "Only an email address or phone number should be provided on signup."),
    ("bad-channel-before-provider", {},
     {"phone": "+15555550100", "password": "password-123", "channel": "pigeon"}, 400,
     "validation_failed", None),
    ("phone-with-pkce", {"external.phone_enabled": True, "sms.autoconfirm": True},
     {"phone": "+15555550100", "password": "password-123", "code_challenge": CHALLENGE,
      "code_challenge_method": "s256"}, 400, "validation_failed", None),
    ("half-pkce", {}, {"email": "a@example.com", "password": "password-123",
                       "code_challenge": CHALLENGE}, 400, "validation_failed",
     PKCE_HALF_MESSAGE),
    ("other-half-pkce", {}, {"email": "a@example.com", "password": "password-123",
                             "code_challenge_method": "s256"}, 400, "validation_failed",
     PKCE_HALF_MESSAGE),
    ("email-provider-off-before-format", "email-off",
     {"email": "not-an-email", "password": "password-123"}, 400, "email_provider_disabled",
     "Email signups are disabled"),
    ("phone-provider-off", {}, {"phone": "+15555550100", "password": "password-123"}, 400,
     "phone_provider_disabled", "Phone signups are disabled"),
    ("bad-email", {}, {"email": "not-an-email", "password": "password-123"}, 400,
     "validation_failed", None),
    ("email-too-long", {}, {"email": "a" * 60 + "@" + "b" * 190 + ".example.com",
                            "password": "password-123"}, 400, "validation_failed", None),
    ("bad-phone", {"external.phone_enabled": True},
     {"phone": "12ab", "password": "password-123"}, 400, "validation_failed",
     "Invalid phone number format (E.164 required)"),
    ("phone-too-long", {"external.phone_enabled": True},
     {"phone": "+1234567890123456", "password": "password-123"}, 400, "validation_failed",
     "Invalid phone number format (E.164 required)"),
]


@pytest.mark.parametrize("overrides, body, status, code, message",
                         [case[1:] for case in CHECKS], ids=[case[0] for case in CHECKS])
def test_signup_checks_in_order(make_app, settings, overrides, body, status, code, message):
    if overrides == "email-off":
        overrides = email_provider(settings, enabled=False)
    app = make_app(**overrides)
    response = api_for(app).post("/signup", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["code"] == code
    assert response.headers["x-sb-error-code"] == code
    if message is not None:
        assert response.get_json()["message"] == message
    assert count(app, User) == 0


@pytest.mark.parametrize("overrides, password, reasons, message", [
    ({"password.min_length": 10}, "short-pw1", ["length"],
     "Password should be at least 10 characters."),
    ({"password.required_characters": (LOWER, UPPER, DIGITS)}, "alllowercase", ["characters"],
     "Password should contain at least one character of each: "
     f"{LOWER}, {UPPER}, {DIGITS}."),
    ({"password.min_length": 12, "password.required_characters": (LOWER, DIGITS)}, "short",
     ["length", "characters"], None),
])
def test_weak_password_reasons(make_app, overrides, password, reasons, message):
    app = make_app(**overrides)
    response = api_for(app).post("/signup", json={"email": "w@example.com",
                                                  "password": password})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "weak_password"
    assert body["weak_password"] == {"reasons": reasons}
    if message:
        assert body["message"] == message
    assert count(app, User) == 0


def test_strong_enough_password_passes_the_configured_rules(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "password.min_length": 10,
                      "password.required_characters": (LOWER, UPPER, DIGITS)})
    response = api_for(app).post("/signup", json={"email": "s@example.com",
                                                  "password": "Abcdefghij1"})
    assert response.status_code == 200


def test_72_byte_password_is_accepted_and_logs_in(api):
    password = "ü" * 36
    assert len(password.encode()) == 72
    assert api.signup("max@example.com", password).status_code == 200
    assert api.login("max@example.com", password).status_code == 200


# --- autoconfirm: a session -------------------------------------------------------------------


def test_autoconfirm_signup_returns_a_session_with_the_user(app, api):
    response = api.signup("Mixed.Case@Example.COM", data={"name": "Ada", "sub": "forged",
                                                          "email": "forged@example.com"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert list(body) == SESSION_KEYS
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert re.fullmatch(r"[a-z2-7]{12}", body["refresh_token"])

    user = body["user"]
    assert list(user) == ["id", "aud", "role", "email", "email_confirmed_at", "phone",
                          "confirmed_at", "last_sign_in_at", "app_metadata", "user_metadata",
                          "identities", "created_at", "updated_at", "is_anonymous"]
    user_id = user["id"]
    assert uuid.UUID(user_id)
    assert user["aud"] == "authenticated"
    assert user["role"] == "authenticated"
    assert user["email"] == "mixed.case@example.com"
    assert user["phone"] == ""
    for key in ("email_confirmed_at", "confirmed_at", "last_sign_in_at", "created_at",
                "updated_at"):
        assert TIMESTAMP.fullmatch(user[key]), key
    assert user["confirmed_at"] == user["email_confirmed_at"]
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    # GoTrue's own keys win over the caller's data; confirming sets email_verified.
    assert user["user_metadata"] == {"sub": user_id, "email": "mixed.case@example.com",
                                     "email_verified": True, "phone_verified": False,
                                     "name": "Ada"}
    assert user["is_anonymous"] is False

    [identity] = user["identities"]
    assert list(identity) == ["identity_id", "id", "user_id", "identity_data", "provider",
                              "last_sign_in_at", "created_at", "updated_at", "email"]
    assert identity["id"] == user_id
    assert identity["user_id"] == user_id
    assert identity["provider"] == "email"
    assert identity["email"] == "mixed.case@example.com"
    assert identity["identity_data"]["sub"] == user_id
    assert identity["identity_data"]["email"] == "mixed.case@example.com"
    assert identity["identity_data"]["phone_verified"] is False
    assert identity["identity_data"]["name"] == "Ada"

    claims = verified_claims(body["access_token"])
    assert claims["sub"] == user_id
    assert [entry["method"] for entry in claims["amr"]] == ["password"]

    row = user_row(app, "mixed.case@example.com")
    assert str(row.id) == user_id
    assert row.email_confirmed_at is not None
    assert row.encrypted_password.startswith("$2a$")
    assert row.raw_app_meta_data == {"provider": "email", "providers": ["email"]}
    [identity_row] = [r[0] for r in table_rows(app, sa.select(Identity))]
    assert identity_row.provider_id == user_id and identity_row.provider == "email"
    [session_row] = [r[0] for r in table_rows(app, sa.select(Session))]
    assert str(session_row.user_id) == user_id and str(session_row.id) == claims["session_id"]
    [token_row] = [r[0] for r in table_rows(app, sa.select(RefreshToken))]
    assert token_row.token == refresh_token_hash(body["refresh_token"])
    assert token_row.revoked is False
    assert [r.authentication_method for r in
            table_rows(app, sa.select(AMRClaim.authentication_method))] == ["password"]
    assert audit_actions(app, user_id) == ["user_signedup", "login"]


def test_autoconfirm_signup_with_a_confirmed_email_is_422_and_audited(app, api):
    first = api.session("taken@example.com")
    response = api.signup("TAKEN@example.com", "another-password")
    assert response.status_code == 422
    assert response.get_json() == {"code": "user_already_exists",
                                   "message": "User already registered"}
    assert count(app, User) == 1
    assert audit_actions(app, first["user"]["id"])[-1] == "user_repeated_signup"


def test_sms_autoconfirm_also_makes_a_repeated_email_signup_422(make_app, api):
    app = make_app(**{"sms.autoconfirm": True})
    client = api_for(app)
    created = api.admin("POST", "/admin/users", json={
        "email": "both@example.com", "password": "password-123", "email_confirm": True})
    assert created.status_code == 200
    response = client.post("/signup", json={"email": "both@example.com",
                                            "password": "password-123"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "user_already_exists"


# --- confirmation by email --------------------------------------------------------------------


def test_signup_sends_a_confirmation_email_and_stores_the_token_hash(make_mail_app, smtp_server):
    app = make_mail_app()
    response = api_for(app).post("/signup?redirect_to=http://localhost:3000/welcome",
                                 json={"email": "New.User@Example.com",
                                       "password": "password-123", "data": {"plan": "pro"}})
    assert response.status_code == 200
    user = response.get_json()
    assert list(user) == NEW_UNCONFIRMED_USER_KEYS
    assert user["email"] == "new.user@example.com"
    assert user["role"] == "authenticated"
    assert TIMESTAMP.fullmatch(user["confirmation_sent_at"])
    assert user["user_metadata"] == {"sub": user["id"], "email": "new.user@example.com",
                                     "email_verified": False, "phone_verified": False,
                                     "plan": "pro"}
    assert [i["provider"] for i in user["identities"]] == ["email"]

    [message] = smtp_server.wait_for("new.user@example.com")
    assert message["Subject"] == "Confirm your email address"
    assert "auth@example.com" in message["From"]
    code = smtp_support.code(message)
    expected_hash = token_hash("new.user@example.com", code)
    [link] = [link for link in smtp_support.links(message) if "/verify" in link]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://localhost:9999/verify"
    link_token = parse_qs(parts.query)["token"][0]
    assert parse_qs(parts.query) == {"token": [link_token], "type": ["signup"],
                                     "redirect_to": ["http://localhost:3000/welcome"]}
    # The link has its own random secret: the code does not give it.
    assert len(link_token) == 56 and link_token != gotrue_hash("new.user@example.com", code)

    row = user_row(app, "new.user@example.com")
    assert row.confirmation_token == expected_hash
    assert row.confirmation_sent_at is not None
    assert row.email_confirmed_at is None
    [ott] = [r[0] for r in table_rows(app, sa.select(OneTimeToken))]
    assert ott.user_id == row.id
    assert ott.token_type.value == "confirmation_token"
    assert ott.token_hash == link_hash(link_token)
    assert ott.relates_to == "new.user@example.com"
    assert count(app, Session) == 0
    assert audit_actions(app, user["id"]) == ["user_signedup"]


def test_pkce_signup_marks_the_token_and_creates_a_flow(make_mail_app, smtp_server):
    app = make_mail_app()
    response = api_for(app).post("/signup", json={
        "email": "pkce@example.com", "password": "password-123",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256"})
    assert response.status_code == 200
    row = user_row(app, "pkce@example.com")
    assert row.confirmation_token.startswith("pkce_")
    [flow] = [r[0] for r in table_rows(app, sa.select(FlowState))]
    assert flow.user_id == row.id
    assert flow.authentication_method == "email/signup"
    assert flow.code_challenge == CHALLENGE
    [message] = smtp_server.wait_for("pkce@example.com")
    [link] = [link for link in smtp_support.links(message) if "/verify" in link]
    [ott] = [r[0] for r in table_rows(app, sa.select(OneTimeToken))]
    assert ott.token_hash == link_hash(parse_qs(urlsplit(link).query)["token"][0])
    assert ott.token_hash.startswith("pkce_")


def test_unlisted_redirect_becomes_the_site_url(make_mail_app, smtp_server):
    app = make_mail_app()
    response = api_for(app).post("/signup?redirect_to=https://evil.example.net/",
                                 json={"email": "r@example.com", "password": "password-123"})
    assert response.status_code == 200
    [message] = smtp_server.wait_for("r@example.com")
    [link] = [link for link in smtp_support.links(message) if "/verify" in link]
    assert parse_qs(urlsplit(link).query)["redirect_to"] == ["http://localhost:3000"]


def test_without_smtp_host_the_user_is_created_and_nothing_is_sent(make_app, smtp_server):
    app = make_app()
    response = api_for(app).post("/signup", json={"email": "quiet@example.com",
                                                  "password": "password-123"})
    assert response.status_code == 200
    assert "access_token" not in response.get_json()
    row = user_row(app, "quiet@example.com")
    assert row.confirmation_token and row.email_confirmed_at is None
    assert smtp_server.messages == []


def test_smtp_refusal_is_logged_and_a_new_signup_may_follow_at_once(make_mail_app,
                                                                    smtp_server):
    smtp_server.reject_with = "554 5.7.1 Message rejected"
    app = make_mail_app()
    client = api_for(app)
    signup = {"email": "refused@example.com", "password": "password-123"}
    # The email goes out after the answer, which therefore cannot tell (no enumeration).
    response = client.post("/signup", json=signup)
    assert response.status_code == 200
    assert [(e.template, e.status) for e in mail_log(app)] == [("confirmation", "failed")]
    # The code nobody received is forgotten, and the 60 s rule does not hold a retry back.
    row = user_row(app, "refused@example.com")
    assert row.confirmation_token == "" and row.confirmation_sent_at is None
    assert count(app, OneTimeToken) == 0
    smtp_server.reject_with = None
    assert client.post("/signup", json=signup).status_code == 200
    assert len(smtp_server.wait_for("refused@example.com")) == 1


def test_unreachable_smtp_is_in_the_mail_log_not_in_the_answer(make_app, closed_port):
    # A free port with nothing listening: the connection is refused.
    app = make_app(**smtp_settings(closed_port))
    response = api_for(app).post("/signup", json={"email": "down@example.com",
                                                  "password": "password-123"})
    assert response.status_code == 200
    assert user_row(app, "down@example.com").email_confirmed_at is None
    [entry] = mail_log(app)
    assert (entry.template, entry.status) == ("confirmation", "failed")
    assert "connection refused" in entry.error


# --- repeated signups -------------------------------------------------------------------------


def test_confirmed_email_gets_a_fake_user_and_no_mail(make_mail_app, smtp_server, api):
    app = make_mail_app()
    client = api_for(app)
    created = api.admin("POST", "/admin/users", json={
        "email": "known@example.com", "password": "original-pw", "email_confirm": True})
    assert created.status_code == 200
    real = created.get_json()
    stored_hash = user_row(app, "known@example.com").encrypted_password
    genuine = client.post("/signup", json={"email": "fresh@example.com",
                                           "password": "password-123"}).get_json()

    response = client.post("/signup", json={"email": "KNOWN@example.com",
                                            "password": "different-pw", "data": {"x": 1}})
    assert response.status_code == 200
    fake = response.get_json()
    assert list(fake) == list(genuine) == NEW_UNCONFIRMED_USER_KEYS
    assert fake["id"] != real["id"]
    assert uuid.UUID(fake["id"])
    # Shaped like a new user's answer (GoTrue's fake user has an empty role and no identities).
    assert fake["role"] == genuine["role"] == "authenticated"
    assert fake["email"] == "known@example.com"
    assert fake["phone"] == ""
    [identity] = fake["identities"]
    assert (identity["provider"], identity["id"], identity["user_id"]) == (
        "email", fake["id"], fake["id"])
    assert fake["user_metadata"] == identity["identity_data"] == {
        "x": 1, "sub": fake["id"], "email": "known@example.com", "email_verified": False,
        "phone_verified": False}
    assert fake["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert fake["is_anonymous"] is False

    smtp_server.wait_for("fresh@example.com")
    assert smtp_server.to("known@example.com") == []
    assert count(app, User) == 2
    assert user_row(app, "known@example.com").encrypted_password == stored_hash
    assert "user_repeated_signup" in audit_actions(app, real["id"])


def test_unconfirmed_email_is_resent_after_the_window_and_keeps_the_password(make_mail_app,
                                                                             smtp_server):
    app = make_mail_app()
    rt = app.extensions["gotrue"]
    client = api_for(app)
    first = client.post("/signup", json={"email": "again@example.com",
                                         "password": "first-password"})
    assert first.status_code == 200
    before = user_row(app, "again@example.com")
    [first_mail] = smtp_server.wait_for("again@example.com")

    too_soon = client.post("/signup", json={"email": "again@example.com",
                                            "password": "second-password"})
    assert too_soon.status_code == 429
    assert too_soon.get_json()["code"] == "over_email_send_rate_limit"
    assert re.fullmatch(r"For security purposes, you can only request this after \d+ seconds\.",
                        too_soon.get_json()["message"])
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 60
    assert len(smtp_server.to("again@example.com")) == 1

    later = before.confirmation_sent_at + timedelta(seconds=61)
    rt.clock = lambda: later
    # With the account's own password: another one would clear it (test_enumeration).
    resent = client.post("/signup", json={"email": "again@example.com",
                                          "password": "first-password"})
    assert resent.status_code == 200
    body = resent.get_json()
    assert body["id"] == str(before.id)
    assert [i["provider"] for i in body["identities"]] == ["email"]
    mails = smtp_server.wait_for("again@example.com", count=2)
    assert len(mails) == 2
    code = smtp_support.code(mails[1])
    after = user_row(app, "again@example.com")
    assert after.encrypted_password == before.encrypted_password
    assert after.confirmation_token == token_hash("again@example.com", code)
    assert after.confirmation_token != before.confirmation_token
    [ott] = [r[0] for r in table_rows(app, sa.select(OneTimeToken))]
    [link] = [link for link in smtp_support.links(mails[1]) if "/verify" in link]
    assert ott.token_hash == link_hash(parse_qs(urlsplit(link).query)["token"][0])
    assert audit_actions(app, before.id) == ["user_signedup", "user_confirmation_requested"]
    assert smtp_support.code(first_mail) != code


def test_unconfirmed_invitee_is_returned_without_the_inviters_metadata(make_mail_app, smtp_server,
                                                                       api):
    app = make_mail_app()
    created = api.admin("POST", "/admin/users", json={
        "email": "invitee@example.com", "user_metadata": {"team": "red"}})
    assert created.status_code == 200
    with app.app_context():
        from gotrue_web.extensions import db

        db.session.execute(sa.update(User).values(invited_at=datetime.now(timezone.utc)))
        db.session.commit()
    response = api_for(app).post("/signup", json={"email": "invitee@example.com",
                                                  "password": "password-123"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == created.get_json()["id"]
    # As a new user's answer would be, not what the inviter gave (nor the invitation date).
    assert body["user_metadata"] == {"sub": body["id"], "email": "invitee@example.com",
                                     "email_verified": False, "phone_verified": False}
    assert [i["provider"] for i in body["identities"]] == ["email"]
    assert "red" not in response.get_data(as_text=True)
    assert "invited_at" not in body
    assert len(smtp_server.wait_for("invitee@example.com")) == 1


def test_autoconfirm_confirms_an_unconfirmed_account_only_with_its_password(app, api):
    created = api.admin("POST", "/admin/users", json={
        "email": "pending@example.com", "password": "the-real-password"})
    assert created.status_code == 200
    wrong = api.signup("pending@example.com", "an-attackers-password")
    assert wrong.status_code == 422
    assert wrong.get_json()["code"] == "user_already_exists"
    assert user_row(app, "pending@example.com").email_confirmed_at is None
    assert count(app, Session) == 0

    right = api.signup("pending@example.com", "the-real-password")
    assert right.status_code == 200
    assert right.get_json()["user"]["id"] == created.get_json()["id"]
    assert user_row(app, "pending@example.com").email_confirmed_at is not None


def test_email_held_in_another_audience_is_not_a_server_error(make_app, api):
    app = make_app()
    client = api_for(app)
    other = client.post("/signup", json={"email": "aud@example.com", "password": "password-1"},
                        headers={"X-JWT-AUD": "other-audience"})
    assert other.status_code == 200
    assert other.get_json()["aud"] == "other-audience"
    response = client.post("/signup", json={"email": "aud@example.com",
                                            "password": "password-2"})
    assert response.status_code == 200
    assert response.get_json()["id"] != other.get_json()["id"]
    assert response.get_json()["role"] == "authenticated"
    assert count(app, User) == 1


def test_an_email_held_through_an_identity_is_that_users(make_app):
    """A signup finds the account that holds the address through an email identity, not only
    as users.email (a user whose email changed keeps the old address's identity)."""
    app = make_app(**{"mailer.autoconfirm": True})
    user_id = make_user(app, "current@example.com", password="password-1")
    with app.app_context():
        identity = Identity(id=uuid.uuid4(), user_id=user_id, provider="email",
                            provider_id=str(uuid.uuid4()))
        identity.set_data({"email": "Former@example.com", "sub": str(user_id)})
        db.session.add(identity)
        db.session.commit()
    response = api_for(app).post("/signup", json={"email": "former@example.com",
                                                  "password": "password-2"})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["code"] == "user_already_exists"
    assert count(app, User) == 1
    assert audit_actions(app, user_id)[-1] == "user_repeated_signup"


# --- phone ------------------------------------------------------------------------------------


def test_phone_signup_with_sms_autoconfirm(make_app):
    app = make_app(**{"external.phone_enabled": True, "sms.autoconfirm": True})
    response = api_for(app).post("/signup", json={"phone": "+1 555 555 0100",
                                                  "password": "password-123"})
    assert response.status_code == 200
    user = response.get_json()["user"]
    assert user["phone"] == "15555550100"
    assert user["email"] == ""
    assert TIMESTAMP.fullmatch(user["phone_confirmed_at"])
    assert user["app_metadata"] == {"provider": "phone", "providers": ["phone"]}
    # GoTrue's phone identity (and so the metadata) carries no number (spec phone-sms §2.3).
    assert "phone" not in user["user_metadata"]
    assert user["user_metadata"]["phone_verified"] is True
    assert user["user_metadata"]["email_verified"] is False
    assert [i["provider"] for i in user["identities"]] == ["phone"]
    assert "email" not in user["identities"][0]


def test_phone_signup_without_an_sms_provider_writes_nothing(make_app):
    # The code cannot be texted: 500 as GoTrue answers (codes sent: tests/api/phone/).
    app = make_app(**{"external.phone_enabled": True})
    response = api_for(app).post("/signup", json={"phone": "+15555550100",
                                                  "password": "password-123"})
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure",
                                   "message": "Unable to get SMS provider"}
    assert count(app, User) == 0


def test_confirmed_phone_gets_a_fake_user(make_app):
    app = make_app(**{"external.phone_enabled": True, "sms.autoconfirm": True})
    client = api_for(app)
    real = client.post("/signup", json={"phone": "+15555550101", "password": "password-123"})
    assert real.status_code == 200
    again = client.post("/signup", json={"phone": "+15555550101", "password": "password-123"})
    assert again.status_code == 422
    assert again.get_json()["code"] == "user_already_exists"


# --- anonymous --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"data": {"nickname": "guest"}}, {"email": "", "phone": ""}])
def test_anonymous_sign_in(make_app, body):
    app = make_app(**{"external.anonymous_users_enabled": True})
    response = api_for(app).post("/signup", json=body)
    assert response.status_code == 200
    session = response.get_json()
    assert list(session) == SESSION_KEYS
    user = session["user"]
    assert user["is_anonymous"] is True
    assert user["email"] == "" and user["phone"] == ""
    assert user["app_metadata"] == {}
    assert user["identities"] == []
    assert user["user_metadata"] == body.get("data", {})
    assert user["role"] == "authenticated"
    claims = verified_claims(session["access_token"])
    assert claims["is_anonymous"] is True
    assert [entry["method"] for entry in claims["amr"]] == ["anonymous"]
    [row] = [r[0] for r in table_rows(app, sa.select(User))]
    assert row.is_anonymous is True and row.email is None and row.phone is None
    assert count(app, Identity) == 0
    assert audit_actions(app, user["id"]) == ["user_signedup", "login"]


def test_anonymous_sign_in_disabled(make_app):
    app = make_app()
    response = api_for(app).post("/signup", json={})
    assert response.status_code == 422
    assert response.get_json() == {"code": "anonymous_provider_disabled",
                                   "message": "Anonymous sign-ins are disabled"}
    assert count(app, User) == 0


def test_anonymous_sign_in_with_signups_disabled(make_app):
    app = make_app(**{"external.anonymous_users_enabled": True, "disable_signup": True})
    response = api_for(app).post("/signup", json={})
    assert response.status_code == 422
    assert response.get_json()["code"] == "signup_disabled"
    assert count(app, User) == 0
