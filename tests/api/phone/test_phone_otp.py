"""POST /otp with a phone number (spec phone-sms §2.3, §2.5, D1, D3): a new or unconfirmed
number is signed up and gets the confirmation code, a confirmed one a sign-in code; the
answer carries the provider's message id."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gotrue_web.models import OneTimeToken, Session, User

from ...conftest import api_for
from ...factories import audit_entries, count, freeze_clock, make_user, update_user
from ...support.fake_sms import FakeMessagebird, FakeTwilio, FakeTwilioVerify, FakeVonage
from .send_support import (OTHER, PHONE, code_of, digest, form, log_row, phone_app, sms_log,
                           tokens, user_by_phone)


def _otp(app, phone=f"+{PHONE}", **body):
    return api_for(app).post("/otp", json={"phone": phone, **body})


def test_a_new_number_is_signed_up_and_gets_the_code(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    response = _otp(app, data={"plan": "free"})
    assert response.status_code == 200
    assert response.get_json() == {"message_id": "SM1"}
    code = code_of(fake.last)
    user = user_by_phone(app, PHONE)
    assert user.phone_confirmed_at is None and user.raw_user_meta_data["plan"] == "free"
    assert user.confirmation_token == digest(PHONE, code)
    assert tokens(app, user.id) == {"confirmation_token": (digest(PHONE, code), PHONE)}
    # A random password nobody knows, not an empty one.
    assert user.encrypted_password


def test_a_confirmed_number_gets_a_sign_in_code(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE)
    clock = freeze_clock(app)
    response = _otp(app)
    assert response.status_code == 200 and response.get_json() == {"message_id": "SM1"}
    code = code_of(fake.last)
    assert fake.last.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{PHONE}"
    user = user_by_phone(app, PHONE)
    assert user.id == user_id and user.confirmation_token == digest(PHONE, code)
    assert user.confirmation_sent_at == clock.now
    assert tokens(app, user_id) == {"confirmation_token": (digest(PHONE, code), PHONE)}
    [entry] = audit_entries(app, "user_recovery_requested")
    assert entry["traits"] == {"channel": "sms"}
    assert log_row(sms_log(app)[0]) == ("confirmation", PHONE, "sms", "twilio", "sent", "SM1")

    clock.advance(seconds=20)
    again = _otp(app)
    assert again.status_code == 429
    assert again.get_json() == {
        "code": "over_sms_send_rate_limit",
        "message": "For security purposes, you can only request this after 40 seconds."}
    assert len(fake.received) == 1
    clock.advance(seconds=41)
    assert _otp(app).status_code == 200 and len(fake.received) == 2


def test_create_user_false_refuses_unknown_numbers(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    response = _otp(app, create_user=False)
    assert response.status_code == 422
    assert response.get_json() == {"code": "otp_disabled",
                                   "message": "Signups not allowed for otp"}
    assert fake.received == [] and count(app, User) == 0


def test_signups_disabled_refuses_new_numbers(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, disable_signup=True)
    response = _otp(app)
    assert response.status_code == 422 and response.get_json()["code"] == "signup_disabled"
    assert fake.received == []


def test_a_failed_send_changes_nothing(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE)
    fake.script(200, {"status": "undelivered", "error_code": "30007", "error_message": "x",
                      "sid": "SM9"})
    response = _otp(app)
    assert response.status_code == 422
    assert response.get_json() == {
        "code": "sms_send_failed",
        "message": "Error sending confirmation OTP to provider: twilio error: x 30007 for "
                   "message SM9"}
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token in ("", None) and user.confirmation_sent_at is None
    assert tokens(app, user_id) == {}
    assert audit_entries(app, "user_recovery_requested") == []
    assert [entry.status for entry in sms_log(app)] == ["failed"]
    # Nothing was sent, so nothing holds the next request back.
    assert _otp(app).status_code == 200


def test_a_failed_send_for_a_new_number_leaves_no_user(make_app, servers):
    fake = servers(FakeVonage())
    fake.script(200, {"messages": [{"status": "2", "error-text": "Missing params",
                                    "message-id": ""}]})
    app = phone_app(make_app, fake)
    response = _otp(app)
    assert response.status_code == 422
    assert response.get_json()["message"] == (
        "Error sending confirmation OTP to provider: vonage error: Missing params (status: 2) "
        "for message ")
    assert count(app, User) == 0 and count(app, OneTimeToken) == 0


def test_a_timeout_is_a_422_naming_the_provider(make_app, servers):
    fake = servers(FakeTwilio())
    fake.script(201, {"sid": "SM1", "status": "queued"}, delay=2)
    app = phone_app(make_app, fake, timeout=0.3)
    make_user(app, phone=PHONE)
    response = _otp(app)
    assert response.status_code == 422
    assert response.get_json()["code"] == "sms_send_failed"
    assert "twilio" in response.get_json()["message"].lower()
    assert tokens(app, user_by_phone(app, PHONE).id) == {}


def test_garbage_from_the_provider_is_a_422(make_app, servers):
    fake = servers(FakeMessagebird())
    fake.script(422, {"errors": []})
    app = phone_app(make_app, fake)
    response = _otp(app)
    assert response.status_code == 422
    assert response.get_json()["code"] == "sms_send_failed"
    assert count(app, User) == 0


def test_whatsapp_by_twilio(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, content_sid="HX1")
    make_user(app, phone=PHONE)
    assert _otp(app, channel="whatsapp").status_code == 200
    code = code_of(fake.last, "ContentVariables")
    assert fake.last.text == (
        "Channel=whatsapp&ContentSid=HX1&ContentVariables=%7B%221%22%3A+%22" + code +
        f"%22%7D&From=MG123&To=whatsapp%3A%2B{PHONE}")
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, code)
    [entry] = audit_entries(app, "user_recovery_requested")
    assert entry["traits"] == {"channel": "whatsapp"}


def test_whatsapp_is_refused_by_other_providers(make_app, servers):
    fake = servers(FakeVonage())
    app = phone_app(make_app, fake)
    response = _otp(app, channel="whatsapp")
    assert response.status_code == 400 and response.get_json()["code"] == "validation_failed"
    assert fake.received == [] and count(app, User) == 0


def test_twilio_verify_sends_its_own_code(make_app, servers):
    fake = servers(FakeTwilioVerify())
    app = phone_app(make_app, fake)
    make_user(app, phone=PHONE)
    response = _otp(app)
    assert response.get_json() == {"message_id": "VE1"}
    assert fake.last.path == "/v2/Services/VA1/Verifications"
    assert fake.last.text == f"Channel=sms&To=%2B{PHONE}"
    # A local code is still issued and stored (never delivered).
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token and user.confirmation_sent_at is not None


def test_a_test_number_is_answered_without_a_message(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.test_otp": {PHONE: "123456"}})
    make_user(app, phone=PHONE)
    response = _otp(app)
    assert response.get_json() == {"message_id": "test-otp"}
    assert fake.received == []
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, "123456")
    assert tokens(app, user.id) == {"confirmation_token": (digest(PHONE, "123456"), PHONE)}
    assert log_row(sms_log(app)[0]) == ("confirmation", PHONE, "sms", "twilio", "test_otp",
                                        "test-otp")
    # The 60 s rule still applies to test numbers.
    assert _otp(app).status_code == 429
    # Other numbers are texted as usual.
    make_user(app, phone=OTHER)
    assert _otp(app, phone=OTHER).get_json() == {"message_id": "SM1"}


def test_an_expired_test_number_is_texted(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{
        "sms.test_otp": {PHONE: "123456"},
        "sms.test_otp_valid_until": datetime(2020, 1, 1, tzinfo=timezone.utc)})
    make_user(app, phone=PHONE)
    assert _otp(app).get_json() == {"message_id": "SM1"}
    code = code_of(fake.last)
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, code)


@pytest.mark.parametrize("known", [False, True])
def test_autoconfirm_still_texts_a_code(make_app, servers, known):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.autoconfirm": True})
    if known:
        make_user(app, phone=PHONE, confirmed=False)
    response = _otp(app)
    assert response.status_code == 200 and response.get_json() == {"message_id": "SM1"}
    code = code_of(fake.last)
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, code)
    # A new number is confirmed by the signup; no session is issued either way.
    assert (user.phone_confirmed_at is not None) is (not known)
    assert count(app, Session) == 0


def test_the_code_text_follows_sms_template(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.template": "Acme: {{ .Code }} is your code"})
    make_user(app, phone=PHONE)
    assert _otp(app).status_code == 200
    code = form(fake.last)["Body"].split()[1]
    assert form(fake.last)["Body"] == f"Acme: {code} is your code"
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, code)


def test_sms_otp_length_sets_the_code_length(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.otp_length": 8})
    make_user(app, phone=PHONE)
    assert _otp(app).status_code == 200
    code = form(fake.last)["Body"].rsplit(" ", 1)[1]
    assert len(code) == 8 and code.isdigit()
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, code)


def test_an_unconfirmed_number_keeps_its_password(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE, password="password-123", confirmed=False)
    before = user_by_phone(app, PHONE).encrypted_password
    update_user(app, user_id, confirmation_sent_at=None)
    assert _otp(app).get_json() == {"message_id": "SM1"}
    assert user_by_phone(app, PHONE).encrypted_password == before
