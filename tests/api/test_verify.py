"""GET /verify (email links) and POST /verify (codes and token hashes), through a real SMTP sink.

Every test reads the email the server sent, follows its link or types its code, and asserts the
redirect or the JSON, that the session works, and what changed in the database.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import Identity, Session, User

from ..conftest import ApiClient, api_for, table_rows
from ..factories import (
    PASSWORD,
    audit_actions,
    create_user,
    fragment_pairs,
    freeze_clock,
    gotrue_hash,
    link_hash,
    mail_to,
    one_time_tokens,
    path_of,
    query,
    sign_in,
    unique_email,
    update_user,
    user_row,
    verified_claims,
)
from ..support.smtp import code, links

SITE = "http://localhost:3000"
ALLOWED = "https://app.example.com/**"
SESSION_KEYS = ["access_token", "expires_at", "expires_in", "refresh_token", "sb", "token_type",
                "type"]
LINK_ERROR = ("error=access_denied&error_code=otp_expired"
              "&error_description=Email+link+is+invalid+or+has+expired&sb=")
HALF_WAY = ("Confirmation link accepted. Please proceed to confirm link sent to the other "
            "email")
# No resend spacing (tests resend at will) and app.example.com allowed as a redirect.
VERIFY_SETTINGS = {"smtp.max_frequency": timedelta(0), "uri_allow_list": (ALLOWED,)}


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def mail_app(make_mail_app):
    return make_mail_app(**VERIFY_SETTINGS)


def email_identity(app, user_id) -> Identity:
    rows = table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(str(user_id)), Identity.provider == "email"))
    assert len(rows) == 1
    return rows[0][0]


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
    assert abs(int(values["expires_at"]) - verified_claims(values["access_token"])["exp"]) <= 1
    return values


def assert_works(api: ApiClient, session: dict, email: str) -> dict:
    """The access token is accepted by GET /user and the refresh token rotates."""
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == email
    refreshed = api.refresh(session["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    return response.get_json()


def signup_unconfirmed(api: ApiClient, smtp_server, email: str | None = None, **body):
    email = email or unique_email("v")
    response = api.signup(email, PASSWORD, **body)
    assert response.status_code == 200, response.get_json()
    assert "access_token" not in response.get_json()
    return email, response.get_json()["id"], mail_to(smtp_server, email)


def confirmed_user(api: ApiClient, email: str | None = None) -> tuple[str, str]:
    """A confirmed user with PASSWORD (made by the admin API, no mail): address and id."""
    email = email or unique_email("v")
    return email, create_user(api, email, password=PASSWORD)["id"]


def assert_confirmed_effects(app, user_id) -> User:
    """email_confirmed_at set, email_verified everywhere, no pending token left at all."""
    user = user_row(app, user_id)
    assert user.email_confirmed_at is not None
    assert user.raw_user_meta_data["email_verified"] is True
    assert email_identity(app, user_id).identity_data["email_verified"] is True
    assert user.confirmation_token == "" and user.recovery_token == ""
    assert one_time_tokens(app, user_id) == {}
    assert user.raw_app_meta_data["provider"] == "email"
    assert user.raw_app_meta_data["providers"] == ["email"]
    return user


# --- GET /verify: every type -------------------------------------------------------------------


def test_signup_link_confirms_and_signs_in(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    link = links(message)[0]
    params = query(link)
    assert params["type"] == "signup" and params["redirect_to"] == SITE
    assert urlsplit(link).netloc == "localhost:9999" and urlsplit(link).path == "/verify"
    # Another pending token of the user must go too: verifying clears every OTT row.
    mail_api.post("/recover", json={"email": email})
    assert len(one_time_tokens(mail_app, user_id)) == 2
    # The providers list is recomputed from the identities, whatever it held.
    update_user(mail_app, user_id, raw_app_meta_data={"provider": "email", "providers": []})

    response = mail_api.get(path_of(link))

    session = assert_session_redirect(response, "signup")
    token_claims = verified_claims(session["access_token"])
    assert token_claims["sub"] == user_id
    assert [entry["method"] for entry in token_claims["amr"]] == ["otp"]
    body = assert_works(mail_api, session, email)
    assert body["email_confirmed_at"] and body["user_metadata"]["email_verified"] is True
    assert_confirmed_effects(mail_app, user_id)
    assert {"user_signedup", "login"} <= set(audit_actions(mail_app, user_id))


def test_invite_link_confirms_and_gives_a_password(mail_app, mail_api, smtp_server):
    email = unique_email("v")
    response = mail_api.admin("POST", "/invite", json={"email": email})
    assert response.status_code == 200, response.get_json()
    user_id = response.get_json()["id"]
    assert user_row(mail_app, user_id).encrypted_password in ("", None)
    link = links(mail_to(smtp_server, email))[0]
    assert query(link)["type"] == "invite"

    session = assert_session_redirect(mail_api.get(path_of(link)), "invite")

    assert_works(mail_api, session, email)
    user = assert_confirmed_effects(mail_app, user_id)
    assert user.invited_at is not None
    assert user.encrypted_password and user.encrypted_password.startswith("$2")
    assert "invite_accepted" in audit_actions(mail_app, user_id)


def test_magic_link_signs_in(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/magiclink", json={"email": email}).status_code == 200
    link = links(mail_to(smtp_server, email))[0]
    assert query(link)["type"] == "magiclink"
    assert one_time_tokens(mail_app, user_id)["recovery_token"].token_hash == \
        link_hash(query(link)["token"])

    session = assert_session_redirect(mail_api.get(path_of(link)), "magiclink")

    assert_works(mail_api, session, email)
    assert_confirmed_effects(mail_app, user_id)
    assert "login" in audit_actions(mail_app, user_id)


def test_recovery_link_signs_in(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/recover", json={"email": email}).status_code == 200
    link = links(mail_to(smtp_server, email))[0]
    assert query(link)["type"] == "recovery"

    session = assert_session_redirect(mail_api.get(path_of(link)), "recovery")

    assert_works(mail_api, session, email)
    assert_confirmed_effects(mail_app, user_id)
    # The recovery session may set a new password.
    changed = mail_api.put("/user", token=session["access_token"],
                           json={"password": "new-pass-456"})
    assert changed.status_code == 200, changed.get_json()
    assert mail_api.login(email, "new-pass-456").status_code == 200


def test_recovery_link_confirms_an_unconfirmed_user(mail_app, mail_api, smtp_server):
    email, user_id, _ = signup_unconfirmed(mail_api, smtp_server)
    assert mail_api.post("/recover", json={"email": email}).status_code == 200
    link = links(mail_to(smtp_server, email, count=2))[0]

    assert_session_redirect(mail_api.get(path_of(link)), "recovery")

    assert_confirmed_effects(mail_app, user_id)


def test_secure_email_change_needs_both_links(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    new = unique_email("v")
    session = sign_in(mail_api, email)
    response = mail_api.put("/user", token=session["access_token"], json={"email": new})
    assert response.status_code == 200, response.get_json()
    current_link = links(mail_to(smtp_server, email))[0]
    new_link = links(mail_to(smtp_server, new))[0]
    assert query(current_link)["type"] == query(new_link)["type"] == "email_change"
    assert set(one_time_tokens(mail_app, user_id)) == {
        "email_change_token_current", "email_change_token_new"}

    first = mail_api.get(path_of(current_link))

    assert first.status_code == 303
    assert first.headers["Location"] == (
        SITE + "#message=Confirmation+link+accepted.+Please+proceed+to+confirm+link+sent+to+the"
        "+other+email&sb=")
    user = user_row(mail_app, user_id)
    assert user.email == email and user.email_change == new
    assert user.email_change_confirm_status == 1
    assert user.email_change_token_current == "" and user.email_change_token_new
    assert list(one_time_tokens(mail_app, user_id)) == [
        "email_change_token_new"]
    # The half already used cannot be replayed.
    assert mail_api.get(path_of(current_link)).headers["Location"] == f"{SITE}#{LINK_ERROR}"

    second = assert_session_redirect(mail_api.get(path_of(new_link)), "email_change")

    assert_works(mail_api, second, new)
    user = user_row(mail_app, user_id)
    assert user.email == new and user.email_change == ""
    assert user.email_change_confirm_status == 0
    assert user.email_change_token_new == "" and user.email_change_token_current == ""
    assert user.raw_user_meta_data["email"] == new
    identity = email_identity(mail_app, user_id)
    assert identity.identity_data["email"] == new and identity.email == new
    assert one_time_tokens(mail_app, user_id) == {}
    assert "user_modified" in audit_actions(mail_app, user_id)
    assert mail_api.login(new).status_code == 200
    assert mail_api.login(email).status_code == 400


def test_secure_email_change_links_work_in_either_order(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    new = unique_email("v")
    session = sign_in(mail_api, email)
    changed = mail_api.put("/user", token=session["access_token"], json={"email": new})
    assert changed.status_code == 200
    current_link = links(mail_to(smtp_server, email))[0]
    new_link = links(mail_to(smtp_server, new))[0]

    first = mail_api.get(path_of(new_link))
    assert dict(fragment_pairs(first.headers["Location"])) == {"message": HALF_WAY, "sb": ""}
    assert_session_redirect(mail_api.get(path_of(current_link)), "email_change")

    assert user_row(mail_app, user_id).email == new


def test_email_change_without_secure_mode_needs_one_link(make_mail_app, smtp_server,
                                                         service_role_token):
    app = make_mail_app(**VERIFY_SETTINGS, **{
        "mailer.secure_email_change_enabled": False})
    api = api_for(app, service_role_token)
    email, user_id = confirmed_user(api)
    new = unique_email("v")
    session = sign_in(api, email)
    assert api.put("/user", token=session["access_token"], json={"email": new}).status_code == 200
    assert smtp_server.to(email) == []
    link = links(mail_to(smtp_server, new))[0]

    assert_session_redirect(api.get(path_of(link)), "email_change")

    assert user_row(app, user_id).email == new


@pytest.mark.parametrize("flow", ["signup", "magiclink"])
def test_type_email_covers_signup_and_magic_link(mail_app, mail_api, smtp_server, flow):
    if flow == "signup":
        email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    else:
        email, user_id = confirmed_user(mail_api)
        assert mail_api.post("/otp", json={"email": email}).status_code == 200
        message = mail_to(smtp_server, email)
    token = query(links(message)[0])["token"]

    response = mail_api.get("/verify?" + urlencode({"token": token, "type": "email"}))

    # GoTrue reports the concrete type the token turned out to be.
    session = assert_session_redirect(response, flow)
    assert_works(mail_api, session, email)
    assert_confirmed_effects(mail_app, user_id)


# --- GET /verify: errors -----------------------------------------------------------------------


def test_unknown_link_redirects_with_otp_expired(mail_api):
    response = mail_api.get("/verify?token=" + "0" * 56 + "&type=signup")

    assert response.status_code == 303
    assert response.headers["Location"] == f"{SITE}#{LINK_ERROR}"


def test_expired_link_is_refused_and_changes_nothing(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    sent_at = user_row(mail_app, user_id).confirmation_sent_at
    otp_exp = mail_app.extensions["gotrue"].settings.mailer.otp_exp
    link = links(message)[0]

    freeze_clock(mail_app, sent_at + timedelta(seconds=otp_exp + 1))
    response = mail_api.get(path_of(link))

    assert response.status_code == 303
    assert response.headers["Location"] == f"{SITE}#{LINK_ERROR}"
    user = user_row(mail_app, user_id)
    assert user.email_confirmed_at is None and user.confirmation_token
    assert len(one_time_tokens(mail_app, user_id)) == 1
    assert table_rows(mail_app, sa.select(Session.id)) == []
    # Just inside the lifetime the same link still works.
    freeze_clock(mail_app, sent_at + timedelta(seconds=otp_exp - 1))
    assert mail_api.get(path_of(link)).headers["Location"].startswith(SITE + "#access_token=")


def test_link_works_once(mail_app, mail_api, smtp_server):
    _, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    link = links(message)[0]
    assert_session_redirect(mail_api.get(path_of(link)), "signup")

    again = mail_api.get(path_of(link))

    assert again.status_code == 303
    assert again.headers["Location"] == f"{SITE}#{LINK_ERROR}"
    assert len(table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(user_id)))) == 1


def test_banned_user_link_redirects_with_user_banned(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/magiclink", json={"email": email}).status_code == 200
    link = links(mail_to(smtp_server, email))[0]
    banned = mail_api.admin("PUT", f"/admin/users/{user_id}", json={"ban_duration": "24h"})
    assert banned.status_code == 200, banned.get_json()

    response = mail_api.get(path_of(link))

    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"{SITE}#error=access_denied&error_code=user_banned"
        "&error_description=User+is+banned&sb=")
    assert user_row(mail_app, user_id).recovery_token
    assert table_rows(mail_app, sa.select(Session.id)) == []


def test_pkce_link_errors_repeat_in_the_query(mail_api):
    response = mail_api.get("/verify?" + urlencode({
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
def test_missing_token_or_type_is_a_json_400(mail_api, query, message):
    response = mail_api.get("/verify?" + query)

    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed", "message": message}


@pytest.mark.parametrize("verify_type", ["sms", "phone_change", "bogus"])
def test_unsupported_link_types_redirect_with_invalid_request(mail_api, verify_type):
    response = mail_api.get(f"/verify?token=abc&type={verify_type}")

    assert response.status_code == 303
    pairs = dict(fragment_pairs(response.headers["Location"]))
    assert pairs["error"] == "invalid_request" and pairs["error_code"] == "validation_failed"


@pytest.mark.parametrize("redirect_to", [
    "https://evil.example.org/", "//evil.example.org", "https://app.example.com.evil.org/",
    "http://localhost:3000@evil.example.org/", "javascript:alert(1)",
])
def test_redirect_outside_the_allow_list_goes_to_the_site(mail_app, mail_api, smtp_server,
                                                          redirect_to):
    email, _, message = signup_unconfirmed(mail_api, smtp_server)
    token = query(links(message)[0])["token"]

    response = mail_api.get("/verify?" + urlencode({
        "token": token, "type": "signup", "redirect_to": redirect_to}))

    session = assert_session_redirect(response, "signup", base=SITE)
    assert_works(mail_api, session, email)


def test_redirect_in_the_allow_list_is_honoured(mail_app, mail_api, smtp_server):
    target = "https://app.example.com/welcome/page"
    email, _, message = signup_unconfirmed(mail_api, smtp_server)
    token = query(links(message)[0])["token"]

    response = mail_api.get("/verify?" + urlencode({
        "token": token, "type": "signup", "redirect_to": target}))

    assert_session_redirect(response, "signup", base=target)


def test_signup_redirect_to_travels_in_the_link(mail_api, smtp_server):
    target = "https://app.example.com/after-signup"
    email = unique_email("v")
    assert mail_api.post("/signup?" + urlencode({"redirect_to": target}),
                         json={"email": email, "password": PASSWORD}).status_code == 200
    link = links(mail_to(smtp_server, email))[0]
    assert query(link)["redirect_to"] == target

    assert_session_redirect(mail_api.get(path_of(link)), "signup", base=target)


def test_head_does_not_spend_the_link(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    link = links(message)[0]

    probe = mail_api.client.head(path_of(link))

    assert probe.status_code == 200 and "Location" not in probe.headers
    user = user_row(mail_app, user_id)
    assert user.email_confirmed_at is None and user.confirmation_token
    assert table_rows(mail_app, sa.select(Session.id)) == []
    assert_session_redirect(mail_api.get(path_of(link)), "signup")


# --- POST /verify ------------------------------------------------------------------------------


def test_signup_code_returns_a_session(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)

    response = mail_api.post("/verify", json={"type": "signup", "token": code(message),
                                              "email": email.upper()})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["user"]["id"] == user_id and body["user"]["email_confirmed_at"]
    assert [entry["method"] for entry in verified_claims(body["access_token"])["amr"]] == ["otp"]
    assert_works(mail_api, body, email)
    assert_confirmed_effects(mail_app, user_id)


@pytest.mark.parametrize("verify_type", ["signup", "email"])
def test_signup_token_hash_returns_a_session(mail_app, mail_api, smtp_server, verify_type):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    token = query(links(message)[0])["token"]
    assert len(token) == 56 and token != gotrue_hash(email, code(message))

    response = mail_api.post("/verify", json={"type": verify_type, "token_hash": token})

    assert response.status_code == 200, response.get_json()
    assert_works(mail_api, response.get_json(), email)
    assert_confirmed_effects(mail_app, user_id)


@pytest.mark.parametrize("verify_type", ["magiclink", "email"])
def test_magic_link_code_returns_a_session(mail_app, mail_api, smtp_server, verify_type):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/otp", json={"email": email}).status_code == 200
    message = mail_to(smtp_server, email)

    response = mail_api.post("/verify", json={"type": verify_type, "token": code(message),
                                              "email": email})

    assert response.status_code == 200, response.get_json()
    assert_works(mail_api, response.get_json(), email)
    assert user_row(mail_app, user_id).recovery_token == ""
    assert one_time_tokens(mail_app, user_id) == {}


def test_recovery_and_invite_codes_return_sessions(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/recover", json={"email": email}).status_code == 200
    recovered = mail_api.post("/verify", json={
        "type": "recovery", "token": code(mail_to(smtp_server, email)), "email": email})
    assert recovered.status_code == 200, recovered.get_json()
    assert_works(mail_api, recovered.get_json(), email)

    invited = unique_email("v")
    assert mail_api.admin("POST", "/invite", json={"email": invited}).status_code == 200
    accepted = mail_api.post("/verify", json={
        "type": "invite", "token": code(mail_to(smtp_server, invited)), "email": invited})
    assert accepted.status_code == 200, accepted.get_json()
    assert_works(mail_api, accepted.get_json(), invited)
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
def test_post_shape_rules(mail_api, body, message):
    response = mail_api.post("/verify", json=body)

    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed", "message": message}


def test_bad_email_is_a_422(mail_api):
    response = mail_api.post("/verify", json={"type": "signup", "token": "123456",
                                              "email": "not-an-email"})

    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"


def test_wrong_code_is_refused(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    wrong = f"{(int(code(message)) + 1) % 1000000:06d}"

    response = mail_api.post("/verify", json={"type": "signup", "token": wrong, "email": email})

    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired",
                                   "message": "Token has expired or is invalid"}
    assert response.headers["x-sb-error-code"] == "otp_expired"
    assert user_row(mail_app, user_id).email_confirmed_at is None
    # The right code is not spent by the wrong one.
    assert mail_api.post("/verify", json={"type": "signup", "token": code(message),
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
def test_unknown_codes_are_refused(mail_api, body, message):
    response = mail_api.post("/verify", json=body)

    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired", "message": message}


@pytest.mark.parametrize("body, message", [
    ({"type": "sms", "token_hash": "0" * 56}, "Invalid email verification type"),
    ({"type": "signup", "token": "123456", "phone": "not-a-phone"},
     "Invalid phone number format (E.164 required)"),
])
def test_phone_shapes_are_a_400(mail_api, body, message):
    response = mail_api.post("/verify", json=body)

    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed", "message": message}


def test_code_of_another_type_is_refused(mail_app, mail_api, smtp_server):
    email, _, message = signup_unconfirmed(mail_api, smtp_server)

    response = mail_api.post("/verify", json={"type": "recovery", "token": code(message),
                                              "email": email})

    assert response.status_code == 403 and response.get_json()["code"] == "otp_expired"


def test_expired_code_is_refused(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    sent_at = user_row(mail_app, user_id).confirmation_sent_at
    otp_exp = mail_app.extensions["gotrue"].settings.mailer.otp_exp
    freeze_clock(mail_app, sent_at + timedelta(seconds=otp_exp + 1))

    response = mail_api.post("/verify", json={"type": "signup", "token": code(message),
                                              "email": email})

    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired",
                                   "message": "Token has expired or is invalid"}
    assert user_row(mail_app, user_id).email_confirmed_at is None


def test_shorter_otp_lifetime_applies(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**VERIFY_SETTINGS, **{"mailer.otp_exp": 600})
    api = api_for(app, service_role_token)
    email, user_id, message = signup_unconfirmed(api, smtp_server)
    sent_at = user_row(app, user_id).confirmation_sent_at

    freeze_clock(app, sent_at + timedelta(seconds=601))
    late = api.post("/verify", json={"type": "signup", "token": code(message), "email": email})
    freeze_clock(app, sent_at + timedelta(seconds=599))
    in_time = api.post("/verify", json={"type": "signup", "token": code(message),
                                        "email": email})

    assert late.status_code == 403 and in_time.status_code == 200


def test_code_works_once(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(mail_api, smtp_server)
    body = {"type": "signup", "token": code(message), "email": email}
    assert mail_api.post("/verify", json=body).status_code == 200

    again = mail_api.post("/verify", json=body)

    assert again.status_code == 403 and again.get_json()["code"] == "otp_expired"
    assert len(table_rows(mail_app, sa.select(Session.id))) == 1


def test_token_hash_works_once(mail_app, mail_api, smtp_server):
    email, _, message = signup_unconfirmed(mail_api, smtp_server)
    body = {"type": "signup", "token_hash": query(links(message)[0])["token"]}
    assert mail_api.post("/verify", json=body).status_code == 200

    assert mail_api.post("/verify", json=body).status_code == 403


def test_a_new_code_invalidates_the_previous_one(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/otp", json={"email": email}).status_code == 200
    first = mail_to(smtp_server, email, 1)
    sent = 1
    second = first
    while code(second) == code(first):  # a repeat of six random digits is possible, if rare
        assert mail_api.post("/otp", json={"email": email}).status_code == 200
        sent += 1
        second = mail_to(smtp_server, email, sent)
    assert len(one_time_tokens(mail_app, user_id)) == 1

    stale_code = mail_api.post("/verify", json={"type": "magiclink", "token": code(first),
                                                "email": email})
    stale_link = mail_api.get(path_of(links(first)[0]))

    assert stale_code.status_code == 403
    assert stale_link.headers["Location"] == f"{SITE}#{LINK_ERROR}"
    assert mail_api.post("/verify", json={"type": "magiclink", "token": code(second),
                                          "email": email}).status_code == 200


def test_banned_user_code_is_refused(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    assert mail_api.post("/otp", json={"email": email}).status_code == 200
    message = mail_to(smtp_server, email)
    assert mail_api.admin("PUT", f"/admin/users/{user_id}",
                          json={"ban_duration": "1h"}).status_code == 200

    response = mail_api.post("/verify", json={"type": "magiclink", "token": code(message),
                                              "email": email})

    assert response.status_code == 403
    assert response.get_json() == {"code": "user_banned", "message": "User is banned"}


def test_secure_email_change_by_codes(mail_app, mail_api, smtp_server):
    email, user_id = confirmed_user(mail_api)
    new = unique_email("v")
    session = sign_in(mail_api, email)
    changed = mail_api.put("/user", token=session["access_token"], json={"email": new})
    assert changed.status_code == 200
    current_code = code(mail_to(smtp_server, email))
    new_code = code(mail_to(smtp_server, new))

    first = mail_api.post("/verify", json={"type": "email_change", "token": current_code,
                                           "email": email})

    assert first.status_code == 200
    assert first.get_json() == {"msg": HALF_WAY, "code": "200"}
    assert user_row(mail_app, user_id).email == email
    assert table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(user_id))) != []

    second = mail_api.post("/verify", json={"type": "email_change", "token": new_code,
                                            "email": new})

    assert second.status_code == 200, second.get_json()
    assert second.get_json()["user"]["email"] == new
    assert_works(mail_api, second.get_json(), new)
    user = user_row(mail_app, user_id)
    assert user.email == new and user.email_change == "" and user.email_change_confirm_status == 0
    assert email_identity(mail_app, user_id).identity_data["email"] == new
    assert one_time_tokens(mail_app, user_id) == {}


def test_pkce_marked_code_still_returns_a_session(mail_app, mail_api, smtp_server):
    email, user_id, message = signup_unconfirmed(
        mail_api, smtp_server, code_challenge="c" * 43, code_challenge_method="plain")
    assert user_row(mail_app, user_id).confirmation_token.startswith("pkce_")

    by_code = mail_api.post("/verify", json={"type": "signup", "token": code(message),
                                             "email": email})

    assert by_code.status_code == 200, by_code.get_json()
    assert_works(mail_api, by_code.get_json(), email)
    assert_confirmed_effects(mail_app, user_id)


def test_pkce_link_token_gives_no_session_through_post(mail_app, mail_api, smtp_server):
    # Its session goes through the code verifier (tests/api/test_pkce_verify.py has more).
    email, user_id, message = signup_unconfirmed(
        mail_api, smtp_server, code_challenge="c" * 43, code_challenge_method="plain")
    token = query(links(message)[0])["token"]
    assert token.startswith("pkce_")

    response = mail_api.post("/verify", json={"type": "signup", "token_hash": token})

    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "bad_code_verifier"
    assert user_row(mail_app, user_id).email_confirmed_at is None
