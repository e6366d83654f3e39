"""POST /resend types sms and phone_change (spec phone-sms §2.3 /resend): the pending code is
texted again (always by SMS) and the answer carries its message id."""

from __future__ import annotations

from ...conftest import api_for
from ...factories import later, make_user
from ...support.fake_sms import FakeTextlocal, FakeTwilio
from .send_support import (OTHER, PHONE, code_of, digest, log_row, phone_app, sms_log,
                           token_for, tokens, user_by_id, user_by_phone)


def _resend(app, **body):
    return api_for(app).post("/resend", json=body)


def test_sms_resends_the_confirmation_of_an_unconfirmed_number(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    signup = api_for(app).post("/signup", json={"phone": f"+{PHONE}",
                                                "password": "password-123"})
    assert signup.status_code == 200
    first = code_of(fake.last)

    early = _resend(app, type="sms", phone=f"+{PHONE}")
    assert early.status_code == 429
    assert early.get_json()["code"] == "over_sms_send_rate_limit"
    assert len(fake.received) == 1
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, first)

    later(app, 61)
    response = _resend(app, type="sms", phone=f"+{PHONE}")
    assert response.status_code == 200 and response.get_json() == {"message_id": "SM1"}
    assert len(fake.received) == 2
    second = code_of(fake.last)
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, second)
    assert tokens(app, user.id) == {"confirmation_token": (digest(PHONE, second), PHONE)}
    assert [log_row(entry)[0] for entry in sms_log(app)] == ["confirmation", "confirmation"]


def test_unknown_and_confirmed_numbers_get_an_empty_answer(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    make_user(app, phone=PHONE)
    for phone in (PHONE, OTHER):
        response = _resend(app, type="sms", phone=phone)
        assert response.status_code == 200 and response.get_json() == {}
    assert fake.received == [] and sms_log(app) == []


def test_phone_change_resends_to_the_new_number(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, "ada@example.com", phone=PHONE)
    changed = api_for(app).put("/user", token=token_for(user_id), json={"phone": OTHER})
    assert changed.status_code == 200

    later(app, 61)
    # Found by the current number, or by the email.
    by_phone = _resend(app, type="phone_change", phone=PHONE)
    assert by_phone.status_code == 200 and by_phone.get_json() == {"message_id": "SM1"}
    code = code_of(fake.last)
    assert fake.last.text.endswith(f"&To=%2B{OTHER}")
    user = user_by_id(app, user_id)
    assert user.phone_change_token == digest(OTHER, code) and user.phone == PHONE
    assert tokens(app, user_id) == {"phone_change_token": (digest(OTHER, code), OTHER)}

    later(app, 61)
    by_email = _resend(app, type="phone_change", email="ada@example.com")
    assert by_email.get_json() == {"message_id": "SM1"}
    assert user_by_id(app, user_id).phone_change_token == digest(OTHER, code_of(fake.last))


def test_nothing_pending_is_an_empty_answer(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    make_user(app, "ada@example.com", phone=PHONE)
    response = _resend(app, type="phone_change", phone=PHONE)
    assert response.status_code == 200 and response.get_json() == {}
    assert fake.received == []


def test_a_failed_resend_keeps_the_previous_code(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    api_for(app).post("/signup", json={"phone": PHONE, "password": "password-123"})
    first = code_of(fake.last)
    fake.script(500, {"code": 20500, "message": "Internal error", "more_info": "m",
                      "status": 500})
    later(app, 61)
    response = _resend(app, type="sms", phone=PHONE)
    assert response.status_code == 422
    assert response.get_json() == {
        "code": "sms_send_failed",
        "message": "Error sending confirmation OTP to provider: Internal error More "
                   "information: m"}
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, first)
    assert tokens(app, user.id) == {"confirmation_token": (digest(PHONE, first), PHONE)}


def test_textlocal_has_no_message_id(make_app, servers):
    fake = servers(FakeTextlocal())
    app = phone_app(make_app, fake)
    api_for(app).post("/signup", json={"phone": PHONE, "password": "password-123"})
    later(app, 61)
    response = _resend(app, type="sms", phone=PHONE)
    assert response.status_code == 200 and response.get_json() == {}
    assert fake.last.path == "/send"
    assert fake.last.text.startswith("apikey=KEY&message=Your+code+is+")
    assert [entry.message_id for entry in sms_log(app)] == [None, None]


def test_resend_is_always_sms(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    api_for(app).post("/signup", json={"phone": PHONE, "password": "password-123",
                                       "channel": "whatsapp"})
    assert "Channel=whatsapp" in fake.last.text
    later(app, 61)
    assert _resend(app, type="sms", phone=PHONE).status_code == 200
    assert "Channel=sms" in fake.last.text
