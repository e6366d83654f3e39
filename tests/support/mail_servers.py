"""Real loopback servers for the mail tests: SMTP with STARTTLS or implicit TLS (certificates from
a CA made in the test with ``cryptography``), SMTP AUTH, a tarpit that accepts connections and
never answers, and an HTTP server for GOTRUE_MAILER_TEMPLATES_* URLs."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .loopback_http import LoopbackHTTPServer, QuietHandler
from .smtp import SMTPSink, free_port

# --- certificates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path, hosts=("127.0.0.1", "localhost")) -> TLSFiles:
    """A private CA and a server certificate it signs for ``hosts`` (IPs or DNS names)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("gotrue-web test CA")
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


# --- SMTP --------------------------------------------------------------------------------------


class _RecordingHandler:
    """Keeps each message with what the session looked like (TLS? who logged in?)."""

    def __init__(self, sink: "SecureSMTPSink"):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy

        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.sink.sessions.append({
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
                "login": session.auth_data.decode() if isinstance(session.auth_data, bytes)
                else session.auth_data,
            })
        return "250 Message accepted for delivery"


class SecureSMTPSink(SMTPSink):
    """An aiosmtpd server with optional STARTTLS, implicit TLS and AUTH.

    ``credentials`` = (user, password) turns AUTH on; ``auth_attempts`` records each try as
    (user, password matched?) without keeping the password.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 starttls: ssl.SSLContext | None = None,
                 implicit_tls: ssl.SSLContext | None = None,
                 credentials: tuple[str, str] | None = None, auth_require_tls: bool = True,
                 auth_required: bool = False):
        super().__init__()
        # The plain sink's controller is replaced; close the event loop it made.
        self.controller.loop.close()
        self.host = host
        self.port = port or free_port()
        self.sessions: list[dict] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self.credentials = credentials
        options = {}
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        if implicit_tls is not None:
            options["ssl_context"] = implicit_tls
        if credentials is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=auth_require_tls,
                           auth_required=auth_required)
        self.controller = Controller(_RecordingHandler(self), hostname=host, port=self.port,
                                     server_hostname="localhost", **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        ok = (user, auth_data.password.decode()) == self.credentials
        with self.lock:
            self.auth_attempts.append((user, ok))
        # handled=False: aiosmtpd itself answers 535 to a failed attempt.
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)


class Tarpit:
    """Accepts TCP connections and never says a word (a stuck SMTP or HTTP server)."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(connection)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for connection in self.accepted:
            connection.close()
        self.listener.close()


# --- HTTP --------------------------------------------------------------------------------------


class TemplateServer(LoopbackHTTPServer):
    """Serves ``pages`` (path -> body, or (status, body)) and counts the requests per path.

    ``stall`` makes chosen paths wait until ``release`` is set (a server too slow to answer).
    """

    def __init__(self, pages: dict[str, str | tuple[int, str]] | None = None):
        self.pages = dict(pages or {})
        self.requests: list[str] = []
        self.stall: set[str] = set()
        server_self = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                with server_self.lock:
                    server_self.requests.append(self.path)
                if self.path in server_self.stall:
                    server_self.release.wait(timeout=30)
                page = server_self.pages.get(self.path)
                status, body = page if isinstance(page, tuple) else (200, page)
                if body is None:
                    status, body = 404, "not found"
                self.answer(status, body, "text/html; charset=utf-8")

        super().__init__(Handler)

    def count(self, path: str) -> int:
        with self.lock:
            return self.requests.count(path)
