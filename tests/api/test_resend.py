"""POST /resend (contract sections 3, 7 and 12; security B2 17 and 18): signup confirmations and
pending email changes sent again through a real SMTP server, the neutral answers, the 60 s rule
and the checks on the request."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry, FlowState, OneTimeToken

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
from .test_otp import CHALLENGE, assert_wait_error, comparable


def test_signup_confirmation_is_resent_and_the_new_code_replaces_the_old(make_mail_app,
                                                                         smtp_server):
    app = make_mail_app()
    client = api_for(app)
    assert client.signup("resend@example.com").status_code == 200
    [first] = smtp_server.wait_for("resend@example.com")
    first_code = smtp_support.code(first)
    first_link = verify_link(first)

    assert_wait_error(client.post("/resend", json={"type": "signup",
                                                   "email": "resend@example.com"}))
    assert len(smtp_server.to("resend@example.com")) == 1

    later(app, 61)
    response = client.post("/resend?redirect_to=http://localhost:3000/confirmed",
                           json={"type": "signup", "email": "Resend@Example.com"})
    assert response.status_code == 200
    assert response.get_json() == {}
    second = smtp_server.wait_for("resend@example.com", count=2)[1]
    assert second["Subject"] == "Confirm your email address"
    code = smtp_support.code(second)
    expected = token_hash("resend@example.com", code)
    link = verify_link(second)
    assert query(link) == {"token": query(link)["token"], "type": "signup",
                           "redirect_to": "http://localhost:3000/confirmed"}
    user = user_row(app, "resend@example.com")
    assert user.confirmation_token == expected
    [ott] = one_time_tokens(app, user.id).values()
    assert (ott.token_type.value, ott.token_hash) == ("confirmation_token",
                                                      link_hash(query(link)["token"]))
    assert audit_actions(app, user.id) == ["user_signedup", "user_confirmation_requested"]

    # The first link and code are dead; the new link confirms and signs in.
    if first_code != code:
        stale = client.post("/verify", json={"type": "signup", "token": first_code,
                                             "email": "resend@example.com"})
        assert stale.status_code == 403
        assert stale.get_json()["code"] == "otp_expired"
        dead = client.get(path_of(first_link))
        assert fragment(dead.headers["Location"])["error_code"] == "otp_expired"
    followed = client.get(path_of(link))
    assert followed.status_code == 303
    location = followed.headers["Location"]
    assert location.startswith("http://localhost:3000/confirmed#")
    assert client.get("/user", token=fragment(location)["access_token"]).status_code == 200
    assert user_row(app, "resend@example.com").email_confirmed_at is not None


def test_nothing_pending_gets_the_same_empty_answer_and_nothing_is_sent(make_mail_app, smtp_server,
                                                                        service_role_token):
    app = make_mail_app()
    client = api_for(app)
    created = create_user(api_for(app, service_role_token), "done@example.com", password=PASSWORD)
    audit_before = count(app, AuditLogEntry)
    answers = [
        client.post("/resend", json={"type": "signup", "email": "done@example.com"}),
        client.post("/resend", json={"type": "signup", "email": "nobody@example.com"}),
        client.post("/resend", json={"type": "email_change", "email": "done@example.com"}),
        client.post("/resend", json={"type": "email_change", "email": "nobody@example.com"}),
    ]
    for response in answers:
        assert comparable(response) == comparable(answers[0])
    assert answers[0].status_code == 200 and answers[0].get_json() == {}
    assert smtp_server.messages == []
    assert mail_log(app) == []
    assert count(app, AuditLogEntry) == audit_before
    assert one_time_tokens(app, created["id"]) == {}


def _pending_email_change(app, smtp_server, service_role_token) -> str:
    """A confirmed user who asked to move from old@ to new@; returns the access token."""
    create_user(api_for(app, service_role_token), "old@example.com", password=PASSWORD)
    client = api_for(app)
    session = client.login("old@example.com").get_json()
    response = client.put("/user", token=session["access_token"],
                          json={"email": "new@example.com"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return session["access_token"]


def test_email_change_is_resent_to_both_addresses_in_secure_mode(make_mail_app, smtp_server,
                                                                 service_role_token):
    app = make_mail_app()
    client = api_for(app)
    _pending_email_change(app, smtp_server, service_role_token)
    assert len(smtp_server.wait_for("old@example.com")) == 1
    assert len(smtp_server.wait_for("new@example.com")) == 1

    assert_wait_error(client.post("/resend", json={"type": "email_change",
                                                   "email": "old@example.com"}))
    later(app, 61)
    # Found by the current address only: the pending one is not an account.
    by_new = client.post("/resend", json={"type": "email_change", "email": "new@example.com"})
    assert by_new.status_code == 200 and by_new.get_json() == {}
    assert len(smtp_server.to("new@example.com")) == 1

    response = client.post("/resend", json={"type": "email_change", "email": "OLD@example.com"})
    assert response.status_code == 200 and response.get_json() == {}
    to_current = smtp_server.wait_for("old@example.com", count=2)[1]
    to_new = smtp_server.wait_for("new@example.com", count=2)[1]
    assert to_current["Subject"] == to_new["Subject"] == "Confirm your new email address"
    current_code, new_code = smtp_support.code(to_current), smtp_support.code(to_new)
    user = user_row(app, "old@example.com")
    assert user.email_change == "new@example.com"
    assert user.email_change_confirm_status == 0
    assert user.email_change_token_current == token_hash("old@example.com", current_code)
    assert user.email_change_token_new == token_hash("new@example.com", new_code)
    tokens = one_time_tokens(app, user.id)
    assert {kind: (t.token_hash, t.relates_to) for kind, t in tokens.items()} == {
        "email_change_token_current": (link_hash(query(verify_link(to_current))["token"]),
                                       "old@example.com"),
        "email_change_token_new": (link_hash(query(verify_link(to_new))["token"]),
                                   "new@example.com"),
    }
    assert query(verify_link(to_new))["type"] == "email_change"

    # Both resent codes complete the change.
    half = client.post("/verify", json={"type": "email_change", "token": current_code,
                                        "email": "old@example.com"})
    assert half.status_code == 200
    assert half.get_json()["code"] == "200"
    done = client.post("/verify", json={"type": "email_change", "token": new_code,
                                        "email": "new@example.com"})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["user"]["email"] == "new@example.com"
    assert user_row(app, "new@example.com").id == user.id


def test_email_change_without_secure_mode_is_resent_to_the_new_address_only(
        make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**{"mailer.secure_email_change_enabled": False})
    client = api_for(app)
    _pending_email_change(app, smtp_server, service_role_token)
    smtp_server.wait_for("new@example.com")
    later(app, 61)
    response = client.post("/resend", json={"type": "email_change", "email": "old@example.com"})
    assert response.status_code == 200
    mails = smtp_server.wait_for("new@example.com", count=2)
    assert len(mails) == 2
    assert smtp_server.to("old@example.com") == []
    user = user_row(app, "old@example.com")
    assert user.email_change_token_new == token_hash("new@example.com",
                                                     smtp_support.code(mails[1]))
    assert user.email_change_token_current == ""
    assert set(one_time_tokens(app, user.id)) == {"email_change_token_new"}


def test_pkce_resend_marks_the_token_and_creates_a_signup_flow(make_mail_app, smtp_server):
    app = make_mail_app()
    client = api_for(app)
    client.signup("flow@example.com")
    later(app, 61)
    response = client.post("/resend", json={"type": "signup", "email": "flow@example.com",
                                            "code_challenge": CHALLENGE,
                                            "code_challenge_method": "s256"})
    assert response.status_code == 200
    user = user_row(app, "flow@example.com")
    code = smtp_support.code(smtp_server.wait_for("flow@example.com", count=2)[1])
    assert user.confirmation_token == "pkce_" + token_hash("flow@example.com", code)
    [flow] = [row[0] for row in table_rows(app, sa.select(FlowState))]
    assert (flow.user_id, flow.authentication_method) == (user.id, "email/signup")


def test_smtp_failure_is_logged_and_frees_an_immediate_retry(make_mail_app, smtp_server):
    app = make_mail_app()
    client = api_for(app)
    client.signup("keep@example.com")
    smtp_server.wait_for("keep@example.com")
    later(app, 61)
    smtp_server.reject_with = "554 5.7.1 Message rejected"
    # Sent after the answer (no enumeration by timing): the failure is only in the mail log.
    response = client.post("/resend", json={"type": "signup", "email": "keep@example.com"})
    assert (response.status_code, response.get_json()) == (200, {})
    assert [(e.template, e.status) for e in mail_log(app)] == [
        ("confirmation", "sent"), ("confirmation", "failed")]
    # The code nobody received is forgotten, and the 60 s rule does not hold a retry back.
    after = user_row(app, "keep@example.com")
    assert after.confirmation_token == "" and after.confirmation_sent_at is None
    assert table_rows(app, sa.select(OneTimeToken)) == []
    smtp_server.reject_with = None
    retry = client.post("/resend", json={"type": "signup", "email": "keep@example.com"})
    assert retry.status_code == 200
    code = smtp_support.code(smtp_server.wait_for("keep@example.com", count=2)[1])
    assert client.post("/verify", json={"type": "signup", "token": code,
                                        "email": "keep@example.com"}).status_code == 200


@pytest.mark.parametrize("body, code, message", [
    ({"type": "recovery", "email": "a@example.com"}, "validation_failed",
     "Missing one of these types: signup, email_change, sms, phone_change"),
    ({"email": "a@example.com"}, "validation_failed",
     "Missing one of these types: signup, email_change, sms, phone_change"),
    ({"type": "signup"}, "validation_failed", "Type provided requires an email address"),
    ({"type": "signup", "email": ""}, "validation_failed",
     "Type provided requires an email address"),
    ({"type": "sms"}, "validation_failed", "Type provided requires a phone number"),
    ({"type": "email_change"}, "validation_failed", "Missing email address or phone number"),
    ({"type": "signup", "email": "a@example.com", "phone": "+15555550100"},
     "validation_failed", "Only an email address or phone number should be provided."),
    ({"type": "signup", "email": "not-an-email"}, "validation_failed", None),
    ({"type": "signup", "email": "a@example.com", "code_challenge": CHALLENGE},
     "validation_failed", "PKCE flow requires code_challenge_method and code_challenge"),
    ({"type": 1, "email": "a@example.com"}, "bad_json", None),
])
def test_malformed_requests_are_400(make_mail_app, smtp_server, body, code, message):
    app = make_mail_app()
    response = api_for(app).post("/resend", json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["code"] == code
    if message:
        assert response.get_json()["message"] == message
    assert smtp_server.messages == []


def test_provider_off_is_400(make_mail_app, settings):
    app = make_mail_app(**email_provider(settings, enabled=False))
    client = api_for(app)
    assert client.signup("x@example.com").status_code == 400  # signups are refused too
    for resend_type in ("signup", "email_change"):
        response = client.post("/resend", json={"type": resend_type, "email": "x@example.com"})
        assert response.status_code == 400
        assert response.get_json() == {"code": "email_provider_disabled",
                                       "message": "Email logins are disabled"}
    for resend_type in ("sms", "phone_change"):
        response = client.post("/resend", json={"type": resend_type, "phone": "+15555550100"})
        assert response.status_code == 400
        assert response.get_json()["code"] == "phone_provider_disabled"


def test_phone_types_with_nothing_pending_are_empty(make_mail_app):
    app = make_mail_app(**{"external.phone_enabled": True})
    response = api_for(app).post("/resend", json={"type": "sms", "phone": "+15555550100"})
    assert response.status_code == 200 and response.get_json() == {}
    bad = api_for(app).post("/resend", json={"type": "sms", "phone": "12ab"})
    assert bad.status_code == 400
