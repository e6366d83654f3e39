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

from .conftest import ApiClient, table_rows
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
    ("twilio", "missing Twilio account SID"),
    ("telesign", "sms Provider telesign could not be found"),
])
def test_without_an_available_provider_sms_is_refused(provider, reason):
    sender = sms.build(SMSSettings(provider=provider))
    assert sender.available is False
    with pytest.raises(sms.SMSProviderUnavailable, match=reason):
        sender.send("15555550100", "Your code is 123456")


def test_every_phone_flow_refuses_before_writing_anything(make_app, service_role_token):
    app = make_app(**{"external.phone_enabled": True, "sms.provider": "twilio"})
    api = ApiClient(app.test_client(), service_role_token)
    signup = api.post("/signup", json={"phone": "+1 555 555 0100", "password": "password-123"})
    otp = api.post("/otp", json={"phone": "+15555550100"})
    resend = api.post("/resend", json={"type": "sms", "phone": "+15555550100"})
    # twilio without its credentials: GoTrue's answer, before anything is written (codes that
    # are texted: tests/api/phone/).
    for response in (signup, otp):
        assert response.status_code == 500
        assert response.get_json() == {"code": "unexpected_failure",
                                       "message": "Unable to get SMS provider"}
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
