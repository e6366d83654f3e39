"""The official JavaScript client (npm ``@supabase/auth-js``) signing in by phone against the
server over real HTTP (spec phone-sms): signUp with a phone and password, signInWithOtp (SMS,
and WhatsApp through Twilio), verifyOtp with the texted code, updateUser with a new number then
verifyOtp type phone_change, resend, signInWithPassword, and the errors as the client returns
them. tests/live/js/oauth_driver.mjs keeps each client (and its session) alive between
commands. Texts go to the Twilio fake on loopback (tests/support/fake_sms.py); the code is read
out of the body the fake received, as a phone would show it.
"""

from __future__ import annotations

import re

import pytest

from ..api.phone.send_support import (code_of, digest, log_row, phone_app, sms_log, tokens,
                                      user_by_id, user_by_phone)
from ..api.phone.verify_support import phone_identities, wrong
from ..factories import later
from ..support.fake_sms import FakeTwilio, FakeVonage
from .test_auth_js_oauth import AuthJs, api_error

pytestmark = pytest.mark.live

PHONE, NEW = "15550005555", "15550006666"
PASSWORD = "password-123"
INVALID = ("AuthApiError", 403, "otp_expired")


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilio())


@pytest.fixture
def start(make_app, serve, auth_js, tmp_path):
    """``start(fake, **overrides)`` -> the server (phone sign-in on, texting through ``fake``)
    and an auth-js driver for it with one client, "a"."""
    drivers: list[AuthJs] = []

    def begin(fake, **overrides):
        server = serve(phone_app(make_app, fake, **overrides))
        driver = AuthJs(auth_js, server.url, tmp_path / f"node-{len(drivers)}.log")
        drivers.append(driver)
        driver.new("a")
        return server, driver

    yield begin
    for driver in drivers:
        driver.close()


def _ok(answer: dict) -> dict:
    assert answer["error"] is None, answer
    return answer["data"]


def _otp(js: AuthJs, phone: str = f"+{PHONE}", **options) -> dict:
    return js.call("a", "signInWithOtp", {"phone": phone, "options": options})


def _verify(js: AuthJs, phone: str, token: str, kind: str = "sms") -> dict:
    return js.call("a", "verifyOtp", {"phone": phone, "token": token, "type": kind})


def test_sign_in_with_otp_then_verify_otp(start, twilio):
    server, js = start(twilio)
    sent = _ok(_otp(js))
    assert sent == {"user": None, "session": None, "messageId": "SM1"}
    code = code_of(twilio.last)
    assert twilio.last.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{PHONE}"
    user = user_by_phone(server.app, PHONE)
    assert user.phone_confirmed_at is None
    assert tokens(server.app, user.id) == {"confirmation_token": (digest(PHONE, code), PHONE)}

    verified = _ok(_verify(js, f"+{PHONE}", code))
    session = verified["session"]
    assert session["access_token"] and session["refresh_token"]
    assert verified["user"]["id"] == str(user.id)
    assert verified["user"]["phone"] == PHONE and verified["user"]["phone_confirmed_at"]
    # The client kept the session: getUser goes out with its access token.
    assert _ok(js.call("a", "getUser"))["user"]["phone"] == PHONE
    assert _ok(js.call("a", "getSession"))["session"]["access_token"] == session["access_token"]

    row = user_by_phone(server.app, PHONE)
    assert row.phone_confirmed_at is not None and tokens(server.app, row.id) == {}
    [identity] = phone_identities(server.app, row.id)
    assert identity.provider_id == str(row.id)
    assert [log_row(entry) for entry in sms_log(server.app)] == [
        ("confirmation", PHONE, "sms", "twilio", "sent", "SM1")]


def test_sign_up_with_phone_and_password_then_sign_in(start, twilio):
    server, js = start(twilio)
    signed_up = _ok(js.call("a", "signUp", {"phone": f"+{PHONE}", "password": PASSWORD}))
    assert signed_up["session"] is None
    assert signed_up["user"]["phone"] == PHONE and not signed_up["user"].get("phone_confirmed_at")
    refused = js.call("a", "signInWithPassword", {"phone": f"+{PHONE}", "password": PASSWORD})
    assert api_error(refused) == ("AuthApiError", 400, "phone_not_confirmed")

    verified = _ok(_verify(js, PHONE, code_of(twilio.last)))
    assert verified["session"] and verified["user"]["phone_confirmed_at"]

    js.new("b")
    signed_in = _ok(js.call("b", "signInWithPassword", {"phone": f"+{PHONE}",
                                                        "password": PASSWORD}))
    assert signed_in["session"]["access_token"]
    assert signed_in["user"]["id"] == verified["user"]["id"]
    bad = js.call("b", "signInWithPassword", {"phone": f"+{PHONE}", "password": "not-it-123"})
    assert api_error(bad) == ("AuthApiError", 400, "invalid_credentials")
    assert len(phone_identities(server.app, verified["user"]["id"])) == 1


def test_a_wrong_code_is_otp_expired(start, twilio):
    server, js = start(twilio)
    _ok(_otp(js))
    code = code_of(twilio.last)
    refused = _verify(js, f"+{PHONE}", wrong(code))
    assert api_error(refused) == INVALID
    assert refused["error"]["message"] == "Token has expired or is invalid"
    assert _ok(js.call("a", "getSession"))["session"] is None
    assert user_by_phone(server.app, PHONE).phone_confirmed_at is None
    assert _ok(_verify(js, f"+{PHONE}", code))["session"]


def test_update_user_phone_then_verify_phone_change(start, twilio):
    server, js = start(twilio)
    _ok(_otp(js))
    user_id = _ok(_verify(js, PHONE, code_of(twilio.last)))["user"]["id"]

    updated = _ok(js.call("a", "updateUser", {"phone": f"+{NEW}"}))["user"]
    assert updated["phone"] == PHONE and updated["new_phone"] == NEW
    assert updated["phone_change_sent_at"]
    code = code_of(twilio.last)
    assert twilio.last.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{NEW}"
    row = user_by_id(server.app, user_id)
    assert (row.phone, row.phone_change) == (PHONE, NEW)

    assert api_error(_verify(js, NEW, wrong(code), "phone_change")) == INVALID
    changed = _ok(_verify(js, f"+{NEW}", code, "phone_change"))
    assert changed["session"]["access_token"]
    assert changed["user"]["id"] == user_id and changed["user"]["phone"] == NEW
    assert not changed["user"].get("new_phone")
    row = user_by_id(server.app, user_id)
    assert (row.phone, row.phone_change) == (NEW, "")
    assert row.phone_confirmed_at is not None and tokens(server.app, user_id) == {}
    [identity] = phone_identities(server.app, user_id)
    assert identity.identity_data["phone"] == NEW
    assert [log_row(entry)[:2] for entry in sms_log(server.app)] == [
        ("confirmation", PHONE), ("phone_change", NEW)]


def test_resend_sms_and_phone_change(start, twilio):
    server, js = start(twilio)
    _ok(js.call("a", "signUp", {"phone": f"+{PHONE}", "password": PASSWORD}))
    first = code_of(twilio.last)
    # The 60-second rule, as the client returns it.
    early = js.call("a", "resend", {"type": "sms", "phone": f"+{PHONE}"})
    assert api_error(early) == ("AuthApiError", 429, "over_sms_send_rate_limit")
    assert re.fullmatch(r"For security purposes, you can only request this after \d+ seconds\.",
                        early["error"]["message"])
    assert len(twilio.received) == 1

    later(server.app, 61)
    again = _ok(js.call("a", "resend", {"type": "sms", "phone": f"+{PHONE}"}))
    assert again["messageId"] == "SM1" and len(twilio.received) == 2
    second = code_of(twilio.last)
    assert api_error(_verify(js, PHONE, first if first != second else wrong(first))) == INVALID
    user_id = _ok(_verify(js, PHONE, second))["user"]["id"]

    later(server.app, 61)
    _ok(js.call("a", "updateUser", {"phone": f"+{NEW}"}))
    later(server.app, 61)
    # phone_change is resent by the current number; the code goes to the new one.
    resent = _ok(js.call("a", "resend", {"type": "phone_change", "phone": f"+{PHONE}"}))
    assert resent["messageId"] == "SM1"
    assert twilio.last.text.endswith(f"&To=%2B{NEW}")
    changed = _ok(_verify(js, NEW, code_of(twilio.last), "phone_change"))
    assert changed["user"]["phone"] == NEW
    assert user_by_id(server.app, user_id).phone == NEW
    assert [log_row(entry)[0] for entry in sms_log(server.app)] == [
        "confirmation", "confirmation", "phone_change", "phone_change"]


def test_whatsapp_through_twilio(start, twilio):
    server, js = start(twilio, content_sid="HX1")
    assert _ok(_otp(js, channel="whatsapp"))["messageId"] == "SM1"
    assert twilio.last.text.startswith("Channel=whatsapp&ContentSid=HX1&")
    assert twilio.last.text.endswith(f"&To=whatsapp%3A%2B{PHONE}")
    verified = _ok(_verify(js, PHONE, code_of(twilio.last, "ContentVariables")))
    assert verified["session"] and verified["user"]["phone"] == PHONE
    assert [log_row(entry) for entry in sms_log(server.app)] == [
        ("confirmation", PHONE, "whatsapp", "twilio", "sent", "SM1")]


def test_whatsapp_with_a_provider_that_cannot(start, servers):
    vonage = servers(FakeVonage())
    server, js = start(vonage)
    refused = _otp(js, channel="whatsapp")
    assert api_error(refused) == ("AuthApiError", 400, "validation_failed")
    assert vonage.received == [] and user_by_phone(server.app, PHONE) is None


def test_a_failed_send_is_sms_send_failed(start, twilio):
    server, js = start(twilio)
    twilio.script(400, {"code": 21211, "message": "Invalid 'To'", "more_info": "u",
                        "status": 400})
    refused = _otp(js)
    assert api_error(refused) == ("AuthApiError", 422, "sms_send_failed")
    assert refused["error"]["message"].startswith("Error sending confirmation OTP to provider: ")
    assert user_by_phone(server.app, PHONE) is None
    assert [log_row(entry)[4] for entry in sms_log(server.app)] == ["failed"]


def test_a_test_otp_number_signs_in_without_a_text(start, twilio):
    server, js = start(twilio, **{"sms.test_otp": {PHONE: "123456"}})
    assert _ok(_otp(js))["messageId"] == "test-otp"
    verified = _ok(_verify(js, PHONE, "123456"))
    assert verified["session"] and verified["user"]["phone"] == PHONE
    assert verified["user"]["phone_confirmed_at"]
    assert twilio.received == []
    assert [log_row(entry) for entry in sms_log(server.app)] == [
        ("confirmation", PHONE, "sms", "twilio", "test_otp", "test-otp")]
