"""Textlocal against its fake: the request byte for byte and every answer of spec section 5
(the HTTP status is ignored; the JSON status decides)."""

from __future__ import annotations

import pytest

from gotrue_web.transports.sms import SMSDeliveryError, SMSProviderUnavailable

from ..support.fake_sms import closed_port_url, sender_for
from .conftest import CODE, FORM, PHONE, SHORT_TIMEOUT, STALL, TEXT


def test_an_sms_is_posted_as_textlocal_expects_it(textlocal):
    assert sender_for(textlocal).send(PHONE, TEXT, "sms", otp=CODE) == ""
    [request] = textlocal.received
    assert (request.method, request.path) == ("POST", "/send")
    assert request.headers["Content-Type"] == FORM
    assert "Authorization" not in request.headers
    assert request.body == (b"apikey=KEY&message=Your+code+is+123456&numbers=15551234567"
                            b"&sender=Acme")


@pytest.mark.parametrize("status", [200, 400, 500])
def test_success_is_the_json_status_whatever_the_http_status(textlocal, status):
    textlocal.script(status, {"status": "success", "messages": [{"id": "1"}]})
    assert sender_for(textlocal).send(PHONE, TEXT) == ""


@pytest.mark.parametrize(("status", "body", "error"), [
    (200, {"status": "failure", "errors": [{"code": 3, "message": "Invalid login details"}]},
     "textlocal error: Invalid login details (code: 3) message "),
    (500, {"status": "failure", "errors": [{"code": 51, "message": "No valid numbers"}],
           "messages": [{"id": "77"}]},
     "textlocal error: No valid numbers (code: 51) message 77"),
    (200, {"status": "failure", "errors": [{"code": 80, "message": "Invalid template"}]},
     "textlocal error: Invalid template (code: 80) template message: Your code is 123456"),
    # GoTrue crashes on an empty list (a 500); here it is a refusal naming the provider.
    (200, {"status": "failure", "errors": []},
     "textlocal error: status 'failure' without an error (HTTP 200)"),
    (502, "<html>Bad Gateway</html>",
     "textlocal error: could not read the answer (HTTP 502, not JSON)"),
    (200, {"status": "failure", "errors": [{"code": "3", "message": "m"}]},
     "textlocal error: could not read the answer (HTTP 200, code is not an integer)"),
])
def test_textlocal_failures_are_worded_as_gotrue_words_them(textlocal, status, body, error):
    textlocal.script(status, body)
    with pytest.raises(SMSDeliveryError) as caught:
        sender_for(textlocal).send(PHONE, TEXT)
    assert str(caught.value) == error


def test_a_stalled_answer_times_out(textlocal):
    textlocal.script(200, {"status": "success"}, delay=STALL)
    with pytest.raises(SMSDeliveryError, match="^textlocal error: no answer within 0.3 "):
        sender_for(textlocal, timeout=SHORT_TIMEOUT).send(PHONE, TEXT)


def test_a_refused_connection_names_textlocal():
    with pytest.raises(SMSDeliveryError, match="^textlocal error: could not connect"):
        sender_for(closed_port_url(), "textlocal").send(PHONE, TEXT)


@pytest.mark.parametrize(("credentials", "error"), [
    ({"api_key": ""}, "missing Textlocal API key"),
    ({"sender": ""}, "missing Textlocal sender"),
])
def test_each_credential_is_checked_before_sending(textlocal, credentials, error):
    with pytest.raises(SMSProviderUnavailable, match=f"^{error}$"):
        sender_for(textlocal, **credentials).send(PHONE, TEXT)
    assert textlocal.received == []


def test_whatsapp_is_refused(textlocal):
    with pytest.raises(SMSDeliveryError, match='not supported for Textlocal$'):
        sender_for(textlocal).send(PHONE, TEXT, "whatsapp")
    assert textlocal.received == []
