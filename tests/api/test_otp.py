"""POST /otp (email and phone paths) and POST /magiclink (contract sections 3, 7 and 12), through
a real SMTP server: who gets a confirmation and who a magic link, the rows each one writes, the
shared 60 s rule, PKCE, and signing in with the link and the code from the email.

The PKCE pair and the checks of the neutral and 429 answers are shared with the other
passwordless test modules.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import (
    FlowState,
    Identity,
    OneTimeToken,
    RefreshToken,
    Session,
    User,
)

from ..conftest import api_for, email_provider, table_rows
from ..factories import (
    PASSWORD,
    audit_actions,
    count,
    create_user,
    fragment,
    later,
    link_hash,
    mail_log,
    one_time_tokens,
    path_of,
    query,
    token_hash,
    user_row,
    verify_link,
)
from ..support import smtp as smtp_support

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636's pair for CHALLENGE
WAIT_MESSAGE = re.compile(
    r"For security purposes, you can only request this after (\d+) seconds\.")


# --- checks shared by test_otp, test_recover, test_resend and test_reauthenticate ---------------


# Differ on every answer whatever the request: the date and the request's own id.
PER_ANSWER_HEADERS = {"date", "x-request-id"}


def comparable(response) -> tuple:
    """Status, headers (but those of PER_ANSWER_HEADERS) and body bytes: what an enumeration
    probe would compare."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in PER_ANSWER_HEADERS}
    return response.status_code, headers, response.get_data()


def assert_wait_error(response) -> int:
    """A 429 over_email_send_rate_limit saying how long to wait; returns the seconds."""
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == "over_email_send_rate_limit"
    match = WAIT_MESSAGE.fullmatch(body["message"])
    assert match, body["message"]
    seconds = int(match.group(1))
    assert 1 <= seconds <= 60
    assert response.headers["Retry-After"] == str(seconds)
    return seconds


# --- a new address -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/otp", "/magiclink"])
def test_new_address_is_signed_up_and_gets_a_confirmation(make_mail_app, smtp_server, path):
    app = make_mail_app()
    client = api_for(app)
    response = client.post(path + "?redirect_to=http://localhost:3000/welcome",
                           json={"email": "New.Person@Example.com", "data": {"plan": "pro"}})
    assert response.status_code == 200
    assert response.get_json() == {}

    [message] = smtp_server.wait_for("new.person@example.com")
    assert message["Subject"] == "Confirm your email address"
    code = smtp_support.code(message)
    expected = token_hash("new.person@example.com", code)
    link = verify_link(message)
    assert link.startswith("http://localhost:9999/verify?")
    assert query(link) == {"token": query(link)["token"], "type": "signup",
                           "redirect_to": "http://localhost:3000/welcome"}

    user = user_row(app, "new.person@example.com")
    assert user.encrypted_password.startswith("$2")  # a random password nobody knows
    assert user.email_confirmed_at is None
    assert user.confirmation_token == expected
    assert user.confirmation_sent_at is not None
    assert user.recovery_token == "" and user.recovery_sent_at is None
    assert user.raw_user_meta_data == {"sub": str(user.id), "email": "new.person@example.com",
                                       "email_verified": False, "phone_verified": False,
                                       "plan": "pro"}
    assert user.raw_app_meta_data == {"provider": "email", "providers": ["email"]}
    [ott] = one_time_tokens(app, user.id).values()
    assert (ott.token_type.value, ott.token_hash, ott.relates_to) == (
        "confirmation_token", link_hash(query(link)["token"]), "new.person@example.com")
    [identity] = [row[0] for row in table_rows(app, sa.select(Identity))]
    assert identity.provider == "email" and identity.provider_id == str(user.id)
    assert count(app, Session) == 0
    assert audit_actions(app, user.id) == ["user_signedup"]
    [entry] = mail_log(app)
    assert (entry.template, entry.recipient, entry.status) == (
        "confirmation", "new.person@example.com", "sent")

    # The code from the email signs in (type email covers the confirmation).
    verified = client.post("/verify", json={"type": "email", "token": code,
                                            "email": "new.person@example.com"})
    assert verified.status_code == 200, verified.get_data(as_text=True)
    session = verified.get_json()
    assert session["user"]["email_confirmed_at"]
    assert client.get("/user", token=session["access_token"]).status_code == 200
    user = user_row(app, "new.person@example.com")
    assert user.email_confirmed_at is not None and user.confirmation_token == ""
    assert one_time_tokens(app, user.id) == {}


def test_new_address_confirmation_link_signs_in(make_mail_app, smtp_server):
    app = make_mail_app()
    client = api_for(app)
    assert client.post("/magiclink", json={"email": "linky@example.com"}).status_code == 200
    link = verify_link(smtp_server.wait_for("linky@example.com")[0])

    response = client.get(path_of(link))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("http://localhost:3000#")
    values = fragment(location)
    assert values["type"] == "signup" and values["token_type"] == "bearer"
    me = client.get("/user", token=values["access_token"])
    assert me.status_code == 200
    assert me.get_json()["email"] == "linky@example.com"
    assert user_row(app, "linky@example.com").email_confirmed_at is not None
    # Spent: the same link now redirects with the error.
    again = client.get(path_of(link))
    assert again.status_code == 303
    assert fragment(again.headers["Location"])["error_code"] == "otp_expired"


@pytest.mark.parametrize("path", ["/otp", "/magiclink"])
def test_signups_disabled_refuses_a_new_address(make_mail_app, smtp_server, path):
    app = make_mail_app(disable_signup=True)
    response = api_for(app).post(path, json={"email": "nobody@example.com"})
    assert response.status_code == 422
    assert response.get_json() == {"code": "signup_disabled",
                                   "message": "Signups not allowed for this instance"}
    assert count(app, User) == 0
    assert smtp_server.messages == []


def test_create_user_false_for_an_unknown_address_is_otp_disabled(make_mail_app, smtp_server):
    app = make_mail_app()
    response = api_for(app).post("/otp", json={"email": "ghost@example.com",
                                               "create_user": False})
    assert response.status_code == 422
    assert response.get_json() == {"code": "otp_disabled",
                                   "message": "Signups not allowed for otp"}
    assert count(app, User) == 0
    assert mail_log(app) == []
    assert smtp_server.messages == []


def test_autoconfirm_signs_a_new_address_up_and_mails_a_magic_link(make_mail_app, smtp_server):
    app = make_mail_app(**{"mailer.autoconfirm": True})
    client = api_for(app)
    response = client.post("/otp", json={"email": "auto@example.com"})
    assert response.status_code == 200 and response.get_json() == {}

    [message] = smtp_server.wait_for("auto@example.com")
    assert message["Subject"] == "Your sign-in link"
    code = smtp_support.code(message)
    assert query(verify_link(message))["type"] == "magiclink"
    user = user_row(app, "auto@example.com")
    assert user.email_confirmed_at is not None
    assert user.confirmation_token == ""
    assert user.recovery_token == token_hash("auto@example.com", code)
    assert set(one_time_tokens(app, user.id)) == {"recovery_token"}
    # Signing up for a magic link starts no session.
    assert count(app, Session) == 0 and count(app, RefreshToken) == 0
    assert audit_actions(app, user.id) == ["user_signedup", "user_recovery_requested"]

    verified = client.post("/verify", json={"type": "magiclink", "token": code,
                                            "email": "auto@example.com"})
    assert verified.status_code == 200
    assert count(app, Session) == 1


# --- existing users ----------------------------------------------------------------------------


@pytest.mark.parametrize("path, body", [
    ("/otp", {"create_user": False}), ("/otp", {}), ("/magiclink", {})])
def test_confirmed_user_gets_a_magic_link(make_mail_app, smtp_server, service_role_token, path,
                                          body):
    app = make_mail_app()
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "known@example.com", password=PASSWORD)
    before = user_row(app, "known@example.com")
    response = client.post(path, json={"email": "Known@Example.com", "data": {"x": 1}, **body})
    assert response.status_code == 200
    assert response.get_json() == {}

    [message] = smtp_server.wait_for("known@example.com")
    assert message["Subject"] == "Your sign-in link"
    assert "auth@example.com" in message["From"]
    code = smtp_support.code(message)
    expected = token_hash("known@example.com", code)
    link_token = query(verify_link(message))["token"]
    assert query(verify_link(message)) == {
        "token": link_token, "type": "magiclink", "redirect_to": "http://localhost:3000"}
    user = user_row(app, "known@example.com")
    assert user.recovery_token == expected
    assert user.recovery_sent_at is not None
    assert user.confirmation_token == ""
    assert user.encrypted_password == before.encrypted_password
    assert user.raw_user_meta_data == before.raw_user_meta_data  # data is for new users only
    [ott] = one_time_tokens(app, user.id).values()
    assert (ott.token_type.value, ott.token_hash, ott.relates_to) == (
        "recovery_token", link_hash(link_token), "known@example.com")
    assert audit_actions(app, created["id"]).count("user_recovery_requested") == 1
    assert count(app, Session) == 0

    verified = client.post("/verify", json={"type": "magiclink", "token": code,
                                            "email": "known@example.com"})
    assert verified.status_code == 200, verified.get_data(as_text=True)
    session = verified.get_json()
    assert session["user"]["id"] == created["id"]
    assert client.get("/user", token=session["access_token"]).status_code == 200
    assert user_row(app, "known@example.com").recovery_token == ""
    assert one_time_tokens(app, user.id) == {}
    reused = client.post("/verify", json={"type": "magiclink", "token": code,
                                          "email": "known@example.com"})
    assert reused.status_code == 403
    assert reused.get_json()["code"] == "otp_expired"


def test_magic_link_from_the_email_signs_in(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(uri_allow_list=("https://app.example.org/**",))
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "link@example.com", password=PASSWORD)
    response = client.post("/magiclink?redirect_to=https://app.example.org/after",
                           json={"email": "link@example.com"})
    assert response.status_code == 200
    link = verify_link(smtp_server.wait_for("link@example.com")[0])
    assert query(link)["redirect_to"] == "https://app.example.org/after"

    followed = client.get(path_of(link))
    assert followed.status_code == 303
    location = followed.headers["Location"]
    assert location.startswith("https://app.example.org/after#")
    values = fragment(location)
    assert values["type"] == "magiclink" and values["sb"] == ""
    me = client.get("/user", token=values["access_token"])
    assert me.get_json()["id"] == created["id"]


def test_the_email_verify_type_takes_a_magic_link_code(make_mail_app, smtp_server,
                                                       service_role_token):
    app = make_mail_app()
    client = api_for(app)
    create_user(api_for(app, service_role_token), "either@example.com", password=PASSWORD)
    client.post("/otp", json={"email": "either@example.com"})
    code = smtp_support.code(smtp_server.wait_for("either@example.com")[0])
    wrong = client.post("/verify", json={"type": "email", "token": "000000" if code != "000000"
                                         else "111111", "email": "either@example.com"})
    assert wrong.status_code == 403
    verified = client.post("/verify", json={"type": "email", "token": code,
                                            "email": "either@example.com"})
    assert verified.status_code == 200
    assert verified.get_json()["user"]["email"] == "either@example.com"


def test_unconfirmed_user_gets_the_confirmation_again(make_mail_app, smtp_server):
    app = make_mail_app()
    client = api_for(app)
    signed_up = client.signup("pending@example.com", "first-password")
    assert signed_up.status_code == 200
    first_code = smtp_support.code(smtp_server.wait_for("pending@example.com")[0])
    before = user_row(app, "pending@example.com")

    # Inside the window of the signup's confirmation.
    too_soon = client.post("/otp", json={"email": "pending@example.com"})
    assert_wait_error(too_soon)
    assert len(smtp_server.to("pending@example.com")) == 1

    later(app, 61)
    response = client.post("/otp", json={"email": "pending@example.com", "data": {"y": 2}})
    assert response.status_code == 200 and response.get_json() == {}
    second = smtp_server.wait_for("pending@example.com", count=2)[1]
    assert second["Subject"] == "Confirm your email address"
    code = smtp_support.code(second)
    user = user_row(app, "pending@example.com")
    assert user.confirmation_token == token_hash("pending@example.com", code)
    assert user.recovery_token == ""
    # Whoever asked did not present the password, which may be a stranger's who signed up
    # first with the address: confirming must not activate it.
    assert user.encrypted_password == "" != before.encrypted_password
    assert user.raw_user_meta_data == before.raw_user_meta_data
    assert count(app, User) == 1
    assert audit_actions(app, user.id) == ["user_signedup", "user_confirmation_requested"]
    # The new code replaced the first one.
    if first_code != code:
        stale = client.post("/verify", json={"type": "signup", "token": first_code,
                                             "email": "pending@example.com"})
        assert stale.status_code == 403
    assert client.post("/verify", json={"type": "signup", "token": code,
                                        "email": "pending@example.com"}).status_code == 200
    assert client.login("pending@example.com", "first-password").status_code == 400


def test_signups_disabled_also_refuses_an_unconfirmed_address(make_mail_app, smtp_server):
    app = make_mail_app()
    assert api_for(app).signup("waiting@example.com").status_code == 200
    smtp_server.wait_for("waiting@example.com")
    closed = make_mail_app(disable_signup=True)
    later(closed, 120)
    response = api_for(closed).post("/otp", json={"email": "waiting@example.com"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "signup_disabled"
    assert len(smtp_server.to("waiting@example.com")) == 1


def test_signups_disabled_still_mails_a_confirmed_user(make_mail_app, smtp_server,
                                                       service_role_token):
    app = make_mail_app(disable_signup=True)
    create_user(api_for(app, service_role_token), "member@example.com", password=PASSWORD)
    response = api_for(app).post("/otp", json={"email": "member@example.com"})
    assert response.status_code == 200
    [message] = smtp_server.wait_for("member@example.com")
    assert message["Subject"] == "Your sign-in link"


def test_autoconfirm_mails_an_unconfirmed_user_a_link_that_confirms_on_use(
        make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**{"mailer.autoconfirm": True})
    created = api_for(app, service_role_token).admin(
        "POST", "/admin/users", json={"email": "unsure@example.com", "password": "pw-123456"})
    assert created.status_code == 200
    client = api_for(app)
    assert client.post("/otp", json={"email": "unsure@example.com"}).status_code == 200
    [message] = smtp_server.wait_for("unsure@example.com")
    assert message["Subject"] == "Your sign-in link"
    # Asking for a link proves nothing: the address is confirmed only when the link is used.
    assert user_row(app, "unsure@example.com").email_confirmed_at is None
    code = smtp_support.code(message)
    verified = client.post("/verify", json={"type": "magiclink", "token": code,
                                            "email": "unsure@example.com"})
    assert verified.status_code == 200
    assert user_row(app, "unsure@example.com").email_confirmed_at is not None


# --- the 60 s rule, shared with /recover -------------------------------------------------------


def test_magic_link_and_recovery_share_the_60_second_rule(make_mail_app, smtp_server,
                                                          service_role_token):
    app = make_mail_app()
    client = api_for(app)
    create_user(api_for(app, service_role_token), "often@example.com", password=PASSWORD)
    assert client.post("/magiclink", json={"email": "often@example.com"}).status_code == 200
    first = user_row(app, "often@example.com")

    for path in ("/magiclink", "/otp", "/recover"):
        assert_wait_error(client.post(path, json={"email": "often@example.com"}))
    assert len(smtp_server.to("often@example.com")) == 1
    unchanged = user_row(app, "often@example.com")
    assert unchanged.recovery_token == first.recovery_token
    assert unchanged.recovery_sent_at == first.recovery_sent_at

    later(app, 30)
    assert 29 <= assert_wait_error(client.post("/otp", json={"email": "often@example.com"})) <= 31
    later(app, 61)
    recovered = client.post("/recover", json={"email": "often@example.com"})
    assert recovered.status_code == 200
    mails = smtp_server.wait_for("often@example.com", count=2)
    assert [m["Subject"] for m in mails] == ["Your sign-in link", "Reset your password"]
    after = user_row(app, "often@example.com")
    assert after.recovery_token == token_hash("often@example.com", smtp_support.code(mails[1]))
    # The recovery replaced the magic link: its code no longer works.
    old_code = smtp_support.code(mails[0])
    if old_code != smtp_support.code(mails[1]):
        stale = client.post("/verify", json={"type": "magiclink", "token": old_code,
                                             "email": "often@example.com"})
        assert stale.status_code == 403


# --- PKCE --------------------------------------------------------------------------------------


def test_pkce_magic_link_redirects_with_a_code_for_the_token_grant(make_mail_app, smtp_server,
                                                                   service_role_token):
    app = make_mail_app()
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "pkce@example.com", password=PASSWORD)
    response = client.post("/otp?redirect_to=http://localhost:3000/cb", json={
        "email": "pkce@example.com", "code_challenge": CHALLENGE,
        "code_challenge_method": "s256"})
    assert response.status_code == 200 and response.get_json() == {}
    user = user_row(app, "pkce@example.com")
    assert user.recovery_token.startswith("pkce_")
    [flow] = [row[0] for row in table_rows(app, sa.select(FlowState))]
    assert flow.user_id == user.id
    assert flow.authentication_method == "magiclink"
    assert flow.code_challenge == CHALLENGE
    assert flow.code_challenge_method.value == "s256"
    assert flow.auth_code_issued_at is None
    message = smtp_server.wait_for("pkce@example.com")[0]
    code = smtp_support.code(message)
    assert user.recovery_token == "pkce_" + token_hash("pkce@example.com", code)
    link = verify_link(message)
    [ott] = one_time_tokens(app, user.id).values()
    assert ott.token_hash == link_hash(query(link)["token"])

    followed = client.get(path_of(link))
    assert followed.status_code == 303
    location = followed.headers["Location"]
    assert location.startswith("http://localhost:3000/cb?code=")
    assert parse_qs(urlsplit(location).query)["code"] == [flow.auth_code]

    wrong = client.post("/token?grant_type=pkce",
                        json={"auth_code": flow.auth_code, "code_verifier": "x" * 43})
    assert wrong.status_code == 400
    assert wrong.get_json()["code"] == "bad_code_verifier"
    exchanged = client.post("/token?grant_type=pkce",
                            json={"auth_code": flow.auth_code, "code_verifier": VERIFIER})
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)
    assert exchanged.get_json()["user"]["id"] == created["id"]
    assert count(app, FlowState) == 0
    reused = client.post("/token?grant_type=pkce",
                         json={"auth_code": flow.auth_code, "code_verifier": VERIFIER})
    assert reused.status_code == 404
    assert reused.get_json()["code"] == "flow_state_not_found"


def test_pkce_for_a_new_address_makes_a_signup_flow(make_mail_app, smtp_server):
    app = make_mail_app()
    response = api_for(app).post("/magiclink", json={
        "email": "fresh.pkce@example.com", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256"})
    assert response.status_code == 200
    user = user_row(app, "fresh.pkce@example.com")
    assert user.confirmation_token.startswith("pkce_")
    [flow] = [row[0] for row in table_rows(app, sa.select(FlowState))]
    assert (flow.user_id, flow.authentication_method) == (user.id, "email/signup")
    smtp_server.wait_for("fresh.pkce@example.com")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/otp", "/magiclink"])
@pytest.mark.parametrize("change, message", [
    ({"enabled": False}, "Email logins are disabled"),
    ({"magic_link_enabled": False}, "Login with magic link is disabled"),
])
def test_email_or_magic_link_provider_off_is_422(make_mail_app, smtp_server, settings,
                                                 service_role_token, path, change, message):
    app = make_mail_app(**email_provider(settings, **change))
    create_user(api_for(app, service_role_token), "off@example.com", password=PASSWORD)
    for email in ("off@example.com", "unknown@example.com"):
        response = api_for(app).post(path, json={"email": email})
        assert response.status_code == 422
        assert response.get_json() == {"code": "email_provider_disabled", "message": message}
    assert count(app, User) == 1
    assert user_row(app, "off@example.com").recovery_token == ""
    assert smtp_server.messages == []


OTP_SHAPE_ERRORS = [
    ("email-and-phone", {"email": "a@example.com", "phone": "+15555550100"}, 400,
     "validation_failed", "Only an email address or phone number should be provided"),
    ("email-and-channel", {"email": "a@example.com", "channel": "sms"}, 400,
     "validation_failed", "Channel should only be specified with Phone OTP"),
    ("neither", {}, 400, "validation_failed", "One of email or phone must be set"),
    ("bad-email", {"email": "not-an-email"}, 400, "validation_failed", None),
    ("half-pkce", {"email": "a@example.com", "code_challenge": CHALLENGE}, 400,
     "validation_failed", "PKCE flow requires code_challenge_method and code_challenge"),
    ("bad-method", {"email": "a@example.com", "code_challenge": CHALLENGE,
                    "code_challenge_method": "md5"}, 400, "validation_failed", None),
    ("data-not-object", {"email": "a@example.com", "data": "x"}, 400, "bad_json", None),
    ("create-user-not-bool", {"email": "a@example.com", "create_user": "no"}, 400,
     "bad_json", None),
]


@pytest.mark.parametrize("body, status, code, message", [case[1:] for case in OTP_SHAPE_ERRORS],
                         ids=[case[0] for case in OTP_SHAPE_ERRORS])
def test_otp_refuses_malformed_requests(make_mail_app, smtp_server, body, status, code, message):
    app = make_mail_app(**{"external.phone_enabled": True})
    response = api_for(app).post("/otp", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["code"] == code
    if message:
        assert response.get_json()["message"] == message
    assert count(app, User) == 0 and count(app, FlowState) == 0
    assert smtp_server.messages == []


@pytest.mark.parametrize("body, status, code", [
    ({}, 422, "validation_failed"),
    ({"email": ""}, 422, "validation_failed"),
    ({"email": "not-an-email"}, 400, "validation_failed"),
    ({"email": "a@example.com", "code_challenge_method": "s256"}, 400, "validation_failed"),
])
def test_magiclink_refuses_malformed_requests(make_mail_app, smtp_server, body, status, code):
    app = make_mail_app()
    response = api_for(app).post("/magiclink", json=body)
    assert response.status_code == status
    assert response.get_json()["code"] == code
    assert count(app, User) == 0
    assert smtp_server.messages == []


def test_empty_or_invalid_body_is_bad_json(make_mail_app):
    app = make_mail_app()
    client = api_for(app)
    for path in ("/otp", "/magiclink"):
        for data in ("", "{not json", "[]"):
            response = client.post(path, data=data)
            assert response.status_code == 400
            assert response.get_json()["code"] == "bad_json"


def test_phone_path(make_mail_app):
    off = make_mail_app()
    response = api_for(off).post("/otp", json={"phone": "+15555550100"})
    assert response.status_code == 400
    assert response.get_json() == {"code": "phone_provider_disabled",
                                   "message": "Unsupported phone provider"}
    # create_user:false is judged first, as GoTrue does.
    response = api_for(off).post("/otp", json={"phone": "+15555550100",
                                               "create_user": False})
    assert response.status_code == 422
    assert response.get_json()["code"] == "otp_disabled"

    on = make_mail_app(**{"external.phone_enabled": True})
    bad = api_for(on).post("/otp", json={"phone": "12ab"})
    assert bad.status_code == 400
    assert bad.get_json()["message"] == "Invalid phone number format (E.164 required)"
    channel = api_for(on).post("/otp", json={"phone": "+15555550100", "channel": "pigeon"})
    assert channel.status_code == 400
    # No SMS provider is configured: refused before anything is written (texted codes:
    # tests/api/phone/test_phone_otp.py).
    unsent = api_for(on).post("/otp", json={"phone": "+15555550100"})
    assert unsent.status_code == 500
    assert unsent.get_json() == {"code": "unexpected_failure",
                                 "message": "Unable to get SMS provider"}
    assert count(app=on, model=User) == 0


# --- SMTP failures -----------------------------------------------------------------------------


def test_smtp_refusal_is_logged_not_answered(make_mail_app, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Message rejected"
    app = make_mail_app()
    # The email goes out after the answer, which therefore cannot tell (no enumeration).
    response = api_for(app).post("/otp", json={"email": "refused@example.com"})
    assert (response.status_code, response.get_json()) == (200, {})
    # The user stays signed up; the code nobody received is forgotten.
    user = user_row(app, "refused@example.com")
    assert user.confirmation_token == "" and user.confirmation_sent_at is None
    assert count(app, OneTimeToken) == 0
    [entry] = mail_log(app)
    assert (entry.template, entry.recipient, entry.status) == (
        "confirmation", "refused@example.com", "failed")
    assert "554" in entry.error


def test_smtp_failure_on_a_magic_link_keeps_the_user_as_it_was(make_mail_app, smtp_server,
                                                               service_role_token):
    app = make_mail_app()
    create_user(api_for(app, service_role_token), "stays@example.com", password=PASSWORD)
    smtp_server.reject_with = "451 4.3.0 Try again later"
    response = api_for(app).post("/magiclink", json={
        "email": "stays@example.com", "code_challenge": CHALLENGE,
        "code_challenge_method": "s256"})
    # Sent after the answer: the failure is in the mail log, not in the response.
    assert (response.status_code, response.get_json()) == (200, {})
    user = user_row(app, "stays@example.com")
    assert user.recovery_token == "" and user.recovery_sent_at is None
    assert one_time_tokens(app, user.id) == {}
    assert [(e.template, e.status) for e in mail_log(app)] == [("magic_link", "failed")]
    # The undelivered code was forgotten, so the 60 s rule does not hold the retry back.
    smtp_server.reject_with = None
    retry = api_for(app).post("/magiclink", json={"email": "stays@example.com"})
    assert retry.status_code == 200
    smtp_server.wait_for("stays@example.com")


def test_address_held_in_another_audience_is_answered_without_a_new_user(make_mail_app, smtp_server,
                                                                         service_role_token):
    app = make_mail_app()
    create_user(api_for(app, service_role_token), "elsewhere@example.com", password=PASSWORD)
    response = api_for(app).post("/otp", json={"email": "elsewhere@example.com"},
                                 headers={"X-JWT-AUD": "another-audience"})
    assert response.status_code == 200 and response.get_json() == {}
    assert count(app, User) == 1
    assert smtp_server.messages == [] and mail_log(app) == []
