"""Twilio Programmable Messaging against its fake: the request byte for byte (SMS, WhatsApp with
and without a content template, number and MG senders) and every answer of spec section 5."""

from __future__ import annotations

import time

import pytest

from gotrue_web.transports.sms import SMSDeliveryError, SMSProviderUnavailable

from ..support.fake_sms import closed_port_url, sender_for, sms_settings
from .conftest import CODE, FORM, PHONE, SHORT_TIMEOUT, STALL, TEXT

PATH = "/2010-04-01/Accounts/AC1/Messages.json"


def test_an_sms_is_posted_as_twilio_expects_it(twilio):
    assert sender_for(twilio).send(PHONE, TEXT, "sms", otp=CODE) == "SM1"
    [request] = twilio.received
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["Content-Type"] == FORM
    assert request.headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert request.body == b"Body=Your+code+is+123456&Channel=sms&From=MG123&To=%2B15551234567"


def test_the_channel_defaults_to_sms_and_a_plus_in_the_number_is_not_doubled(twilio):
    sender_for(twilio).send("+" + PHONE, TEXT)
    assert twilio.last.text.endswith("&Channel=sms&From=MG123&To=%2B15551234567")


def test_whatsapp_from_a_number_prefixes_both_ends(twilio):
    sender = sender_for(twilio, message_service_sid="+15550001111")
    assert sender.send(PHONE, TEXT, "whatsapp", otp=CODE) == "SM1"
    assert twilio.last.body == (b"Body=Your+code+is+123456&Channel=whatsapp"
                                b"&From=whatsapp%3A%2B15550001111&To=whatsapp%3A%2B15551234567")


def test_whatsapp_from_a_messaging_service_keeps_the_sid(twilio):
    sender_for(twilio).send(PHONE, TEXT, "whatsapp", otp=CODE)
    assert twilio.last.body == (b"Body=Your+code+is+123456&Channel=whatsapp&From=MG123"
                                b"&To=whatsapp%3A%2B15551234567")


def test_a_sender_number_with_spaces_is_still_a_number(twilio):
    sender_for(twilio, message_service_sid="+1 555 000 1111").send(PHONE, TEXT, "whatsapp")
    assert b"&From=whatsapp%3A%2B1+555+000+1111&" in twilio.last.body


def test_whatsapp_with_a_content_template_sends_the_code_not_the_text(twilio):
    sender = sender_for(twilio, message_service_sid="+15550001111", content_sid="HX1")
    sender.send(PHONE, TEXT, "whatsapp", otp=CODE)
    assert twilio.last.body == (
        b"Channel=whatsapp&ContentSid=HX1&ContentVariables=%7B%221%22%3A+%22123456%22%7D"
        b"&From=whatsapp%3A%2B15550001111&To=whatsapp%3A%2B15551234567")


def test_the_content_template_is_for_whatsapp_only(twilio):
    sender_for(twilio, content_sid="HX1").send(PHONE, TEXT, "sms", otp=CODE)
    assert twilio.last.body == b"Body=Your+code+is+123456&Channel=sms&From=MG123&To=%2B15551234567"


def test_a_content_template_without_the_code_is_refused_before_sending(twilio):
    sender = sender_for(twilio, content_sid="HX1")
    with pytest.raises(SMSDeliveryError, match="content template needs the code"):
        sender.send(PHONE, TEXT, "whatsapp")
    assert twilio.received == []


@pytest.mark.parametrize("answer", [
    (201, {"sid": "SM1", "status": "queued", "error_code": None}),
    (200, {"sid": "SM1", "status": "sent"}),
])
def test_200_and_201_give_the_message_sid(twilio, answer):
    twilio.script(*answer)
    assert sender_for(twilio).send(PHONE, TEXT) == "SM1"


@pytest.mark.parametrize(("status", "body", "error"), [
    (200, {"status": "failed", "error_code": "30007", "error_message": "x", "sid": "SM1"},
     "twilio error: x 30007 for message SM1"),
    (201, {"status": "undelivered", "error_code": "30003", "error_message": "Unreachable",
           "sid": "SM2"}, "twilio error: Unreachable 30003 for message SM2"),
    (400, {"code": 21211, "message": "Invalid 'To'", "more_info": "u", "status": 400},
     "Invalid 'To' More information: u"),
    (500, {"code": 20500, "message": "Internal Server Error",
           "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500},
     "Internal Server Error More information: https://www.twilio.com/docs/errors/20500"),
    (401, {}, " More information: "),
])
def test_twilio_errors_are_worded_as_gotrue_words_them(twilio, status, body, error):
    twilio.script(status, body)
    with pytest.raises(SMSDeliveryError) as caught:
        sender_for(twilio).send(PHONE, TEXT)
    assert str(caught.value) == error
    assert type(caught.value) is SMSDeliveryError


@pytest.mark.parametrize(("status", "body", "why"), [
    (502, "<html><body>Bad Gateway</body></html>", "HTTP 502, not JSON"),
    (201, "", "HTTP 201, not JSON"),
    (201, '["SM1"]', "HTTP 201, not a JSON object"),
    # Twilio documents error_code as a string: a number cannot be read (as in GoTrue).
    (200, '{"sid": "SM1", "status": "failed", "error_code": 30007}',
     "HTTP 200, error_code is not a string"),
    (400, '{"code": "21211", "message": "m"}', "HTTP 400, code is not an integer"),
])
def test_answers_that_cannot_be_read_name_twilio(twilio, status, body, why):
    twilio.script(status, body, content_type="text/html")
    with pytest.raises(SMSDeliveryError) as caught:
        sender_for(twilio).send(PHONE, TEXT)
    assert str(caught.value) == f"twilio error: could not read the answer ({why})"


def test_a_stalled_answer_times_out(twilio):
    twilio.script(201, {"sid": "SM1"}, delay=STALL)
    started = time.monotonic()
    with pytest.raises(SMSDeliveryError, match=r"^twilio error: no answer within 0\.3 seconds$"):
        sender_for(twilio, timeout=SHORT_TIMEOUT).send(PHONE, TEXT)
    assert time.monotonic() - started < STALL - 1


def test_a_refused_connection_names_twilio():
    with pytest.raises(SMSDeliveryError,
                       match="^twilio error: could not connect to the provider$"):
        sender_for(closed_port_url(), "twilio").send(PHONE, TEXT)


@pytest.mark.parametrize(("credentials", "error"), [
    ({"account_sid": ""}, "missing Twilio account SID"),
    ({"auth_token": ""}, "missing Twilio auth token"),
    ({"message_service_sid": ""}, "missing Twilio message service SID or Twilio phone number"),
])
def test_each_credential_is_checked_before_sending(twilio, credentials, error):
    sender = sender_for(twilio, **credentials)
    assert (sender.available, sender.reason) == (False, error)
    with pytest.raises(SMSProviderUnavailable, match=f"^{error}$"):
        sender.send(PHONE, TEXT)
    assert twilio.received == []


def test_other_channels_are_refused(twilio):
    with pytest.raises(SMSDeliveryError, match='^channel type "rcs" is not supported for Twilio$'):
        sender_for(twilio).send(PHONE, TEXT, "rcs")
    assert twilio.received == []


def test_the_app_sends_through_the_configured_url_with_the_internal_timeout(make_app, twilio):
    app = make_app(**sms_settings(twilio, timeout=SHORT_TIMEOUT))
    sender = app.extensions["gotrue"].sms
    assert (sender.name, sender.available, sender.supports_whatsapp,
            sender.delegates_codes) == ("twilio", True, True, False)
    assert sender.send(PHONE, TEXT) == "SM1"
    assert twilio.last.path == PATH
    twilio.script(201, {"sid": "SM1"}, delay=STALL)
    with pytest.raises(SMSDeliveryError, match="no answer within 0.3 seconds"):
        sender.send(PHONE, TEXT)
