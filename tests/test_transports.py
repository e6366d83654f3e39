"""The outgoing transports behind their protocols: the in-memory mailer carrying a real flow,
the SMS sender used while no provider is available, and outbound HTTP with its limits."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gotrue_web.models import MailLogEntry, User
from gotrue_web.settings import SMSSettings, SMTPSettings
from gotrue_web.transports import http, sms
from gotrue_web.transports.mail import OutgoingMail
from gotrue_web.transports.mail.memory import MemoryMailer
from gotrue_web.transports.mail.smtp import SMTPMailer

from .conftest import ApiClient, api_for, table_rows
from .factories import count, token_hash


def test_every_mail_transport_follows_the_protocol():
    memory = MemoryMailer()
    message = OutgoingMail(to="Ada@Example.com", subject="Hi", html="<p>hi</p>")
    assert memory.enabled and memory.send(message) is True
    assert memory.sent == [message] and memory.to("ada@example.com") == [message]
    # Without an SMTP host the SMTP transport is off and drops what it is given.
    off = SMTPMailer(SMTPSettings(host=""), mail_state=None)
    assert off.enabled is False and off.send(message) is False


def test_a_signup_confirmation_goes_through_the_runtime_mailer(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": False})
    outbox = MemoryMailer()
    app.extensions["gotrue"].mailer = outbox
    api = ApiClient(app.test_client(), service_role_token)
    response = api.signup("grace@example.com")
    assert response.status_code == 200
    [mail] = outbox.to("grace@example.com")
    assert mail.template == "confirmation" and mail.subject == "Confirm your email address"
    # The code in the email is the one the user row holds the hash of.
    code = mail.html.split("Or enter this code: ")[1][:6]
    [(stored,)] = table_rows(app, sa.select(User.confirmation_token)
                             .where(User.email == "grace@example.com"))
    assert stored == token_hash("grace@example.com", code)
    [(status, template)] = table_rows(app, sa.select(MailLogEntry.status, MailLogEntry.template))
    assert (status, template) == ("sent", "confirmation")


@pytest.mark.parametrize("provider, reason", [
    ("", "no SMS provider is configured"),
    ("twilio", "the SMS provider 'twilio' is not available in this server yet"),
])
def test_without_an_available_provider_sms_is_refused(provider, reason):
    sender = sms.build(SMSSettings(provider=provider))
    assert sender.available is False
    with pytest.raises(sms.SMSDeliveryError, match=reason):
        sender.send("15555550100", "Your code is 123456")


def test_every_phone_flow_refuses_before_writing_anything(make_app, service_role_token):
    app = make_app(**{"external.phone_enabled": True, "sms.provider": "twilio"})
    api = ApiClient(app.test_client(), service_role_token)
    signup = api.post("/signup", json={"phone": "+1 555 555 0100", "password": "password-123"})
    otp = api.post("/otp", json={"phone": "+15555550100"})
    resend = api.post("/resend", json={"type": "sms", "phone": "+15555550100"})
    for response, flow in ((signup, "confirmation OTP to provider"), (otp, "sms OTP")):
        assert response.status_code == 422
        assert response.get_json() == {
            "code": "sms_send_failed",
            "message": f"Error sending {flow}: the SMS provider 'twilio' is not available in "
                       "this server yet"}
    # Nobody has that number, so there is nothing to resend: the usual empty answer.
    assert resend.status_code == 200 and resend.get_json() == {}
    assert count(app, User) == 0


def test_http_get_text_returns_the_body(template_server):
    template_server.pages["/page"] = "<p>héllo</p>"
    assert http.get_text(template_server.url + "/page", timeout=5, max_bytes=1024) == "<p>héllo</p>"


@pytest.mark.parametrize("page, message", [
    ((404, "gone"), "HTTP Error 404: Not Found"),
    ((503, "busy"), "HTTP Error 503: Service Unavailable"),
    ("x" * 2049, "answer larger than 2 KiB"),
])
def test_http_get_text_refuses_errors_and_oversized_answers(template_server, page, message):
    template_server.pages["/page"] = page
    with pytest.raises(http.FetchError, match=message):
        http.get_text(template_server.url + "/page", timeout=5, max_bytes=2048)


def test_http_get_text_refuses_other_schemes_and_closed_ports():
    with pytest.raises(http.FetchError, match="not an http"):
        http.get_text("file:///etc/passwd", timeout=1, max_bytes=1024)
    with pytest.raises(http.FetchError):
        http.get_text("http://127.0.0.1:1/", timeout=1, max_bytes=1024)


class _ClaimsToSend:
    """A sender that says it can send: the flows must still not carry on without a code."""

    available = True
    reason = ""

    def __init__(self):
        self.sent = []

    def send(self, to: str, body: str, channel: str = "sms") -> str:
        self.sent.append((to, body, channel))
        return "message-1"


def test_phone_flows_fail_closed_whatever_the_sender_says(make_app, service_role_token):
    app = make_app(**{"external.phone_enabled": True})
    sender = _ClaimsToSend()
    app.extensions["gotrue"].sms = sender
    api = api_for(app, service_role_token)
    response = api.post("/signup", json={"phone": "15555550100", "password": "password-123"})
    assert response.status_code == 422
    assert response.get_json() == {
        "code": "sms_send_failed",
        "message": "Error sending confirmation OTP to provider: texting codes is not available "
                   "in this server yet"}
    # No unverified phone account was confirmed, and nothing claims a code went out.
    assert count(app, User) == 0 and sender.sent == []
