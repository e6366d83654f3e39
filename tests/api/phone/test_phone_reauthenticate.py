"""GET /reauthenticate for a user with a phone and no email (spec phone-sms §2.3): the nonce
is texted into reauthentication_token, always by SMS."""

from __future__ import annotations

from ...conftest import api_for
from ...factories import audit_actions, later, make_user
from ...support.fake_sms import FakeTwilio
from .send_support import (PHONE, code_of, digest, log_row, phone_app, sms_log, token_for,
                           tokens, user_by_id)


def _reauthenticate(app, user_id):
    return api_for(app).get("/reauthenticate", token=token_for(user_id))


def test_the_nonce_is_texted(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE)
    response = _reauthenticate(app, user_id)
    assert response.status_code == 200 and response.get_json() == {"message_id": "SM1"}
    code = code_of(fake.last)
    assert fake.last.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{PHONE}"
    user = user_by_id(app, user_id)
    assert user.reauthentication_token == digest(PHONE, code)
    assert user.reauthentication_sent_at is not None
    assert tokens(app, user_id) == {"reauthentication_token": (digest(PHONE, code), PHONE)}
    assert log_row(sms_log(app)[0]) == ("reauthentication", PHONE, "sms", "twilio", "sent",
                                        "SM1")
    assert "user_reauthenticate_requested" in audit_actions(app, user_id)

    again = _reauthenticate(app, user_id)
    assert again.status_code == 429
    assert again.get_json()["code"] == "over_sms_send_rate_limit"
    later(app, 61)
    assert _reauthenticate(app, user_id).status_code == 200
    assert user_by_id(app, user_id).reauthentication_token == digest(PHONE, code_of(fake.last))


def test_an_unconfirmed_phone_gets_nothing(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE, confirmed=False)
    response = _reauthenticate(app, user_id)
    assert response.status_code == 422
    assert response.get_json() == {"code": "phone_not_confirmed",
                                   "message": "Please verify your phone first."}
    assert fake.received == []


def test_a_failed_send_stores_no_nonce(make_app, servers):
    fake = servers(FakeTwilio())
    fake.script(200, {"status": "failed", "error_code": "30003", "error_message": "gone",
                      "sid": "SM2"})
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE)
    response = _reauthenticate(app, user_id)
    assert response.status_code == 422
    assert response.get_json() == {
        "code": "sms_send_failed",
        "message": "Error sending reauthentication OTP to provider: twilio error: gone 30003 "
                   "for message SM2"}
    user = user_by_id(app, user_id)
    assert user.reauthentication_token in ("", None) and user.reauthentication_sent_at is None
    assert tokens(app, user_id) == {}
    assert "user_reauthenticate_requested" not in audit_actions(app, user_id)


def test_a_user_with_an_email_gets_it_by_email(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"smtp.host": ""})
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    response = _reauthenticate(app, user_id)
    assert response.status_code == 200 and response.get_json() == {}
    assert fake.received == []
