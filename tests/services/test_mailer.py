"""The SMTP transport against real servers on loopback: plain SMTP, STARTTLS with a CA made in
the test (trusted through SSL_CERT_FILE, as an operator would), implicit TLS on port 465, AUTH,
a server that never answers, a closed port, a refusing server and no SMTP host at all."""

from __future__ import annotations

import secrets
import smtplib
import socket
import time
from datetime import timedelta

import pytest

from gotrue_web.settings import SettingsError, SMTPSettings
from gotrue_web.transports.mail import MailDeliveryError, OutgoingMail
from gotrue_web.transports.mail.smtp import flask_mail_config, implicit_tls, open_smtp

from ..conftest import api_for, smtp_settings
from ..support import smtp as smtp_support
from ..support.mail_servers import SecureSMTPSink, Tarpit, make_certificates

MAIL = OutgoingMail(to="ada@example.com", subject="Confirm your email address",
                    html="<p>Hello <b>Ada</b></p>", template="confirmation")


def _send(app, mail: OutgoingMail = MAIL) -> bool:
    with app.app_context():
        return app.extensions["gotrue"].mailer.send(mail)


@pytest.fixture
def tls_files(tmp_path):
    return make_certificates(tmp_path / "tls")


# --- plain SMTP --------------------------------------------------------------------------------


def test_plain_smtp_delivers_with_the_configured_sender(make_mail_app, smtp_server):
    app = make_mail_app(**{"smtp.sender_name": "Acme Auth"})
    assert _send(app) is True
    [message] = smtp_server.wait_for("ada@example.com")
    assert message["From"] == "Acme Auth <auth@example.com>"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your email address"
    assert message["Message-ID"].endswith("@example.com>")
    assert smtp_support.html_body(message).strip() == "<p>Hello <b>Ada</b></p>"
    assert smtp_server.envelopes == [("auth@example.com", ["ada@example.com"])]


def test_smtp_headers_go_on_every_email_with_the_message_type(make_mail_app, smtp_server):
    """GOTRUE_SMTP_HEADERS: each header once, its values joined by commas, $messageType
    replaced by the email's template."""
    app = make_mail_app(**{"smtp.headers": (
        ("X-PM-Message-Stream", ("outbound",)),
        ("X-Tags", ("gotrue", "type-$messageType")),
        ("List-Unsubscribe", ("<mailto:unsubscribe@example.com?subject=$messageType>",)))})
    _send(app)
    _send(app, OutgoingMail(to="bob@example.com", subject="Reset", html="<p>x</p>",
                            template="recovery"))
    [confirmation] = smtp_server.wait_for("ada@example.com")
    [recovery] = smtp_server.wait_for("bob@example.com")
    assert confirmation.get_all("X-PM-Message-Stream") == ["outbound"]
    assert confirmation.get_all("X-Tags") == ["gotrue, type-confirmation"]
    assert recovery["X-Tags"] == "gotrue, type-recovery"
    assert (recovery["List-Unsubscribe"]
            == "<mailto:unsubscribe@example.com?subject=recovery>")
    # The message's own headers are untouched.
    assert confirmation["Subject"] == "Confirm your email address"
    assert confirmation.get_all("From") == ["auth@example.com"]


def test_smtp_headers_on_an_email_the_api_sends(make_mail_app, smtp_server):
    """Through the mail outbox: a sign-up's confirmation email carries them too."""
    app = make_mail_app(**{"smtp.headers": (("X-Message-Type", ("$messageType",)),)})
    response = api_for(app).post("/signup", json={"email": "new@example.com",
                                                  "password": "password-123"})
    assert response.status_code == 200, response.get_json()
    [message] = smtp_server.wait_for("new@example.com")
    assert message["X-Message-Type"] == "confirmation"


def test_without_smtp_headers_no_extra_header_is_sent(make_mail_app, smtp_server):
    app = make_mail_app()
    _send(app)
    [message] = smtp_server.wait_for("ada@example.com")
    assert {name.lower() for name in message.keys()} == {
        "from", "to", "subject", "date", "message-id", "mime-version", "content-type"}


def test_sender_without_a_name_is_the_admin_email(make_mail_app, smtp_server):
    app = make_mail_app()
    _send(app)
    [message] = smtp_server.wait_for("ada@example.com")
    assert message["From"] == "auth@example.com"


def test_sender_name_that_needs_quoting_is_quoted(make_mail_app, smtp_server):
    app = make_mail_app(**{"smtp.sender_name": "Acme, Inc."})
    _send(app)
    [message] = smtp_server.wait_for("ada@example.com")
    assert message["From"] == '"Acme, Inc." <auth@example.com>'
    assert message["From"].addresses[0].addr_spec == "auth@example.com"


def test_without_smtp_host_nothing_is_sent(make_app, smtp_server):
    app = make_app(**{"smtp.port": smtp_server.port, "smtp.admin_email": "auth@example.com"})
    assert _send(app) is False
    assert smtp_server.messages == []


def test_smtp_host_without_admin_email_stops_start_up(make_app, smtp_server):
    with pytest.raises(SettingsError, match="^GOTRUE_SMTP_ADMIN_EMAIL: required when "
                                            "GOTRUE_SMTP_HOST is set$"):
        make_app(**{"smtp.host": "127.0.0.1", "smtp.port": smtp_server.port})
    assert smtp_server.messages == []


def test_refused_message_reports_the_smtp_reply(make_mail_app, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Message rejected"
    app = make_mail_app()
    with pytest.raises(MailDeliveryError) as caught:
        _send(app)
    assert str(caught.value) == (f"SMTP server 127.0.0.1:{smtp_server.port} replied "
                                 "554 5.7.1 Message rejected")


def test_closed_port_is_connection_refused(make_app, closed_port):
    app = make_app(**smtp_settings(closed_port))
    with pytest.raises(MailDeliveryError) as caught:
        _send(app)
    assert str(caught.value) == (f"could not connect to SMTP server 127.0.0.1:{closed_port}: "
                                 "connection refused")


def test_tarpit_fails_at_the_configured_timeout(make_app, servers):
    tarpit = servers(Tarpit())
    app = make_app(**smtp_settings(tarpit.port, **{"smtp.timeout": timedelta(seconds=0.3)}))
    started = time.monotonic()
    with pytest.raises(MailDeliveryError) as caught:
        _send(app)
    # Well under the 10 s default: the configured value was used.
    assert time.monotonic() - started < 5
    assert str(caught.value) == (f"SMTP server 127.0.0.1:{tarpit.port} did not answer "
                                 "within 0.3s")


def test_default_timeout_is_ten_seconds(make_app):
    app = make_app()
    assert app.extensions["gotrue"].mailer.timeout == 10.0


# --- STARTTLS ----------------------------------------------------------------------------------


def test_starttls_with_a_trusted_ca_and_auth(make_app, servers, tls_files, monkeypatch):
    server = servers(SecureSMTPSink(starttls=tls_files.server_context(),
                                    credentials=("mailer", "s3cret-pass"), auth_required=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_file))
    app = make_app(**smtp_settings(server.port, **{"smtp.user": "mailer",
                                                   "smtp.password": "s3cret-pass"}))
    assert _send(app) is True
    [message] = server.wait_for("ada@example.com")
    assert message["Subject"] == "Confirm your email address"
    assert server.sessions == [{"tls": True, "authenticated": True, "login": "mailer"}]
    assert server.auth_attempts == [("mailer", True)]


def test_starttls_is_used_whenever_offered_even_without_auth(make_app, servers, tls_files,
                                                             monkeypatch):
    server = servers(SecureSMTPSink(starttls=tls_files.server_context()))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_file))
    _send(make_app(**smtp_settings(server.port)))
    server.wait_for("ada@example.com")
    assert server.sessions == [{"tls": True, "authenticated": False, "login": None}]


def test_untrusted_certificate_is_refused(make_app, servers, tls_files, monkeypatch):
    server = servers(SecureSMTPSink(starttls=tls_files.server_context(),
                                    credentials=("mailer", "s3cret-pass")))
    # An empty trust store: the test CA is unknown.
    empty = tls_files.ca_file.parent / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(empty.parent / "no-such-dir"))
    app = make_app(**smtp_settings(server.port, **{"smtp.user": "mailer",
                                                   "smtp.password": "s3cret-pass"}))
    with pytest.raises(MailDeliveryError) as caught:
        _send(app)
    assert str(caught.value).startswith(
        f"TLS certificate of SMTP server 127.0.0.1:{server.port} is not trusted: ")
    assert server.messages == [] and server.auth_attempts == []


def test_certificate_for_another_host_is_refused(make_app, servers, tmp_path, monkeypatch):
    files = make_certificates(tmp_path / "other", hosts=("smtp.example.org",))
    server = servers(SecureSMTPSink(starttls=files.server_context()))
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca_file))
    with pytest.raises(MailDeliveryError, match="is not trusted: .*(IP address|mismatch)"):
        _send(make_app(**smtp_settings(server.port)))
    assert server.messages == []


def test_wrong_password_reports_the_auth_reply(make_app, servers, tls_files, monkeypatch):
    server = servers(SecureSMTPSink(starttls=tls_files.server_context(),
                                    credentials=("mailer", "s3cret-pass"), auth_required=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_file))
    app = make_app(**smtp_settings(server.port, **{"smtp.user": "mailer",
                                                   "smtp.password": "wrong-password"}))
    with pytest.raises(MailDeliveryError) as caught:
        _send(app)
    assert str(caught.value).startswith(f"SMTP server 127.0.0.1:{server.port} replied 535")
    assert "wrong-password" not in str(caught.value)
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN).
    assert set(server.auth_attempts) == {("mailer", False)} and server.messages == []


# --- AUTH without TLS --------------------------------------------------------------------------


def test_auth_in_clear_is_allowed_to_localhost(make_app, servers):
    server = servers(SecureSMTPSink(credentials=("mailer", "s3cret-pass"),
                                    auth_require_tls=False))
    app = make_app(**smtp_settings(server.port, **{"smtp.user": "mailer",
                                                   "smtp.password": "s3cret-pass"}))
    assert _send(app) is True
    server.wait_for("ada@example.com")
    assert server.sessions == [{"tls": False, "authenticated": True, "login": "mailer"}]


def test_auth_in_clear_is_refused_to_other_hosts(make_app, servers):
    # 127.0.0.2 is still loopback, but not one of the names credentials may go to in clear.
    server = servers(SecureSMTPSink(host="127.0.0.2", credentials=("mailer", "s3cret-pass"),
                                    auth_require_tls=False))
    app = make_app(**smtp_settings(server.port, **{
        "smtp.host": "127.0.0.2", "smtp.user": "mailer", "smtp.password": "s3cret-pass"}))
    with pytest.raises(MailDeliveryError) as caught:
        _send(app)
    assert str(caught.value) == (f"refusing to send SMTP credentials to 127.0.0.2:{server.port} "
                                 "without TLS (the server did not offer STARTTLS)")
    assert server.auth_attempts == [] and server.messages == []


# --- implicit TLS (port 465) -------------------------------------------------------------------


def test_port_465_means_implicit_tls_and_other_ports_do_not():
    assert implicit_tls(465) is True
    assert [implicit_tls(port) for port in (25, 587, 2525, 4650)] == [False] * 4
    assert flask_mail_config(SMTPSettings(host="smtp.example.com", port=465))["MAIL_USE_SSL"]
    assert not flask_mail_config(SMTPSettings(host="smtp.example.com", port=587))["MAIL_USE_SSL"]


def test_app_on_port_465_configures_flask_mail_for_implicit_tls(make_app):
    state = make_app(**smtp_settings(465)).extensions["mail"]
    assert (state.server, state.port, state.use_ssl, state.use_tls) == ("127.0.0.1", 465,
                                                                         True, False)


def test_implicit_tls_client_speaks_tls_from_the_first_byte(servers, tls_files, monkeypatch):
    # aiosmtpd only counts STARTTLS as TLS, so it must be told AUTH may be offered here.
    server = servers(SecureSMTPSink(implicit_tls=tls_files.server_context(),
                                    credentials=("mailer", "s3cret-pass"),
                                    auth_require_tls=False))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_file))
    client = open_smtp("127.0.0.1", server.port, use_implicit_tls=True, username="mailer",
                       password="s3cret-pass", timeout=5)
    try:
        client.sendmail("auth@example.com", ["ada@example.com"],
                        b"Subject: over TLS\r\n\r\nhello\r\n")
    finally:
        client.quit()
    server.wait_for("ada@example.com")
    assert server.sessions == [{"tls": True, "authenticated": True, "login": "mailer"}]


def test_plain_client_cannot_talk_to_an_implicit_tls_port(servers, tls_files):
    server = servers(SecureSMTPSink(implicit_tls=tls_files.server_context()))
    # The client waits for a greeting the server never sends before a TLS handshake.
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        open_smtp("127.0.0.1", server.port, use_implicit_tls=False, username=None,
                  password=None, timeout=0.5)
    assert server.messages == []


def _loopback_address_with_port_465() -> str | None:
    """A random 127.x.y.z where port 465 can be bound (root or CAP_NET_BIND_SERVICE)."""
    for _ in range(5):
        address = f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}." \
                  f"{secrets.randbelow(250) + 2}"
        with socket.socket() as probe:
            try:
                probe.bind((address, 465))
            except PermissionError:
                return None
            except OSError:
                continue
        return address
    return None


def test_mailer_on_port_465_delivers_over_implicit_tls(make_app, servers, tmp_path,
                                                       monkeypatch):
    address = _loopback_address_with_port_465()
    if address is None:
        pytest.skip("binding port 465 needs privileges this run does not have")
    files = make_certificates(tmp_path / "smtps", hosts=(address,))
    server = servers(SecureSMTPSink(host=address, port=465, implicit_tls=files.server_context(),
                                    credentials=("mailer", "s3cret-pass"),
                                    auth_require_tls=False))
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca_file))
    app = make_app(**smtp_settings(465, **{
        "smtp.host": address, "smtp.user": "mailer", "smtp.password": "s3cret-pass"}))
    assert _send(app) is True
    server.wait_for("ada@example.com")
    assert server.sessions == [{"tls": True, "authenticated": True, "login": "mailer"}]
