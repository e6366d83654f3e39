"""PUT /user with a new phone number (spec phone-sms §2.3 PUT /user, §2.4 "send
phone_change"): the code goes to the new number, phone_change holds it until /verify."""

from __future__ import annotations

from gotrue_web.models import OneTimeToken

from ...conftest import api_for
from ...factories import audit_actions, count, later, make_user
from ...support.fake_sms import FakeMessagebird, FakeTwilio
from .send_support import (OTHER, PHONE, code_of, digest, form, log_row, phone_app, sms_log,
                           token_for, tokens, user_by_id)


def _change(app, user_id, phone=f"+{OTHER}", **body):
    return api_for(app).put("/user", token=token_for(user_id), json={"phone": phone, **body})


def test_the_new_number_gets_the_code(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    response = _change(app, user_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "message_id" not in body
    assert body["phone"] == PHONE and body["new_phone"] == OTHER
    assert body["phone_change_sent_at"]

    [request] = fake.received
    code = code_of(request)
    assert request.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{OTHER}"
    user = user_by_id(app, user_id)
    assert (user.phone, user.phone_change) == (PHONE, OTHER)
    assert user.phone_change_token == digest(OTHER, code)
    assert user.phone_change_sent_at is not None
    assert tokens(app, user_id) == {"phone_change_token": (digest(OTHER, code), OTHER)}
    [entry] = sms_log(app)
    assert log_row(entry) == ("phone_change", OTHER, "sms", "twilio", "sent", "SM1")
    assert entry.user_id == user_id
    assert "user_modified" in audit_actions(app, user_id)


def test_a_failed_send_changes_nothing(make_app, servers):
    fake = servers(FakeTwilio())
    fake.script(400, {"code": 21211, "message": "Invalid 'To'", "more_info": "u",
                      "status": 400})
    app = phone_app(make_app, fake)
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    response = _change(app, user_id, data={"x": 1})
    assert response.status_code == 422
    assert response.get_json() == {
        "code": "sms_send_failed",
        "message": "Error sending phone_change OTP to provider: Invalid 'To' More "
                   "information: u"}
    user = user_by_id(app, user_id)
    assert user.phone_change in ("", None) and user.phone_change_token in ("", None)
    assert user.phone_change_sent_at is None and "x" not in user.raw_user_meta_data
    assert count(app, OneTimeToken) == 0
    assert [entry.status for entry in sms_log(app)] == ["failed"]


def test_the_interval_applies_to_phone_changes(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    assert _change(app, user_id).status_code == 200
    first = code_of(fake.last)
    again = _change(app, user_id, phone="+15550001111")
    assert again.status_code == 429
    assert again.get_json()["code"] == "over_sms_send_rate_limit"
    user = user_by_id(app, user_id)
    assert (user.phone_change, user.phone_change_token) == (OTHER, digest(OTHER, first))

    later(app, 61)
    assert _change(app, user_id, phone="+15550001111").status_code == 200
    second = code_of(fake.last)
    user = user_by_id(app, user_id)
    assert user.phone_change == "15550001111"
    assert tokens(app, user_id) == {
        "phone_change_token": (digest("15550001111", second), "15550001111")}


def test_whatsapp_with_twilio_only(make_app, servers):
    twilio = servers(FakeTwilio())
    app = phone_app(make_app, twilio)
    user_id = make_user(app, "ada@example.com")
    assert _change(app, user_id, channel="whatsapp").status_code == 200
    assert form(twilio.last)["To"] == f"whatsapp:+{OTHER}"

    messagebird = servers(FakeMessagebird())
    other = phone_app(make_app, messagebird)
    grace = make_user(other, "grace@example.com")
    refused = _change(other, grace, channel="whatsapp")
    assert refused.status_code == 400 and refused.get_json()["code"] == "validation_failed"
    assert messagebird.received == []


def test_autoconfirm_applies_the_number_at_once(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.autoconfirm": True})
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    response = _change(app, user_id)
    assert response.status_code == 200
    assert response.get_json()["phone"] == OTHER and "new_phone" not in response.get_json()
    assert fake.received == [] and sms_log(app) == []


def test_a_test_number_gets_its_fixed_code(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.test_otp": {OTHER: "654321"}})
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    response = _change(app, user_id)
    assert response.status_code == 200 and "message_id" not in response.get_json()
    assert fake.received == []
    assert user_by_id(app, user_id).phone_change_token == digest(OTHER, "654321")
