"""POST /signup with a phone number (spec phone-sms §2.2-2.4): the confirmation code is texted
through the provider's fake, stored as a keyed digest with its one_time_tokens row, logged in
sms_log; a failed send leaves no user behind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.models import OneTimeToken, User

from ...conftest import api_for
from ...factories import audit_actions, count, later, make_user
from ...support.fake_sms import FakeMessagebird, FakeTwilio, closed_port_url
from .send_support import (PHONE, code_of, digest, form, log_row, phone_app, sms_log, tokens,
                           twilio_sms, user_by_phone)

PASSWORD = "password-123"
TWILIO_PATH = "/2010-04-01/Accounts/AC1/Messages.json"


def _signup(app, phone="+1 555 123 4567", **body):
    return api_for(app).post("/signup", json={"phone": phone, "password": PASSWORD, **body})


def test_a_new_number_gets_its_confirmation_code_by_twilio(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    response = _signup(app, data={"nickname": "ada"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # The user, not a session, and never a message id.
    assert "access_token" not in body and "message_id" not in body
    assert body["phone"] == PHONE and body["confirmation_sent_at"]
    assert "phone_confirmed_at" not in body

    [request] = fake.received
    assert request.method == "POST" and request.path == TWILIO_PATH
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == "Basic QUMxOnRvaw=="
    code = code_of(request)
    assert request.text == twilio_sms(code)

    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, code)
    assert user.confirmation_sent_at is not None and user.phone_confirmed_at is None
    assert tokens(app, user.id) == {"confirmation_token": (digest(PHONE, code), PHONE)}
    # GoTrue's phone identity carries no number.
    [identity] = body["identities"]
    assert identity["provider"] == "phone"
    assert identity["identity_data"] == {"sub": body["id"], "email_verified": False,
                                         "phone_verified": False, "nickname": "ada"}
    [entry] = sms_log(app)
    assert log_row(entry) == ("confirmation", PHONE, "sms", "twilio", "sent", "SM1")
    assert entry.user_id == user.id and entry.error is None
    assert "user_confirmation_requested" in audit_actions(app, user.id)


def test_messagebird_gets_its_own_request(make_app, servers):
    fake = servers(FakeMessagebird())
    app = phone_app(make_app, fake)
    assert _signup(app).status_code == 200
    [request] = fake.received
    assert request.path == "/messages"
    assert request.headers["Authorization"] == "AccessKey KEY"
    code = code_of(request, "body")
    assert request.text == (f"body=Your+code+is+{code}&datacoding=unicode&originator=Acme"
                            f"&recipients={PHONE}&type=sms")
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, code)
    assert log_row(sms_log(app)[0])[3:] == ("messagebird", "sent", "m1")


def test_whatsapp_goes_through_twilio_and_is_refused_elsewhere(make_app, servers):
    twilio = servers(FakeTwilio())
    app = phone_app(make_app, twilio)
    assert _signup(app, channel="whatsapp").status_code == 200
    fields = form(twilio.last)
    assert (fields["Channel"], fields["To"], fields["From"]) == (
        "whatsapp", f"whatsapp:+{PHONE}", "MG123")
    assert sms_log(app)[0].channel == "whatsapp"

    messagebird = servers(FakeMessagebird())
    other = phone_app(make_app, messagebird)
    refused = _signup(other, phone="+15550001111", channel="whatsapp")
    assert refused.status_code == 400
    assert refused.get_json() == {
        "code": "validation_failed",
        "message": "Invalid channel, supported values are 'sms' or 'whatsapp'. 'whatsapp' is "
                   "only supported if Twilio or Twilio Verify is used as the provider."}
    assert messagebird.received == [] and user_by_phone(other, "15550001111") is None


@pytest.mark.parametrize("status, answer, reason", [
    (400, {"code": 21211, "message": "Invalid 'To'", "more_info": "u", "status": 400},
     "Invalid 'To' More information: u"),
    (200, {"status": "failed", "error_code": "30007", "error_message": "x", "sid": "SM1"},
     "twilio error: x 30007 for message SM1"),
])
def test_a_refused_send_leaves_no_user(make_app, servers, status, answer, reason):
    fake = servers(FakeTwilio())
    fake.script(status, answer)
    app = phone_app(make_app, fake)
    response = _signup(app)
    assert response.status_code == 422
    assert response.get_json() == {
        "code": "sms_send_failed",
        "message": f"Error sending confirmation OTP to provider: {reason}"}
    assert count(app, User) == 0 and count(app, OneTimeToken) == 0
    # The attempt is logged although the signup rolled back.
    [entry] = sms_log(app)
    assert log_row(entry) == ("confirmation", PHONE, "sms", "twilio", "failed", None)
    assert entry.error == reason


def test_an_unreachable_provider_is_a_422_naming_it(make_app):
    app = phone_app(make_app, closed_port_url(), provider="twilio")
    response = _signup(app)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "sms_send_failed"
    assert body["message"].startswith("Error sending confirmation OTP to provider: twilio")
    assert count(app, User) == 0


def test_without_a_provider_known_and_new_numbers_answer_alike(make_app):
    app = make_app(**{"external.phone_enabled": True})
    make_user(app, phone="15555550123", password=PASSWORD)
    answers = [_signup(app, phone=phone) for phone in ("+15555550123", "+15555550124")]
    for response in answers:
        assert response.status_code == 500
        assert response.get_json() == {"code": "unexpected_failure",
                                       "message": "Unable to get SMS provider"}
    assert count(app, User) == 1


def test_a_missing_credential_is_unable_to_get_the_provider(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, auth_token="")
    response = _signup(app)
    assert response.status_code == 500
    assert response.get_json()["message"] == "Unable to get SMS provider"
    assert fake.received == [] and count(app, User) == 0


def test_an_unconfirmed_number_gets_a_new_code_after_the_interval(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    assert _signup(app).status_code == 200
    first = code_of(fake.last)
    again = _signup(app)
    assert again.status_code == 429
    assert again.get_json() == {
        "code": "over_sms_send_rate_limit",
        "message": "For security purposes, you can only request this after 60 seconds."}
    assert len(fake.received) == 1
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, first)

    later(app, 61)
    assert _signup(app).status_code == 200
    second = code_of(fake.last)
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, second)
    assert tokens(app, user.id) == {"confirmation_token": (digest(PHONE, second), PHONE)}
    assert count(app, User) == 1


def test_sms_max_frequency_sets_the_interval(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.max_frequency": timedelta(seconds=5)})
    assert _signup(app).status_code == 200
    assert _signup(app).get_json()["message"] == (
        "For security purposes, you can only request this after 5 seconds.")
    later(app, 6)
    assert _signup(app).status_code == 200


def test_autoconfirm_signs_in_without_a_message(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.autoconfirm": True})
    response = _signup(app)
    assert response.status_code == 200
    assert response.get_json()["access_token"]
    assert response.get_json()["user"]["phone_confirmed_at"]
    assert fake.received == [] and sms_log(app) == []


def test_a_confirmed_number_gets_a_look_alike_and_no_message(make_app, servers):
    # (Under either autoconfirm it is 422 user_already_exists instead: tests/api/test_signup.py.)
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    existing = make_user(app, phone=PHONE, password=PASSWORD)
    response = _signup(app)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] != str(existing) and body["phone"] == PHONE
    assert fake.received == [] and count(app, User) == 1


def test_a_test_number_gets_its_fixed_code_and_no_message(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"sms.test_otp": {PHONE: "424242"}})
    response = _signup(app)
    assert response.status_code == 200 and "message_id" not in response.get_json()
    assert fake.received == []
    user = user_by_phone(app, PHONE)
    assert user.confirmation_token == digest(PHONE, "424242")
    assert log_row(sms_log(app)[0]) == ("confirmation", PHONE, "sms", "twilio", "test_otp",
                                        "test-otp")


@pytest.mark.parametrize("password, kept", [(PASSWORD, True), ("someone-elses-1", False)])
def test_signing_up_again_keeps_the_password_only_if_presented(make_app, servers, password,
                                                               kept):
    """As for email sign-ups: confirming the number must not activate a password someone else
    chose (a sign-up for the owner's number before the owner)."""
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    user_id = make_user(app, phone=PHONE, password=PASSWORD, confirmed=False)
    stored = user_by_phone(app, PHONE).encrypted_password
    response = _signup(app, password=password)
    assert response.status_code == 200 and response.get_json()["id"] == str(user_id)
    assert (user_by_phone(app, PHONE).encrypted_password == stored) is kept
    if not kept:
        assert user_by_phone(app, PHONE).encrypted_password == ""
    assert user_by_phone(app, PHONE).confirmation_token == digest(PHONE, code_of(fake.last))


def test_the_look_alike_has_the_shape_of_a_new_user(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake)
    make_user(app, phone="15550001111", password=PASSWORD)
    new = _signup(app, data={"a": 1}).get_json()
    known = _signup(app, phone="+15550001111", data={"a": 1}).get_json()
    assert list(known) == list(new)
    assert list(known["identities"][0]["identity_data"]) == list(
        new["identities"][0]["identity_data"])
    assert known["user_metadata"].keys() == new["user_metadata"].keys()
