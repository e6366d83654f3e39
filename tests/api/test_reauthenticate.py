"""GET /reauthenticate and the nonce it makes usable in PUT /user (contract sections 3 and 7;
security B1 "Reauthentication"), through a real SMTP server."""

from __future__ import annotations

import time
import uuid

import pytest

from ..conftest import api_for, make_jwt
from ..factories import (
    audit_actions,
    create_user,
    later,
    mail_log,
    one_time_tokens,
    sign_in,
    token_hash,
    user_row,
)
from ..support import smtp as smtp_support
from .test_otp import assert_wait_error

REQUIRE_REAUTHENTICATION = {"security.update_password_require_reauthentication": True}


def _signed_in(app, service_role_token, email="me@example.com", password="password-123"):
    created = create_user(api_for(app, service_role_token), email, password=password)
    return created, sign_in(api_for(app), email, password)


def _token_for(user_id: str) -> str:
    """An access token without session_id, for users who could not sign in with a password."""
    now = int(time.time())
    return make_jwt({"sub": user_id, "aud": "authenticated", "role": "authenticated",
                     "iat": now, "exp": now + 600})


def test_sends_the_reauthentication_code(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    created, session = _signed_in(app, service_role_token)
    response = api_for(app).get("/reauthenticate", token=session["access_token"])
    assert response.status_code == 200
    assert response.get_json() == {}

    [message] = smtp_server.wait_for("me@example.com")
    code = smtp_support.code(message)
    assert message["Subject"] == f"{code} is your verification code"
    assert code in smtp_support.html_body(message)
    user = user_row(app, "me@example.com")
    assert user.reauthentication_token == token_hash("me@example.com", code)
    assert user.reauthentication_sent_at is not None
    [ott] = one_time_tokens(app, user.id).values()
    # The row holds the hash of a link secret that no email carries (a nonce has no link).
    assert (ott.token_type.value, ott.relates_to) == ("reauthentication_token", "me@example.com")
    assert len(ott.token_hash) == 64 and ott.token_hash != user.reauthentication_token
    assert audit_actions(app, created["id"])[-1] == "user_reauthenticate_requested"
    [entry] = mail_log(app)
    # The mail log keeps no live code (tests/console/test_mail_log_secrets.py).
    assert (entry.template, entry.recipient, entry.status, entry.subject) == (
        "reauthentication", "me@example.com", "sent", "[code hidden] is your verification code")


def test_second_request_inside_the_window_is_429(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    _, session = _signed_in(app, service_role_token)
    client = api_for(app)
    assert client.get("/reauthenticate", token=session["access_token"]).status_code == 200
    first = user_row(app, "me@example.com").reauthentication_token
    assert_wait_error(client.get("/reauthenticate", token=session["access_token"]))
    assert user_row(app, "me@example.com").reauthentication_token == first

    later(app, 61)
    assert client.get("/reauthenticate", token=session["access_token"]).status_code == 200
    mails = smtp_server.wait_for("me@example.com", count=2)
    assert len(mails) == 2
    assert user_row(app, "me@example.com").reauthentication_token == token_hash(
        "me@example.com", smtp_support.code(mails[1]))


def test_user_without_email_or_phone_is_400(make_mail_app, smtp_server):
    app = make_mail_app(**{"external.anonymous_users_enabled": True})
    client = api_for(app)
    anonymous = client.post("/signup", json={})
    assert anonymous.status_code == 200
    response = client.get("/reauthenticate", token=anonymous.get_json()["access_token"])
    assert response.status_code == 400
    assert response.get_json() == {
        "code": "validation_failed",
        "message": "Reauthentication requires the user to have an email or a phone number"}
    assert smtp_server.messages == []


def test_unconfirmed_email_is_422(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    created = api_for(app, service_role_token).admin(
        "POST", "/admin/users", json={"email": "unconfirmed@example.com"})
    assert created.status_code == 200
    response = api_for(app).get("/reauthenticate",
                                token=_token_for(created.get_json()["id"]))
    assert response.status_code == 422
    assert response.get_json() == {"code": "email_not_confirmed",
                                   "message": "Please verify your email first."}
    assert user_row(app, "unconfirmed@example.com").reauthentication_token == ""
    assert smtp_server.messages == []


# Without an SMS provider a confirmed phone's nonce cannot be texted (500, GoTrue's answer);
# texted nonces: tests/api/phone/test_phone_reauthenticate.py.
@pytest.mark.parametrize("phone_confirm, status, code", [
    (False, 422, "phone_not_confirmed"), (True, 500, "unexpected_failure")])
def test_phone_only_users(make_mail_app, service_role_token, phone_confirm, status, code):
    app = make_mail_app(**{"external.phone_enabled": True})
    created = api_for(app, service_role_token).admin(
        "POST", "/admin/users", json={"phone": "+15555550123", "phone_confirm": phone_confirm})
    assert created.status_code == 200
    response = api_for(app).get("/reauthenticate",
                                token=_token_for(created.get_json()["id"]))
    assert response.status_code == status
    assert response.get_json()["code"] == code
    assert one_time_tokens(app, created.get_json()["id"]) == {}


def test_requires_a_signed_in_user(make_mail_app):
    app = make_mail_app()
    response = api_for(app).get("/reauthenticate")
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"
    gone = api_for(app).get("/reauthenticate", token=_token_for(str(uuid.uuid4())))
    assert gone.status_code == 403
    assert gone.get_json()["code"] == "user_not_found"


def test_smtp_failure_stores_no_code(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    created, session = _signed_in(app, service_role_token)
    smtp_server.reject_with = "554 5.7.1 Message rejected"
    response = api_for(app).get("/reauthenticate", token=session["access_token"])
    assert response.status_code == 500
    assert response.get_json()["message"] == "Error sending reauthentication email"
    user = user_row(app, "me@example.com")
    assert user.reauthentication_token == "" and user.reauthentication_sent_at is None
    assert one_time_tokens(app, created["id"]) == {}
    assert [(e.template, e.status) for e in mail_log(app)] == [("reauthentication", "failed")]


# --- the nonce in PUT /user --------------------------------------------------------------------


def test_recent_session_changes_the_password_without_a_nonce(make_mail_app, service_role_token):
    app = make_mail_app(**REQUIRE_REAUTHENTICATION)
    _, session = _signed_in(app, service_role_token)
    response = api_for(app).put("/user", token=session["access_token"],
                                json={"password": "fresh-password-1"})
    assert response.status_code == 200
    assert api_for(app).login("me@example.com", "fresh-password-1").status_code == 200


def test_old_session_needs_the_nonce_from_the_email(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**REQUIRE_REAUTHENTICATION)
    created, session = _signed_in(app, service_role_token, password="old-password-1")
    client = api_for(app)
    token = session["access_token"]
    later(app, 25 * 3600)  # the session is now over 24 h old

    missing = client.put("/user", token=token, json={"password": "new-password-1"})
    assert missing.status_code == 400
    assert missing.get_json() == {"code": "reauthentication_needed",
                                  "message": "Password update requires reauthentication"}
    no_code_yet = client.put("/user", token=token,
                             json={"password": "new-password-1", "nonce": "123456"})
    assert no_code_yet.status_code == 422
    assert no_code_yet.get_json()["code"] == "reauthentication_not_valid"

    assert client.get("/reauthenticate", token=token).status_code == 200
    nonce = smtp_support.code(smtp_server.wait_for("me@example.com")[0])
    wrong_nonce = "000000" if nonce != "000000" else "111111"
    wrong = client.put("/user", token=token,
                       json={"password": "new-password-1", "nonce": wrong_nonce})
    assert wrong.status_code == 422
    assert wrong.get_json() == {"code": "reauthentication_not_valid",
                                "message": "Requires reauthentication"}
    assert client.login("me@example.com", "old-password-1").status_code == 200

    right = client.put("/user", token=token, json={"password": "new-password-1",
                                                   "nonce": nonce})
    assert right.status_code == 200, right.get_data(as_text=True)
    assert right.get_json()["id"] == created["id"]
    assert client.login("me@example.com", "new-password-1").status_code == 200
    assert client.login("me@example.com", "old-password-1").status_code == 400
    user = user_row(app, "me@example.com")
    assert user.reauthentication_token == ""
    assert one_time_tokens(app, created["id"]) == {}
    # The nonce was spent with the change.
    reused = client.put("/user", token=token, json={"password": "newer-password-2",
                                                    "nonce": nonce})
    assert reused.status_code == 422
    assert reused.get_json()["code"] == "reauthentication_not_valid"


def test_expired_nonce_is_refused(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**REQUIRE_REAUTHENTICATION, **{"mailer.otp_exp": 3600})
    _, session = _signed_in(app, service_role_token, password="old-password-1")
    client = api_for(app)
    later(app, 25 * 3600)
    assert client.get("/reauthenticate", token=session["access_token"]).status_code == 200
    nonce = smtp_support.code(smtp_server.wait_for("me@example.com")[0])
    later(app, 3601)  # past MAILER_OTP_EXP since the code was sent
    response = client.put("/user", token=session["access_token"],
                          json={"password": "new-password-1", "nonce": nonce})
    assert response.status_code == 422
    assert response.get_json()["code"] == "reauthentication_not_valid"
    assert client.login("me@example.com", "old-password-1").status_code == 200
