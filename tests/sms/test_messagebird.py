"""MessageBird against its fake: the request byte for byte and every answer of spec section 5
(errors only on 400/401/403/422; any other status is read as the message)."""

from __future__ import annotations

import pytest

from gotrue_web.transports.sms import SMSDeliveryError, SMSProviderUnavailable

from ..support.fake_sms import closed_port_url, sender_for
from .conftest import CODE, FORM, PHONE, SHORT_TIMEOUT, STALL, TEXT


def test_an_sms_is_posted_as_messagebird_expects_it(messagebird):
    sender = sender_for(messagebird)
    assert (sender.name, sender.delegates_codes, sender.supports_whatsapp) == (
        "messagebird", False, False)
    assert sender.send(PHONE, TEXT, "sms", otp=CODE) == "m1"
    [request] = messagebird.received
    assert (request.method, request.path) == ("POST", "/messages")
    assert request.headers["Content-Type"] == FORM
    assert request.headers["Authorization"] == "AccessKey KEY"
    assert request.body == (b"body=Your+code+is+123456&datacoding=unicode&originator=Acme"
                            b"&recipients=15551234567&type=sms")


@pytest.mark.parametrize("status", [200, 201, 500])
def test_any_status_but_the_error_ones_is_read_as_the_message(messagebird, status):
    messagebird.script(status, {"id": "m7", "recipients": {"totalSentCount": 1}})
    assert sender_for(messagebird).send(PHONE, TEXT) == "m7"


@pytest.mark.parametrize(("status", "body", "error"), [
    (201, {"id": "m1", "recipients": {"totalSentCount": 0}},
     "messagebird error: total sent count is 0"),
    # A 5xx without a count reads as a count of 0.
    (500, {"error": "down"}, "messagebird error: total sent count is 0"),
    (422, {"errors": [{"code": 21, "description": "d", "parameter": "recipients"}]}, "d"),
    (400, {"errors": [{"code": 9, "description": "no (correct) recipients found"}]},
     "no (correct) recipients found"),
    (401, {"errors": [{"code": 2, "description": "Request not allowed (incorrect access_key)",
                       "parameter": None}]}, "Request not allowed (incorrect access_key)"),
    (403, {"errors": [{"code": 2, "description": "forbidden"}]}, "forbidden"),
    # GoTrue crashes on an empty list (a 500); here it is a refusal naming the provider.
    (422, {"errors": []}, "messagebird error: HTTP 422 without an error description"),
    (422, {}, "messagebird error: HTTP 422 without an error description"),
    (502, "<html>Bad Gateway</html>", "messagebird error: could not read the answer "
                                      "(HTTP 502, not JSON)"),
    (422, "oops", "messagebird error: could not read the answer (HTTP 422, not JSON)"),
    (201, {"id": "m1", "recipients": [1]}, "messagebird error: could not read the answer "
                                           "(HTTP 201, recipients is not an object)"),
])
def test_messagebird_failures_are_worded_as_gotrue_words_them(messagebird, status, body, error):
    messagebird.script(status, body)
    with pytest.raises(SMSDeliveryError) as caught:
        sender_for(messagebird).send(PHONE, TEXT)
    assert str(caught.value) == error


def test_a_stalled_answer_times_out(messagebird):
    messagebird.script(201, {"id": "m1"}, delay=STALL)
    with pytest.raises(SMSDeliveryError, match="^messagebird error: no answer within 0.3 "):
        sender_for(messagebird, timeout=SHORT_TIMEOUT).send(PHONE, TEXT)


def test_a_refused_connection_names_messagebird():
    with pytest.raises(SMSDeliveryError, match="^messagebird error: could not connect"):
        sender_for(closed_port_url(), "messagebird").send(PHONE, TEXT)


@pytest.mark.parametrize(("credentials", "error"), [
    ({"access_key": ""}, "missing Messagebird access key"),
    ({"originator": ""}, "missing Messagebird originator"),
])
def test_each_credential_is_checked_before_sending(messagebird, credentials, error):
    with pytest.raises(SMSProviderUnavailable, match=f"^{error}$"):
        sender_for(messagebird, **credentials).send(PHONE, TEXT)
    assert messagebird.received == []


def test_whatsapp_is_refused(messagebird):
    with pytest.raises(SMSDeliveryError,
                       match='^channel type "whatsapp" is not supported for Messagebird$'):
        sender_for(messagebird).send(PHONE, TEXT, "whatsapp")
    assert messagebird.received == []
