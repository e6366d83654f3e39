"""Vonage against its fake: the request byte for byte (type=unicode for non-ASCII text) and every
answer of spec section 5 (the HTTP status is ignored; each message's status decides)."""

from __future__ import annotations

import pytest

from gotrue_web.transports.sms import SMSDeliveryError, SMSProviderUnavailable

from ..support.fake_sms import closed_port_url, sender_for
from .conftest import CODE, FORM, PHONE, SHORT_TIMEOUT, STALL, TEXT


def test_an_sms_is_posted_as_vonage_expects_it(vonage):
    assert sender_for(vonage).send(PHONE, TEXT, "sms", otp=CODE) == "v1"
    [request] = vonage.received
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["Content-Type"] == FORM
    assert "Authorization" not in request.headers
    assert request.body == (b"api_key=K&api_secret=S&from=Acme&text=Your+code+is+123456"
                            b"&to=15551234567")


def test_non_ascii_text_is_sent_as_unicode(vonage):
    sender_for(vonage).send(PHONE, "Código: 123456 ✓")
    assert vonage.last.body == (b"api_key=K&api_secret=S&from=Acme"
                                b"&text=C%C3%B3digo%3A+123456+%E2%9C%93&to=15551234567"
                                b"&type=unicode")


@pytest.mark.parametrize("status", [200, 400, 500])
def test_the_message_status_decides_whatever_the_http_status(vonage, status):
    vonage.script(status, {"message-count": "1",
                           "messages": [{"status": "0", "message-id": "v9"}]})
    assert sender_for(vonage).send(PHONE, TEXT) == "v9"


@pytest.mark.parametrize(("status", "body", "error"), [
    (200, {"messages": [{"status": "2", "error-text": "Missing to param"}]},
     "vonage error: Missing to param (status: 2) for message "),
    (200, {"messages": [{"status": "4", "error-text": "Bad Credentials", "message-id": "v2"}]},
     "vonage error: Bad Credentials (status: 4) for message v2"),
    (200, {"messages": []}, "vonage error: Internal Error"),
    (500, {}, "vonage error: Internal Error"),
    (502, "<html>Bad Gateway</html>",
     "vonage error: could not read the answer (HTTP 502, not JSON)"),
    (200, {"messages": [{"status": 0, "message-id": "v1"}]},
     "vonage error: could not read the answer (HTTP 200, status is not a string)"),
])
def test_vonage_failures_are_worded_as_gotrue_words_them(vonage, status, body, error):
    vonage.script(status, body)
    with pytest.raises(SMSDeliveryError) as caught:
        sender_for(vonage).send(PHONE, TEXT)
    assert str(caught.value) == error


def test_a_stalled_answer_times_out(vonage):
    vonage.script(200, {"messages": []}, delay=STALL)
    with pytest.raises(SMSDeliveryError, match="^vonage error: no answer within 0.3 "):
        sender_for(vonage, timeout=SHORT_TIMEOUT).send(PHONE, TEXT)


def test_a_refused_connection_names_vonage():
    with pytest.raises(SMSDeliveryError, match="^vonage error: could not connect"):
        sender_for(closed_port_url(), "vonage").send(PHONE, TEXT)


@pytest.mark.parametrize(("credentials", "error"), [
    ({"api_key": ""}, "missing Vonage API key"),
    ({"api_secret": ""}, "missing Vonage API secret"),
    ({"from_": ""}, "missing Vonage 'from' parameter"),
])
def test_each_credential_is_checked_before_sending(vonage, credentials, error):
    with pytest.raises(SMSProviderUnavailable, match=f"^{error}$"):
        sender_for(vonage, **credentials).send(PHONE, TEXT)
    assert vonage.received == []


def test_whatsapp_is_refused(vonage):
    with pytest.raises(SMSDeliveryError, match='not supported for Vonage$'):
        sender_for(vonage).send(PHONE, TEXT, "whatsapp")
    assert vonage.received == []
