"""POST /recover (contract sections 3, 7 and 12; security B2 12, 14, 18 and 29): no enumeration,
not even with the SMTP server down, the 60 s rule, redirect_to, PKCE, and setting a new password
from the recovery session."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import AMRClaim, AuditLogEntry, FlowState, OneTimeToken, Session, User

from ..conftest import api_for, email_provider, smtp_settings, table_rows
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
from .test_otp import CHALLENGE, VERIFIER, assert_wait_error, comparable


def test_known_address_gets_a_recovery_email(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    created = create_user(api_for(app, service_role_token), "lost@example.com", password=PASSWORD)
    response = api_for(app).post("/recover?redirect_to=http://localhost:3000/reset",
                                 json={"email": "LOST@example.com"})
    assert response.status_code == 200
    assert response.get_json() == {}

    [message] = smtp_server.wait_for("lost@example.com")
    assert message["Subject"] == "Reset your password"
    code = smtp_support.code(message)
    expected = token_hash("lost@example.com", code)
    link = verify_link(message)
    assert link.startswith("http://localhost:9999/verify?")
    assert query(link) == {"token": query(link)["token"], "type": "recovery",
                           "redirect_to": "http://localhost:3000/reset"}
    user = user_row(app, "lost@example.com")
    assert user.recovery_token == expected
    assert user.recovery_sent_at is not None
    [ott] = one_time_tokens(app, user.id).values()
    assert (ott.token_type.value, ott.token_hash, ott.relates_to) == (
        "recovery_token", link_hash(query(link)["token"]), "lost@example.com")
    assert audit_actions(app, created["id"])[-1] == "user_recovery_requested"
    assert [(e.template, e.recipient, e.status) for e in mail_log(app)] == [
        ("recovery", "lost@example.com", "sent")]
    assert count(app, Session) == 0


def test_unknown_address_gets_the_same_answer_and_nothing_happens(make_mail_app, smtp_server,
                                                                  service_role_token):
    app = make_mail_app()
    client = api_for(app)
    create_user(api_for(app, service_role_token), "real@example.com", password=PASSWORD)
    audit_before = count(app, AuditLogEntry)

    unknown = client.post("/recover", json={"email": "nobody@example.com"})
    known = client.post("/recover", json={"email": "real@example.com"})
    assert comparable(unknown) == comparable(known)
    assert unknown.get_json() == {}

    smtp_server.wait_for("real@example.com")
    assert smtp_server.to("nobody@example.com") == []
    assert count(app, User) == 1
    assert [e.recipient for e in mail_log(app)] == ["real@example.com"]
    assert count(app, AuditLogEntry) == audit_before + 1  # the known address's request only
    assert count(app, OneTimeToken) == 1


@pytest.mark.parametrize("failure", ["stopped", "refused"])
def test_smtp_down_still_answers_empty_and_forgets_the_code(make_app, make_mail_app, smtp_server,
                                                            service_role_token, failure):
    if failure == "stopped":
        # A sink that ran and was stopped: its port refuses connections now.
        sink = smtp_support.SMTPSink()
        sink.start()
        sink.stop()
        app = make_app(**smtp_settings(sink.port))
    else:
        smtp_server.reject_with = "554 5.7.1 Message rejected"
        app = make_mail_app()
    created = create_user(api_for(app, service_role_token), "down@example.com", password=PASSWORD)
    audit_before = audit_actions(app, created["id"])
    client = api_for(app)

    response = client.post("/recover", json={
        "email": "down@example.com", "code_challenge": CHALLENGE,
        "code_challenge_method": "s256"})
    unknown = client.post("/recover", json={
        "email": "missing@example.com", "code_challenge": CHALLENGE,
        "code_challenge_method": "s256"})
    assert comparable(response) == comparable(unknown)
    assert response.status_code == 200 and response.get_json() == {}

    # The email failed after the answer: the code nobody received is forgotten and the 60 s
    # rule does not hold a new request back.
    user = user_row(app, "down@example.com")
    assert user.recovery_token == "" and user.recovery_sent_at is None
    assert one_time_tokens(app, user.id) == {}
    assert audit_actions(app, created["id"]) == [*audit_before, "user_recovery_requested"]
    [entry] = mail_log(app)
    assert (entry.template, entry.recipient, entry.status) == (
        "recovery", "down@example.com", "failed")
    assert entry.error


def test_unreachable_smtp_port_is_neutral_too(make_app, service_role_token, closed_port):
    app = make_app(**smtp_settings(closed_port))
    create_user(api_for(app, service_role_token), "closed@example.com", password=PASSWORD)
    response = api_for(app).post("/recover", json={"email": "closed@example.com"})
    assert response.status_code == 200 and response.get_json() == {}
    assert user_row(app, "closed@example.com").recovery_token == ""
    assert [e.status for e in mail_log(app)] == ["failed"]


def test_second_request_inside_the_window_is_429_until_the_clock_moves(make_mail_app, smtp_server,
                                                                       service_role_token):
    app = make_mail_app()
    client = api_for(app)
    create_user(api_for(app, service_role_token), "again@example.com", password=PASSWORD)
    assert client.post("/recover", json={"email": "again@example.com"}).status_code == 200
    first = user_row(app, "again@example.com")
    assert_wait_error(client.post("/recover", json={"email": "again@example.com"}))
    assert user_row(app, "again@example.com").recovery_token == first.recovery_token
    assert len(smtp_server.to("again@example.com")) == 1

    later(app, 61)
    assert client.post("/recover", json={"email": "again@example.com"}).status_code == 200
    mails = smtp_server.wait_for("again@example.com", count=2)
    assert len(mails) == 2
    assert user_row(app, "again@example.com").recovery_token == token_hash(
        "again@example.com", smtp_support.code(mails[1]))


def test_email_provider_off_is_400_before_the_body_is_read(make_mail_app, smtp_server, settings,
                                                           service_role_token):
    app = make_mail_app(**email_provider(settings, enabled=False))
    create_user(api_for(app, service_role_token), "off@example.com", password=PASSWORD)
    client = api_for(app)
    for data in ('{"email": "off@example.com"}', "not json"):
        response = client.post("/recover", data=data)
        assert response.status_code == 400
        assert response.get_json() == {"code": "email_provider_disabled",
                                       "message": "Email logins are disabled"}
    assert user_row(app, "off@example.com").recovery_token == ""
    assert smtp_server.messages == []


@pytest.mark.parametrize("body, code, message", [
    ({}, "validation_failed", "Password recovery requires an email"),
    ({"email": ""}, "validation_failed", "Password recovery requires an email"),
    ({"email": "not-an-email"}, "validation_failed", None),
    ({"email": 5}, "bad_json", None),
    ({"email": "a@example.com", "code_challenge": "short", "code_challenge_method": "s256"},
     "validation_failed", None),
])
def test_malformed_requests_are_400(make_mail_app, smtp_server, body, code, message):
    app = make_mail_app()
    response = api_for(app).post("/recover", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == code
    if message:
        assert response.get_json()["message"] == message
    assert smtp_server.messages == []


@pytest.mark.parametrize("redirect_to, expected", [
    ("http://localhost:3000/account/reset", "http://localhost:3000/account/reset"),
    ("https://app.example.org/reset", "https://app.example.org/reset"),
    ("https://evil.example.net/reset", "http://localhost:3000"),
    ("https://app.example.org.evil.example.net/", "http://localhost:3000"),
    ("//evil.example.net", "http://localhost:3000"),
])
def test_redirect_to_is_validated(make_mail_app, smtp_server, service_role_token, redirect_to,
                                  expected):
    app = make_mail_app(uri_allow_list=("https://app.example.org/**",))
    create_user(api_for(app, service_role_token), "where@example.com", password=PASSWORD)
    client = api_for(app)
    response = client.post("/recover", query_string={"redirect_to": redirect_to},
                           json={"email": "where@example.com"})
    assert response.status_code == 200
    link = verify_link(smtp_server.wait_for("where@example.com")[0])
    assert query(link)["redirect_to"] == expected
    followed = client.get(path_of(link))
    assert followed.status_code == 303
    assert followed.headers["Location"].startswith(expected + "#access_token=")


def test_recovery_link_signs_in_and_the_password_can_be_changed(make_mail_app, smtp_server,
                                                                service_role_token):
    app = make_mail_app(**{
        "security.update_password_require_current_password": True})
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "forgot@example.com",
                          password="old-password-1")
    other = client.login("forgot@example.com", "old-password-1")
    assert other.status_code == 200
    # A password session does need the current password.
    refused = client.put("/user", token=other.get_json()["access_token"],
                         json={"password": "new-password-1"})
    assert refused.status_code == 400
    assert refused.get_json()["code"] == "current_password_required"

    assert client.post("/recover", json={"email": "forgot@example.com"}).status_code == 200
    link = verify_link(smtp_server.wait_for("forgot@example.com")[0])
    followed = client.get(path_of(link))
    assert followed.status_code == 303
    values = fragment(followed.headers["Location"])
    assert values["type"] == "recovery"
    assert user_row(app, "forgot@example.com").recovery_token == ""

    changed = client.put("/user", token=values["access_token"],
                         json={"password": "new-password-1"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["id"] == created["id"]
    assert client.login("forgot@example.com", "old-password-1").status_code == 400
    assert client.login("forgot@example.com", "new-password-1").status_code == 200
    # The password change ended the older session, not the recovery one.
    assert client.refresh(other.get_json()["refresh_token"]).status_code == 400
    assert client.get("/user", token=values["access_token"]).status_code == 200
    assert "user_updated_password" in audit_actions(app, created["id"])


def test_recovery_code_signs_in_once(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    client = api_for(app)
    create_user(api_for(app, service_role_token), "code@example.com", password=PASSWORD)
    client.post("/recover", json={"email": "code@example.com"})
    code = smtp_support.code(smtp_server.wait_for("code@example.com")[0])
    verified = client.post("/verify", json={"type": "recovery", "token": code,
                                            "email": "code@example.com"})
    assert verified.status_code == 200
    session_id = table_rows(app, sa.select(Session.id))[0][0]
    [method] = table_rows(app, sa.select(AMRClaim.authentication_method)
                          .where(AMRClaim.session_id == session_id))[0]
    assert method == "otp"
    again = client.post("/verify", json={"type": "recovery", "token": code,
                                         "email": "code@example.com"})
    assert again.status_code == 403
    assert again.get_json()["code"] == "otp_expired"


def test_unconfirmed_user_is_confirmed_by_the_recovery_link(make_mail_app, smtp_server):
    app = make_mail_app()
    client = api_for(app)
    assert client.signup("half@example.com").status_code == 200
    later(app, 61)  # recovery has its own timer, but keep clear of the signup mail anyway
    assert client.post("/recover", json={"email": "half@example.com"}).status_code == 200
    mails = smtp_server.wait_for("half@example.com", count=2)
    assert mails[1]["Subject"] == "Reset your password"
    assert client.get(path_of(verify_link(mails[1]))).status_code == 303
    assert user_row(app, "half@example.com").email_confirmed_at is not None


def test_pkce_recovery_creates_a_recovery_flow(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "pkce@example.com", password=PASSWORD)
    response = client.post("/recover", json={"email": "pkce@example.com",
                                             "code_challenge": CHALLENGE,
                                             "code_challenge_method": "S256"})
    assert response.status_code == 200
    user = user_row(app, "pkce@example.com")
    assert user.recovery_token.startswith("pkce_")
    [flow] = [row[0] for row in table_rows(app, sa.select(FlowState))]
    assert (flow.user_id, flow.authentication_method, flow.code_challenge) == (
        user.id, "recovery", CHALLENGE)
    code = smtp_support.code(smtp_server.wait_for("pkce@example.com")[0])
    assert user.recovery_token == "pkce_" + token_hash("pkce@example.com", code)
    # POST /verify with the code still answers with a session (contract section 7).
    verified = client.post("/verify", json={"type": "recovery", "token": code,
                                            "email": "pkce@example.com"})
    assert verified.status_code == 200
    assert verified.get_json()["user"]["id"] == created["id"]


def test_pkce_recovery_link_redirects_with_a_code(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "pkcelink@example.com",
                          password=PASSWORD)
    client.post("/recover?redirect_to=http://localhost:3000/reset", json={
        "email": "pkcelink@example.com", "code_challenge": CHALLENGE,
        "code_challenge_method": "s256"})
    [flow] = [row[0] for row in table_rows(app, sa.select(FlowState))]
    link = verify_link(smtp_server.wait_for("pkcelink@example.com")[0])
    followed = client.get(path_of(link))
    assert followed.status_code == 303
    location = followed.headers["Location"]
    assert location.startswith("http://localhost:3000/reset?code=")
    assert parse_qs(urlsplit(location).query)["code"] == [flow.auth_code]
    exchanged = client.post("/token?grant_type=pkce",
                            json={"auth_code": flow.auth_code, "code_verifier": VERIFIER})
    assert exchanged.status_code == 200
    session = exchanged.get_json()
    assert session["user"]["id"] == created["id"]
    changed = client.put("/user", token=session["access_token"],
                         json={"password": "brand-new-password"})
    assert changed.status_code == 200
