"""GET /verify (email links) and POST /verify (codes and token hashes), through a real SMTP sink.

Every test reads the email the server sent, follows its link or types its code, and asserts the
redirect or the JSON, that the session works, and what changed in the database.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import jwt
import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, Identity, OneTimeToken, Session, User
from gotrue_web.security.codes import token_hash

from ..conftest import JWT_SECRET, ApiClient, table_rows
from ..support.smtp import code, links

SITE = "http://localhost:3000"
ALLOWED = "https://app.example.com/**"
PASSWORD = "password-123"
SESSION_KEYS = ["access_token", "expires_at", "expires_in", "refresh_token", "sb", "token_type",
                "type"]
LINK_ERROR = ("error=access_denied&error_code=otp_expired"
              "&error_description=Email+link+is+invalid+or+has+expired&sb=")
HALF_WAY = ("Confirmation link accepted. Please proceed to confirm link sent to the other "
            "email")


# --- fixtures and helpers ----------------------------------------------------------------------


def mail_settings(smtp_server, **overrides) -> dict:
    """Confirmation required, mail to the SMTP sink, no resend spacing (tests resend at will)."""
    return {
        "smtp.host": "127.0.0.1", "smtp.port": smtp_server.port,
        "smtp.admin_email": "auth@example.com", "mailer.autoconfirm": False,
        "smtp.max_frequency": timedelta(0), "uri_allow_list": (ALLOWED,), **overrides,
    }


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(**mail_settings(smtp_server))


@pytest.fixture
def mail_rt(mail_app):
    return mail_app.extensions["gotrue"]


@pytest.fixture
def mapi(mail_app, service_role_token) -> ApiClient:
    return ApiClient(mail_app.test_client(), service_role_token)


def new_email() -> str:
    # The trailing letter keeps the address from ever holding a run of digits that could be
    # mistaken for the code in the message.
    return f"v-{uuid.uuid4().hex[:10]}x@example.com"


def path_of(link: str) -> str:
    """The path and query of an emailed link (the test client ignores the host)."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def link_params(link: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def last_mail(smtp_server, email: str, count: int = 1):
    messages = smtp_server.wait_for(email, count=count)
    assert len(messages) >= count, f"expected {count} message(s) to {email}"
    return messages[count - 1]


def fragment_pairs(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).fragment, keep_blank_values=True)


def user_row(app, email: str) -> User:
    rows = table_rows(app, sa.select(User).where(User.email == email))
    assert len(rows) == 1, rows
    return rows[0][0]


def user_by_id(app, user_id) -> User:
    return table_rows(app, sa.select(User).where(User.id == uuid.UUID(str(user_id))))[0][0]


def ott_rows(app, user_id) -> list:
    return table_rows(app, sa.select(OneTimeToken.token_type, OneTimeToken.token_hash)
                      .where(OneTimeToken.user_id == uuid.UUID(str(user_id))))


def email_identity(app, user_id) -> Identity:
    rows = table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(str(user_id)), Identity.provider == "email"))
    assert len(rows) == 1
    return rows[0][0]


def audit_actions(app, user_id) -> list[str]:
    rows = table_rows(app, sa.select(AuditLogEntry.payload))
    return [payload["action"] for (payload,) in rows
            if payload.get("actor_id") == str(user_id)]


def claims(access_token: str) -> dict:
    return jwt.decode(access_token, JWT_SECRET, algorithms=["HS256"], audience="authenticated")


def assert_session_redirect(response, verify_type: str, base: str = SITE) -> dict:
    """A 303 to ``base`` whose fragment is exactly GoTrue's session fragment (sorted keys)."""
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(base + "#"), location
    pairs = fragment_pairs(location)
    assert [key for key, _ in pairs] == SESSION_KEYS
    values = dict(pairs)
    assert values["sb"] == "" and values["token_type"] == "bearer"
    assert values["type"] == verify_type
    assert int(values["expires_in"]) == 3600
    assert abs(int(values["expires_at"]) - claims(values["access_token"])["exp"]) <= 1
    return values


def assert_works(api: ApiClient, session: dict, email: str) -> dict:
    """The access token is accepted by GET /user and the refresh token rotates."""
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == email
    refreshed = api.refresh(session["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    return response.get_json()


def signup_unconfirmed(mapi: ApiClient, smtp_server, email: str | None = None, **body):
    email = email or new_email()
    response = mapi.signup(email, PASSWORD, **body)
    assert response.status_code == 200, response.get_json()
    assert "access_token" not in response.get_json()
    return email, response.get_json()["id"], last_mail(smtp_server, email)


def confirmed_user(mapi: ApiClient, email: str | None = None) -> tuple[str, str]:
    email = email or new_email()
    response = mapi.admin("POST", "/admin/users", json={
        "email": email, "password": PASSWORD, "email_confirm": True})
    assert response.status_code == 200, response.get_json()
    return email, response.get_json()["id"]


def signed_in(mapi: ApiClient, email: str) -> dict:
    response = mapi.login(email)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def set_columns(app, user_id, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == uuid.UUID(str(user_id)))
                           .values(**values))
        db.session.commit()


def assert_confirmed_effects(app, user_id) -> User:
    """email_confirmed_at set, email_verified everywhere, no pending token left at all."""
    user = user_by_id(app, user_id)
    assert user.email_confirmed_at is not None
    assert user.raw_user_meta_data["email_verified"] is True
    assert email_identity(app, user_id).identity_data["email_verified"] is True
    assert user.confirmation_token == "" and user.recovery_token == ""
    assert ott_rows(app, user_id) == []
    assert user.raw_app_meta_data["provider"] == "email"
    assert user.raw_app_meta_data["providers"] == ["email"]
    return user


# --- GET /verify: every type -------------------------------------------------------------------


def test_signup_link_confirms_and_signs_in(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    link = links(message)[0]
    params = link_params(link)
    assert params["type"] == "signup" and params["redirect_to"] == SITE
    assert urlsplit(link).netloc == "localhost:9999" and urlsplit(link).path == "/verify"
    # Another pending token of the user must go too: verifying clears every OTT row.
    mapi.post("/recover", json={"email": email})
    assert len(ott_rows(mail_app, user_id)) == 2
    # The providers list is recomputed from the identities, whatever it held.
    set_columns(mail_app, user_id, raw_app_meta_data={"provider": "email", "providers": []})

    response = mapi.get(path_of(link))

    session = assert_session_redirect(response, "signup")
    token_claims = claims(session["access_token"])
    assert token_claims["sub"] == user_id
    assert [entry["method"] for entry in token_claims["amr"]] == ["otp"]
    body = assert_works(mapi, session, email)
    assert body["email_confirmed_at"] and body["user_metadata"]["email_verified"] is True
    assert_confirmed_effects(mail_app, user_id)
    assert {"user_signedup", "login"} <= set(audit_actions(mail_app, user_id))


def test_invite_link_confirms_and_gives_a_password(mail_app, mapi, smtp_server):
    email = new_email()
    response = mapi.admin("POST", "/invite", json={"email": email})
    assert response.status_code == 200, response.get_json()
    user_id = response.get_json()["id"]
    assert user_by_id(mail_app, user_id).encrypted_password in ("", None)
    link = links(last_mail(smtp_server, email))[0]
    assert link_params(link)["type"] == "invite"

    session = assert_session_redirect(mapi.get(path_of(link)), "invite")

    assert_works(mapi, session, email)
    user = assert_confirmed_effects(mail_app, user_id)
    assert user.invited_at is not None
    assert user.encrypted_password and user.encrypted_password.startswith("$2")
    assert "invite_accepted" in audit_actions(mail_app, user_id)


def test_magic_link_signs_in(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/magiclink", json={"email": email}).status_code == 200
    link = links(last_mail(smtp_server, email))[0]
    assert link_params(link)["type"] == "magiclink"
    assert user_by_id(mail_app, user_id).recovery_token == link_params(link)["token"]

    session = assert_session_redirect(mapi.get(path_of(link)), "magiclink")

    assert_works(mapi, session, email)
    assert_confirmed_effects(mail_app, user_id)
    assert "login" in audit_actions(mail_app, user_id)


def test_recovery_link_signs_in(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/recover", json={"email": email}).status_code == 200
    link = links(last_mail(smtp_server, email))[0]
    assert link_params(link)["type"] == "recovery"

    session = assert_session_redirect(mapi.get(path_of(link)), "recovery")

    assert_works(mapi, session, email)
    assert_confirmed_effects(mail_app, user_id)
    # The recovery session may set a new password.
    changed = mapi.put("/user", token=session["access_token"], json={"password": "new-pass-456"})
    assert changed.status_code == 200, changed.get_json()
    assert mapi.login(email, "new-pass-456").status_code == 200


def test_recovery_link_confirms_an_unconfirmed_user(mail_app, mapi, smtp_server):
    email, user_id, _ = signup_unconfirmed(mapi, smtp_server)
    assert mapi.post("/recover", json={"email": email}).status_code == 200
    link = links(last_mail(smtp_server, email, count=2))[0]

    assert_session_redirect(mapi.get(path_of(link)), "recovery")

    assert_confirmed_effects(mail_app, user_id)


def test_secure_email_change_needs_both_links(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    new = new_email()
    session = signed_in(mapi, email)
    response = mapi.put("/user", token=session["access_token"], json={"email": new})
    assert response.status_code == 200, response.get_json()
    current_link = links(last_mail(smtp_server, email))[0]
    new_link = links(last_mail(smtp_server, new))[0]
    assert link_params(current_link)["type"] == link_params(new_link)["type"] == "email_change"
    assert {row.token_type.value for row in ott_rows(mail_app, user_id)} == {
        "email_change_token_current", "email_change_token_new"}

    first = mapi.get(path_of(current_link))

    assert first.status_code == 303
    assert first.headers["Location"] == (
        SITE + "#message=Confirmation+link+accepted.+Please+proceed+to+confirm+link+sent+to+the"
        "+other+email&sb=")
    user = user_by_id(mail_app, user_id)
    assert user.email == email and user.email_change == new
    assert user.email_change_confirm_status == 1
    assert user.email_change_token_current == "" and user.email_change_token_new
    assert [row.token_type.value for row in ott_rows(mail_app, user_id)] == [
        "email_change_token_new"]
    # The half already used cannot be replayed.
    assert mapi.get(path_of(current_link)).headers["Location"] == f"{SITE}#{LINK_ERROR}"

    second = assert_session_redirect(mapi.get(path_of(new_link)), "email_change")

    assert_works(mapi, second, new)
    user = user_by_id(mail_app, user_id)
    assert user.email == new and user.email_change == ""
    assert user.email_change_confirm_status == 0
    assert user.email_change_token_new == "" and user.email_change_token_current == ""
    assert user.raw_user_meta_data["email"] == new
    identity = email_identity(mail_app, user_id)
    assert identity.identity_data["email"] == new and identity.email == new
    assert ott_rows(mail_app, user_id) == []
    assert "user_modified" in audit_actions(mail_app, user_id)
    assert mapi.login(new).status_code == 200
    assert mapi.login(email).status_code == 400


def test_secure_email_change_links_work_in_either_order(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    new = new_email()
    session = signed_in(mapi, email)
    assert mapi.put("/user", token=session["access_token"], json={"email": new}).status_code == 200
    current_link = links(last_mail(smtp_server, email))[0]
    new_link = links(last_mail(smtp_server, new))[0]

    first = mapi.get(path_of(new_link))
    assert dict(fragment_pairs(first.headers["Location"])) == {"message": HALF_WAY, "sb": ""}
    assert_session_redirect(mapi.get(path_of(current_link)), "email_change")

    assert user_by_id(mail_app, user_id).email == new


def test_email_change_without_secure_mode_needs_one_link(make_app, smtp_server,
                                                         service_role_token):
    app = make_app(**mail_settings(smtp_server, **{
        "mailer.secure_email_change_enabled": False}))
    api = ApiClient(app.test_client(), service_role_token)
    email, user_id = confirmed_user(api)
    new = new_email()
    session = signed_in(api, email)
    assert api.put("/user", token=session["access_token"], json={"email": new}).status_code == 200
    assert smtp_server.to(email) == []
    link = links(last_mail(smtp_server, new))[0]

    assert_session_redirect(api.get(path_of(link)), "email_change")

    assert user_by_id(app, user_id).email == new


@pytest.mark.parametrize("flow", ["signup", "magiclink"])
def test_type_email_covers_signup_and_magic_link(mail_app, mapi, smtp_server, flow):
    if flow == "signup":
        email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    else:
        email, user_id = confirmed_user(mapi)
        assert mapi.post("/otp", json={"email": email}).status_code == 200
        message = last_mail(smtp_server, email)
    token = link_params(links(message)[0])["token"]

    response = mapi.get("/verify?" + urlencode({"token": token, "type": "email"}))

    # GoTrue reports the concrete type the token turned out to be.
    session = assert_session_redirect(response, flow)
    assert_works(mapi, session, email)
    assert_confirmed_effects(mail_app, user_id)


# --- GET /verify: errors -----------------------------------------------------------------------


def test_unknown_link_redirects_with_otp_expired(mapi):
    response = mapi.get("/verify?token=" + "0" * 56 + "&type=signup")

    assert response.status_code == 303
    assert response.headers["Location"] == f"{SITE}#{LINK_ERROR}"


def test_expired_link_is_refused_and_changes_nothing(mail_app, mail_rt, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    sent_at = user_by_id(mail_app, user_id).confirmation_sent_at
    otp_exp = mail_rt.settings.mailer.otp_exp
    link = links(message)[0]

    mail_rt.clock = lambda: sent_at + timedelta(seconds=otp_exp + 1)
    response = mapi.get(path_of(link))

    assert response.status_code == 303
    assert response.headers["Location"] == f"{SITE}#{LINK_ERROR}"
    user = user_by_id(mail_app, user_id)
    assert user.email_confirmed_at is None and user.confirmation_token
    assert len(ott_rows(mail_app, user_id)) == 1
    assert table_rows(mail_app, sa.select(Session.id)) == []
    # Just inside the lifetime the same link still works.
    mail_rt.clock = lambda: sent_at + timedelta(seconds=otp_exp - 1)
    assert mapi.get(path_of(link)).headers["Location"].startswith(SITE + "#access_token=")


def test_link_works_once(mail_app, mapi, smtp_server):
    _, user_id, message = signup_unconfirmed(mapi, smtp_server)
    link = links(message)[0]
    assert_session_redirect(mapi.get(path_of(link)), "signup")

    again = mapi.get(path_of(link))

    assert again.status_code == 303
    assert again.headers["Location"] == f"{SITE}#{LINK_ERROR}"
    assert len(table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(user_id)))) == 1


def test_banned_user_link_redirects_with_user_banned(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/magiclink", json={"email": email}).status_code == 200
    link = links(last_mail(smtp_server, email))[0]
    banned = mapi.admin("PUT", f"/admin/users/{user_id}", json={"ban_duration": "24h"})
    assert banned.status_code == 200, banned.get_json()

    response = mapi.get(path_of(link))

    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"{SITE}#error=access_denied&error_code=user_banned"
        "&error_description=User+is+banned&sb=")
    assert user_by_id(mail_app, user_id).recovery_token
    assert table_rows(mail_app, sa.select(Session.id)) == []


def test_pkce_link_errors_repeat_in_the_query(mapi):
    response = mapi.get("/verify?" + urlencode({
        "token": "pkce_" + "0" * 56, "type": "magiclink",
        "redirect_to": "https://app.example.com/cb?keep=1"}))

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https", "app.example.com", "/cb")
    assert parse_qsl(location.query) == [
        ("error", "access_denied"), ("error_code", "otp_expired"),
        ("error_description", "Email link is invalid or has expired"), ("keep", "1")]
    assert location.fragment == LINK_ERROR


@pytest.mark.parametrize("query, message", [
    ("type=signup", "Verify requires a token or a token hash"),
    ("token=abc", "Verify requires a verification type"),
    ("token=&type=signup", "Verify requires a token or a token hash"),
])
def test_missing_token_or_type_is_a_json_400(mapi, query, message):
    response = mapi.get("/verify?" + query)

    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed", "message": message}


@pytest.mark.parametrize("verify_type", ["sms", "phone_change", "bogus"])
def test_unsupported_link_types_redirect_with_invalid_request(mapi, verify_type):
    response = mapi.get(f"/verify?token=abc&type={verify_type}")

    assert response.status_code == 303
    pairs = dict(fragment_pairs(response.headers["Location"]))
    assert pairs["error"] == "invalid_request" and pairs["error_code"] == "validation_failed"


@pytest.mark.parametrize("redirect_to", [
    "https://evil.example.org/", "//evil.example.org", "https://app.example.com.evil.org/",
    "http://localhost:3000@evil.example.org/", "javascript:alert(1)",
])
def test_redirect_outside_the_allow_list_goes_to_the_site(mail_app, mapi, smtp_server,
                                                           redirect_to):
    email, _, message = signup_unconfirmed(mapi, smtp_server)
    token = link_params(links(message)[0])["token"]

    response = mapi.get("/verify?" + urlencode({
        "token": token, "type": "signup", "redirect_to": redirect_to}))

    session = assert_session_redirect(response, "signup", base=SITE)
    assert_works(mapi, session, email)


def test_redirect_in_the_allow_list_is_honoured(mail_app, mapi, smtp_server):
    target = "https://app.example.com/welcome/page"
    email, _, message = signup_unconfirmed(mapi, smtp_server)
    token = link_params(links(message)[0])["token"]

    response = mapi.get("/verify?" + urlencode({
        "token": token, "type": "signup", "redirect_to": target}))

    assert_session_redirect(response, "signup", base=target)


def test_signup_redirect_to_travels_in_the_link(mail_app, smtp_server, service_role_token):
    target = "https://app.example.com/after-signup"
    api = ApiClient(mail_app.test_client(), service_role_token)
    email = new_email()
    assert api.post("/signup?" + urlencode({"redirect_to": target}),
                    json={"email": email, "password": PASSWORD}).status_code == 200
    link = links(last_mail(smtp_server, email))[0]
    assert link_params(link)["redirect_to"] == target

    assert_session_redirect(api.get(path_of(link)), "signup", base=target)


def test_head_does_not_spend_the_link(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    link = links(message)[0]

    probe = mapi.client.head(path_of(link))

    assert probe.status_code == 200 and "Location" not in probe.headers
    user = user_by_id(mail_app, user_id)
    assert user.email_confirmed_at is None and user.confirmation_token
    assert table_rows(mail_app, sa.select(Session.id)) == []
    assert_session_redirect(mapi.get(path_of(link)), "signup")


# --- POST /verify ------------------------------------------------------------------------------


def test_signup_code_returns_a_session(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)

    response = mapi.post("/verify", json={"type": "signup", "token": code(message),
                                          "email": email.upper()})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["user"]["id"] == user_id and body["user"]["email_confirmed_at"]
    assert [entry["method"] for entry in claims(body["access_token"])["amr"]] == ["otp"]
    assert_works(mapi, body, email)
    assert_confirmed_effects(mail_app, user_id)


@pytest.mark.parametrize("verify_type", ["signup", "email"])
def test_signup_token_hash_returns_a_session(mail_app, mapi, smtp_server, verify_type):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    token = link_params(links(message)[0])["token"]
    assert token == token_hash(email, code(message))

    response = mapi.post("/verify", json={"type": verify_type, "token_hash": token})

    assert response.status_code == 200, response.get_json()
    assert_works(mapi, response.get_json(), email)
    assert_confirmed_effects(mail_app, user_id)


@pytest.mark.parametrize("verify_type", ["magiclink", "email"])
def test_magic_link_code_returns_a_session(mail_app, mapi, smtp_server, verify_type):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/otp", json={"email": email}).status_code == 200
    message = last_mail(smtp_server, email)

    response = mapi.post("/verify", json={"type": verify_type, "token": code(message),
                                          "email": email})

    assert response.status_code == 200, response.get_json()
    assert_works(mapi, response.get_json(), email)
    assert user_by_id(mail_app, user_id).recovery_token == ""
    assert ott_rows(mail_app, user_id) == []


def test_recovery_and_invite_codes_return_sessions(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/recover", json={"email": email}).status_code == 200
    recovered = mapi.post("/verify", json={
        "type": "recovery", "token": code(last_mail(smtp_server, email)), "email": email})
    assert recovered.status_code == 200, recovered.get_json()
    assert_works(mapi, recovered.get_json(), email)

    invited = new_email()
    assert mapi.admin("POST", "/invite", json={"email": invited}).status_code == 200
    accepted = mapi.post("/verify", json={
        "type": "invite", "token": code(last_mail(smtp_server, invited)), "email": invited})
    assert accepted.status_code == 200, accepted.get_json()
    assert_works(mapi, accepted.get_json(), invited)
    assert user_row(mail_app, invited).encrypted_password.startswith("$2")


@pytest.mark.parametrize("body, message", [
    ({"type": "signup", "token_hash": "abc", "email": "a@example.com"},
     "Only the token_hash and type should be provided"),
    ({"type": "signup", "token_hash": "abc", "redirect_to": SITE},
     "Only the token_hash and type should be provided"),
    ({"type": "signup", "token": "123456", "token_hash": "abc", "email": "a@example.com"},
     "Verify requires either a token or a token hash"),
    ({"type": "signup", "email": "a@example.com"},
     "Verify requires either a token or a token hash"),
    ({"type": "signup", "token": "123456"},
     "Only an email address or phone number should be provided on verify"),
    ({"type": "signup", "token": "123456", "email": "a@example.com", "phone": "15551234567"},
     "Only an email address or phone number should be provided on verify"),
    ({"token": "123456", "email": "a@example.com"}, "Verify requires a verification type"),
    ({"type": "bogus", "token": "123456", "email": "a@example.com"},
     "Unsupported verification type"),
])
def test_post_shape_rules(mapi, body, message):
    response = mapi.post("/verify", json=body)

    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed", "message": message}


def test_bad_email_is_a_422(mapi):
    response = mapi.post("/verify", json={"type": "signup", "token": "123456",
                                          "email": "not-an-email"})

    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"


def test_wrong_code_is_refused(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    wrong = f"{(int(code(message)) + 1) % 1000000:06d}"

    response = mapi.post("/verify", json={"type": "signup", "token": wrong, "email": email})

    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired",
                                   "message": "Token has expired or is invalid"}
    assert response.headers["x-sb-error-code"] == "otp_expired"
    assert user_by_id(mail_app, user_id).email_confirmed_at is None
    # The right code is not spent by the wrong one.
    assert mapi.post("/verify", json={"type": "signup", "token": code(message),
                                      "email": email}).status_code == 200


@pytest.mark.parametrize("body, message", [
    ({"type": "signup", "token": "123456", "email": "nobody@example.com"},
     "Token has expired or is invalid"),
    ({"type": "email", "token": "123456", "email": "nobody@example.com"},
     "Token has expired or is invalid"),
    ({"type": "email_change", "token": "123456", "email": "nobody@example.com"},
     "Token has expired or is invalid"),
    ({"type": "sms", "token": "123456", "phone": "15551234567"},
     "Token has expired or is invalid"),
    ({"type": "signup", "token": "123456", "phone": "15551234567"},
     "Token has expired or is invalid"),
    # A token hash is checked like a link.
    ({"type": "signup", "token_hash": "0" * 56}, "Email link is invalid or has expired"),
    ({"type": "magiclink", "token_hash": "pkce_" + "0" * 56},
     "Email link is invalid or has expired"),
])
def test_unknown_codes_are_refused(mapi, body, message):
    response = mapi.post("/verify", json=body)

    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired", "message": message}


@pytest.mark.parametrize("body, message", [
    ({"type": "sms", "token_hash": "0" * 56}, "Invalid email verification type"),
    ({"type": "signup", "token": "123456", "phone": "not-a-phone"},
     "Invalid phone number format (E.164 required)"),
])
def test_phone_shapes_are_a_400(mapi, body, message):
    response = mapi.post("/verify", json=body)

    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed", "message": message}


def test_code_of_another_type_is_refused(mail_app, mapi, smtp_server):
    email, _, message = signup_unconfirmed(mapi, smtp_server)

    response = mapi.post("/verify", json={"type": "recovery", "token": code(message),
                                          "email": email})

    assert response.status_code == 403 and response.get_json()["code"] == "otp_expired"


def test_expired_code_is_refused(mail_app, mail_rt, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    sent_at = user_by_id(mail_app, user_id).confirmation_sent_at
    mail_rt.clock = lambda: sent_at + timedelta(seconds=mail_rt.settings.mailer.otp_exp + 1)

    response = mapi.post("/verify", json={"type": "signup", "token": code(message),
                                          "email": email})

    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired",
                                   "message": "Token has expired or is invalid"}
    assert user_by_id(mail_app, user_id).email_confirmed_at is None


def test_shorter_otp_lifetime_applies(make_app, smtp_server, service_role_token):
    app = make_app(**mail_settings(smtp_server, **{"mailer.otp_exp": 600}))
    rt = app.extensions["gotrue"]
    api = ApiClient(app.test_client(), service_role_token)
    email, user_id, message = signup_unconfirmed(api, smtp_server)
    sent_at = user_by_id(app, user_id).confirmation_sent_at

    rt.clock = lambda: sent_at + timedelta(seconds=601)
    late = api.post("/verify", json={"type": "signup", "token": code(message), "email": email})
    rt.clock = lambda: sent_at + timedelta(seconds=599)
    in_time = api.post("/verify", json={"type": "signup", "token": code(message),
                                        "email": email})

    assert late.status_code == 403 and in_time.status_code == 200


def test_code_works_once(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(mapi, smtp_server)
    body = {"type": "signup", "token": code(message), "email": email}
    assert mapi.post("/verify", json=body).status_code == 200

    again = mapi.post("/verify", json=body)

    assert again.status_code == 403 and again.get_json()["code"] == "otp_expired"
    assert len(table_rows(mail_app, sa.select(Session.id))) == 1


def test_token_hash_works_once(mail_app, mapi, smtp_server):
    email, _, message = signup_unconfirmed(mapi, smtp_server)
    body = {"type": "signup", "token_hash": link_params(links(message)[0])["token"]}
    assert mapi.post("/verify", json=body).status_code == 200

    assert mapi.post("/verify", json=body).status_code == 403


def test_a_new_code_invalidates_the_previous_one(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/otp", json={"email": email}).status_code == 200
    first = last_mail(smtp_server, email, 1)
    sent = 1
    second = first
    while code(second) == code(first):  # a repeat of six random digits is possible, if rare
        assert mapi.post("/otp", json={"email": email}).status_code == 200
        sent += 1
        second = last_mail(smtp_server, email, sent)
    assert len(ott_rows(mail_app, user_id)) == 1

    stale_code = mapi.post("/verify", json={"type": "magiclink", "token": code(first),
                                            "email": email})
    stale_link = mapi.get(path_of(links(first)[0]))

    assert stale_code.status_code == 403
    assert stale_link.headers["Location"] == f"{SITE}#{LINK_ERROR}"
    assert mapi.post("/verify", json={"type": "magiclink", "token": code(second),
                                      "email": email}).status_code == 200


def test_banned_user_code_is_refused(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    assert mapi.post("/otp", json={"email": email}).status_code == 200
    message = last_mail(smtp_server, email)
    assert mapi.admin("PUT", f"/admin/users/{user_id}",
                      json={"ban_duration": "1h"}).status_code == 200

    response = mapi.post("/verify", json={"type": "magiclink", "token": code(message),
                                          "email": email})

    assert response.status_code == 403
    assert response.get_json() == {"code": "user_banned", "message": "User is banned"}


def test_secure_email_change_by_codes(mail_app, mapi, smtp_server):
    email, user_id = confirmed_user(mapi)
    new = new_email()
    session = signed_in(mapi, email)
    assert mapi.put("/user", token=session["access_token"], json={"email": new}).status_code == 200
    current_code = code(last_mail(smtp_server, email))
    new_code = code(last_mail(smtp_server, new))

    first = mapi.post("/verify", json={"type": "email_change", "token": current_code,
                                       "email": email})

    assert first.status_code == 200
    assert first.get_json() == {"msg": HALF_WAY, "code": "200"}
    assert user_by_id(mail_app, user_id).email == email
    assert table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(user_id))) != []

    second = mapi.post("/verify", json={"type": "email_change", "token": new_code,
                                        "email": new})

    assert second.status_code == 200, second.get_json()
    assert second.get_json()["user"]["email"] == new
    assert_works(mapi, second.get_json(), new)
    user = user_by_id(mail_app, user_id)
    assert user.email == new and user.email_change == "" and user.email_change_confirm_status == 0
    assert email_identity(mail_app, user_id).identity_data["email"] == new
    assert ott_rows(mail_app, user_id) == []


def test_pkce_marked_code_still_returns_a_session(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(
        mapi, smtp_server, code_challenge="c" * 43, code_challenge_method="plain")
    assert user_by_id(mail_app, user_id).confirmation_token.startswith("pkce_")

    by_code = mapi.post("/verify", json={"type": "signup", "token": code(message),
                                         "email": email})

    assert by_code.status_code == 200, by_code.get_json()
    assert_works(mapi, by_code.get_json(), email)
    assert_confirmed_effects(mail_app, user_id)


def test_pkce_marked_token_hash_still_returns_a_session(mail_app, mapi, smtp_server):
    email, user_id, message = signup_unconfirmed(
        mapi, smtp_server, code_challenge="c" * 43, code_challenge_method="plain")
    token = link_params(links(message)[0])["token"]
    assert token.startswith("pkce_")

    response = mapi.post("/verify", json={"type": "signup", "token_hash": token})

    assert response.status_code == 200, response.get_json()
    assert_works(mapi, response.get_json(), email)
