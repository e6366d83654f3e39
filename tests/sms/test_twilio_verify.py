"""Twilio Verify against its fake: starting a verification (Twilio texts its own code) and
checking a code, byte for byte, with every answer of spec section 5."""

from __future__ import annotations

import pytest

from gotrue_web.settings import SMSSettings
from gotrue_web.transports.sms import (SMSDeliveryError, SMSProviderUnavailable,
                                       SMSVerificationError, build)

from ..support.fake_sms import CREDENTIALS, closed_port_url, sender_for
from .conftest import CODE, FORM, PHONE, SHORT_TIMEOUT, STALL, TEXT

START = "/v2/Services/VA1/Verifications"
CHECK = "/v2/Services/VA1/VerificationCheck"


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_a_verification_is_started_without_text_or_prefix(twilio_verify, channel):
    sender = sender_for(twilio_verify)
    assert (sender.delegates_codes, sender.supports_whatsapp) == (True, True)
    assert sender.send(PHONE, TEXT, channel, otp=CODE) == "VE1"
    [request] = twilio_verify.received
    assert (request.method, request.path) == ("POST", START)
    assert request.headers["Content-Type"] == FORM
    assert request.headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert request.body == f"Channel={channel}&To=%2B15551234567".encode()


def test_a_code_is_checked_with_the_number_it_was_sent_to(twilio_verify):
    assert sender_for(twilio_verify).check(PHONE, CODE) is None
    [request] = twilio_verify.received
    assert (request.method, request.path) == ("POST", CHECK)
    assert request.headers["Content-Type"] == FORM
    assert request.headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert request.body == b"Code=123456&To=%2B15551234567"


@pytest.mark.parametrize(("status", "body", "error"), [
    (429, {"code": 60203, "message": "Max send attempts reached", "more_info": "u",
           "status": 429}, "Max send attempts reached More information: u"),
    (500, {"code": 20500, "message": "Internal", "more_info": "v", "status": 500},
     "Internal More information: v"),
    (502, "<html>Bad Gateway</html>", "twilio verify error: could not read the answer "
                                      "(HTTP 502, not JSON)"),
    (201, "nope", "twilio verify error: could not read the answer (HTTP 201, not JSON)"),
])
def test_a_refused_start_is_a_delivery_error(twilio_verify, status, body, error):
    twilio_verify.script(status, body)
    with pytest.raises(SMSDeliveryError) as caught:
        sender_for(twilio_verify).send(PHONE, TEXT)
    assert str(caught.value) == error


@pytest.mark.parametrize(("status", "body", "error"), [
    (200, {"status": "pending", "valid": False},
     "twilio verification error:  pending"),
    (200, {"status": "approved", "valid": False, "error_message": "stale"},
     "twilio verification error: stale approved"),
    (201, {"status": "approved"}, "twilio verification error:  approved"),
    (200, {"status": "canceled", "valid": True}, "twilio verification error:  canceled"),
    # Twilio answers 404 once a verification expired or was approved already.
    (404, {"code": 20404, "message": "The requested resource was not found",
           "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404},
     "The requested resource was not found More information: "
     "https://www.twilio.com/docs/errors/20404"),
    (500, {"code": 20500, "message": "Internal", "more_info": "v", "status": 500},
     "Internal More information: v"),
    (200, "<html/>", "twilio verify error: could not read the answer (HTTP 200, not JSON)"),
])
def test_a_code_passes_only_when_approved_and_valid(twilio_verify, status, body, error):
    twilio_verify.script(status, body)
    with pytest.raises(SMSVerificationError) as caught:
        sender_for(twilio_verify).check(PHONE, CODE)
    assert str(caught.value) == error


def test_a_stalled_check_is_a_verification_error(twilio_verify):
    twilio_verify.script(200, {"status": "approved", "valid": True}, delay=STALL)
    with pytest.raises(SMSVerificationError, match="^twilio verify error: no answer within 0.3"):
        sender_for(twilio_verify, timeout=SHORT_TIMEOUT).check(PHONE, CODE)


def test_a_stalled_start_is_a_delivery_error(twilio_verify):
    twilio_verify.script(201, {"sid": "VE1"}, delay=STALL)
    with pytest.raises(SMSDeliveryError, match="^twilio verify error: no answer within 0.3"):
        sender_for(twilio_verify, timeout=SHORT_TIMEOUT).send(PHONE, TEXT)


def test_a_refused_connection_fails_start_and_check():
    sender = sender_for(closed_port_url(), "twilio_verify")
    with pytest.raises(SMSDeliveryError, match="^twilio verify error: could not connect"):
        sender.send(PHONE, TEXT)
    with pytest.raises(SMSVerificationError, match="^twilio verify error: could not connect"):
        sender.check(PHONE, CODE)


@pytest.mark.parametrize(("credentials", "error"), [
    ({"account_sid": ""}, "missing Twilio account SID"),
    ({"auth_token": ""}, "missing Twilio auth token"),
    ({"message_service_sid": ""}, "missing Twilio message service SID or Twilio phone number"),
])
def test_missing_credentials_make_the_provider_unavailable(twilio_verify, credentials, error):
    sender = sender_for(twilio_verify, **credentials)
    for attempt in (lambda: sender.send(PHONE, TEXT), lambda: sender.check(PHONE, CODE)):
        with pytest.raises(SMSProviderUnavailable, match=f"^{error}$"):
            attempt()
    assert twilio_verify.received == []


def test_the_plain_twilio_credentials_are_not_used():
    sms = SMSSettings(provider="twilio_verify", twilio=CREDENTIALS["twilio"])
    assert build(sms).reason == "missing Twilio account SID"


def test_other_providers_do_not_check_codes(twilio):
    with pytest.raises(SMSVerificationError):
        sender_for(twilio).check(PHONE, CODE)
    assert twilio.received == []
