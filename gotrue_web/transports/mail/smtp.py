"""The SMTP mail transport, through Flask-Mail; nothing is sent when no SMTP host is configured.

As in GoTrue, an empty GOTRUE_SMTP_HOST means mail is silently not sent. The rest follows the
dialer GoTrue uses:
- port 465 means implicit TLS; on any other port STARTTLS is used whenever the server offers it;
- the server certificate is verified against the system trust store, so an operator with a
  private CA points ``SSL_CERT_FILE`` (or ``SSL_CERT_DIR``) at it, as Go programs also honour;
- credentials are sent only over TLS, or in clear to localhost / 127.0.0.1 / ::1;
- the whole exchange (connect, TLS, AUTH, the message, QUIT) shares one deadline
  (SMTPSettings.timeout, 10 s by default), so a stuck server cannot hold a worker.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from email.utils import formataddr, make_msgid

import flask_mail

from ...settings import SMTPSettings
from ...settings.smtp import MESSAGE_TYPE, Headers
from . import MailDeliveryError, OutgoingMail

IMPLICIT_TLS_PORT = 465
# The names Go's smtp.PlainAuth accepts credentials for without TLS.
LOCAL_SMTP_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_TIMEOUT = 10.0


def implicit_tls(port: int) -> bool:
    """GoTrue's rule: TLS from the first byte on port 465, STARTTLS when offered elsewhere."""
    return port == IMPLICIT_TLS_PORT


class _Deadline:
    """Re-arms the socket timeout before each read or write with the time left overall."""

    _deadline: float

    def _time_left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("SMTP deadline passed")
        return left

    def _get_socket(self, host, port, timeout):
        return super()._get_socket(host, port, self._time_left())

    def send(self, s):
        if self.sock is not None:
            self.sock.settimeout(self._time_left())
        return super().send(s)

    def getreply(self):
        if self.sock is not None:
            self.sock.settimeout(self._time_left())
        return super().getreply()


class _SMTP(_Deadline, smtplib.SMTP):
    def __init__(self, host: str, port: int, *, deadline: float):
        self._deadline = deadline
        # A fixed EHLO name (as GoTrue's dialer) avoids an unbounded reverse DNS lookup.
        super().__init__(host, port, local_hostname="localhost")


class _SMTPS(_Deadline, smtplib.SMTP_SSL):
    def __init__(self, host: str, port: int, *, deadline: float, context: ssl.SSLContext):
        self._deadline = deadline
        super().__init__(host, port, local_hostname="localhost", context=context)


def open_smtp(host: str, port: int, *, use_implicit_tls: bool, username: str | None,
              password: str | None, timeout: float) -> smtplib.SMTP:
    """A connected, greeted, TLS-upgraded (when possible) and logged-in SMTP client.

    Raises smtplib/ssl/OS errors; the socket is closed on any failure.
    """
    deadline = time.monotonic() + timeout
    context = ssl.create_default_context()
    client = (_SMTPS(host, port, deadline=deadline, context=context) if use_implicit_tls
              else _SMTP(host, port, deadline=deadline))
    try:
        client.ehlo_or_helo_if_needed()
        if not use_implicit_tls and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        # Like GoTrue's dialer: authenticate only when the server offers AUTH.
        if username and client.has_extn("auth"):
            if not isinstance(client.sock, ssl.SSLSocket) and host not in LOCAL_SMTP_HOSTS:
                raise MailDeliveryError(
                    f"refusing to send SMTP credentials to {host}:{port} without TLS "
                    "(the server did not offer STARTTLS)")
            client.login(username, password or "")
    except BaseException:
        client.close()
        raise
    return client


class _SMTPConnection(flask_mail.Connection):
    """Flask-Mail's connection with our SMTP client, and a QUIT that cannot undo a delivery."""

    def __init__(self, mail, timeout: float):
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self):
        return open_smtp(self.mail.server, self.mail.port, use_implicit_tls=self.mail.use_ssl,
                         username=self.mail.username, password=self.mail.password,
                         timeout=self.timeout)

    def __exit__(self, exc_type, exc_value, tb):
        if self.host is None:
            return
        try:
            if exc_type is None:
                # The message is already accepted; a failing QUIT changes nothing.
                self.host.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.host.close()


class SMTPMailer:
    """Sends OutgoingMail over SMTP; without an SMTP host it drops every message, as GoTrue
    does. ``mail_state`` is the app's Flask-Mail state (server, port, credentials)."""

    def __init__(self, smtp: SMTPSettings, mail_state: flask_mail._Mail | None = None):
        self.smtp = smtp
        self.mail_state = mail_state
        self.sender = (formataddr((smtp.sender_name, smtp.admin_email)) if smtp.sender_name
                       else smtp.admin_email)

    @property
    def enabled(self) -> bool:
        return bool(self.smtp.host) and self.mail_state is not None

    @property
    def timeout(self) -> float:
        seconds = self.smtp.timeout.total_seconds() if self.smtp.timeout else 0
        return seconds if seconds > 0 else DEFAULT_TIMEOUT

    def message_id(self) -> str:
        """A fresh Message-ID in the sender's domain."""
        return make_msgid(domain=self.smtp.admin_email.rpartition("@")[2] or None)

    def send(self, message: OutgoingMail) -> bool:
        """Deliver ``message``; True when sent, False when mail is switched off.

        Raises MailDeliveryError, whose text is fit for the mail log, when the exchange fails.
        """
        if not self.enabled:
            return False
        if not self.smtp.admin_email:
            raise MailDeliveryError("GOTRUE_SMTP_ADMIN_EMAIL is not set: no sender address")
        email = flask_mail.Message(subject=message.subject, recipients=[message.to],
                                   html=message.html, sender=self.sender,
                                   extra_headers=extra_headers(self.smtp.headers,
                                                               message.template))
        # A Message-ID in the sender's domain rather than this host's name.
        email.msgId = message.message_id or self.message_id()
        started = time.monotonic()
        try:
            with _SMTPConnection(self.mail_state, self.timeout) as connection:
                connection.send(email)
        except MailDeliveryError:
            raise
        except (smtplib.SMTPException, OSError, flask_mail.BadHeaderError) as exc:
            timed_out = time.monotonic() - started >= self.timeout
            raise MailDeliveryError(self._describe(exc, timed_out)) from exc
        return True

    def _describe(self, exc: BaseException, timed_out: bool) -> str:
        """One line for the mail log and the server log; never includes the password."""
        server = f"{self.smtp.host}:{self.smtp.port}"
        if timed_out or isinstance(exc, TimeoutError):
            return f"SMTP server {server} did not answer within {self.timeout:g}s"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            replies = "; ".join(f"{code} {_text(reply)}"
                                for code, reply in exc.recipients.values())
            return f"SMTP server {server} refused the recipient: {replies}"
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"SMTP server {server} replied {exc.smtp_code} {_text(exc.smtp_error)}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"TLS certificate of SMTP server {server} is not trusted: "
                    f"{exc.verify_message or exc.reason}")
        if isinstance(exc, ssl.SSLError):
            return f"TLS with SMTP server {server} failed: {exc.reason or exc}"
        if isinstance(exc, ConnectionRefusedError):
            return f"could not connect to SMTP server {server}: connection refused"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return f"SMTP server {server} closed the connection: {exc}"
        if isinstance(exc, OSError):
            return f"could not connect to SMTP server {server}: {exc.strerror or exc}"
        return f"SMTP error with {server}: {type(exc).__name__}: {exc}"


def extra_headers(headers: Headers, template: str) -> dict[str, str] | None:
    """GOTRUE_SMTP_HEADERS for one email: ``$messageType`` in a value becomes the template's
    name; a header's values are joined by commas, as GoTrue's mailer writes them."""
    if not headers:
        return None
    return {name: ", ".join(value.replace(MESSAGE_TYPE, template) for value in values)
            for name, values in headers}


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def flask_mail_config(smtp: SMTPSettings) -> dict:
    """Flask config keys for Flask-Mail derived from GoTrue's SMTP settings."""
    return {
        "MAIL_SERVER": smtp.host or "localhost",
        "MAIL_PORT": smtp.port,
        "MAIL_USERNAME": smtp.user or None,
        "MAIL_PASSWORD": smtp.password or None,
        "MAIL_USE_SSL": implicit_tls(smtp.port),
        # STARTTLS is decided per connection (used whenever the server offers it).
        "MAIL_USE_TLS": False,
        "MAIL_DEFAULT_SENDER": smtp.admin_email or None,
        "MAIL_SUPPRESS_SEND": not smtp.host,
    }
