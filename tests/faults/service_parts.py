"""Real parts for the service-fault tests (tests/faults/test_service_*.py): gunicorn servers
started with the production gunicorn.conf.py, an SMTP endpoint on a fixed port that can be down,
stalled or up, a private redis-server that can be killed and started again, and readers of the
mail outbox.

Every wait polls with a deadline; none is an assertion of speed.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

import httpx
import pytest
import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from gotrue_web.models import MailLogEntry, MailOutboxRow, User

from ..conftest import make_jwt, table_rows
from ..factories import fragment, path_of, verify_link
from ..live.conftest import (
    GUNICORN,
    REPO_ROOT,
    GunicornServer,
    loopback_listener,
    server_environment,
)
from ..support.smtp import free_port

API_HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}
MAIL_SENDER = "auth@example.com"
PASSWORD = "password-123"
STARTUP_SECONDS = 30
REDIS_SERVER = "/usr/bin/redis-server"

# Mail settings that let the outbox retry quickly and often, and budgets that stay out of the
# way (the per-address budget stays on: each test mails fresh addresses).
FAST_OUTBOX = {
    "GOTRUE_MAILER_AUTOCONFIRM": "false",
    "GOTRUE_SMTP_HOST": "127.0.0.1",
    "GOTRUE_SMTP_ADMIN_EMAIL": MAIL_SENDER,
    "GOTRUE_MAILER_OUTBOX_POLL_INTERVAL": "200ms",
    "GOTRUE_MAILER_OUTBOX_RETRY_BACKOFF": "200ms",
    "GOTRUE_MAILER_OUTBOX_MAX_ATTEMPTS": "12",
    "GOTRUE_RATE_LIMIT_EMAIL_SENT": "1000",
    "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_CLIENT": "0",
}


def wait_until(condition: Callable[[], object], *, timeout: float, what: str):
    """Poll ``condition`` until it returns something truthy (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


# --- gunicorn ----------------------------------------------------------------------------------

# Compiled bytecode for the server processes, kept outside the checkout: when the test run has
# PYTHONDONTWRITEBYTECODE set, every gunicorn worker would compile the whole app again, seconds
# per server start on a busy machine.
BYTECODE_CACHE = Path(tempfile.gettempdir()) / f"gotrue-web-faults-pycache-{os.getuid()}"


def fault_server_environment(test_database, **overrides: str) -> dict[str, str]:
    """server_environment (tests/live/conftest.py) with the bytecode cache above."""
    env = server_environment(test_database, PYTHONPYCACHEPREFIX=str(BYTECODE_CACHE),
                             **overrides)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def launch_server(test_database, workdir: Path, *, workers: int = 1,
                  **env_overrides: str) -> GunicornServer:
    """``gunicorn --config gunicorn.conf.py wsgi:app`` as an operator runs it (its worker class,
    graceful timeout, JSON logs and the outbox dispatcher started as each worker boots), on a
    socket bound here and the run's database. The caller stops it."""
    listener, port = loopback_listener()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"gunicorn-{port}.log"
    # The working directory is empty so that no developer's .env file leaks in.
    cwd = workdir / f"cwd-{port}"
    cwd.mkdir()
    env = fault_server_environment(test_database, **{
        "GOTRUE_RATE_LIMIT_STORAGE_URL": f"sqlite://{workdir}/ratelimits.sqlite3",
        **env_overrides})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", str(REPO_ROOT / "gunicorn.conf.py"),
             "--bind", f"fd://{listener.fileno()}", "--workers", str(workers),
             "--pythonpath", str(REPO_ROOT), "wsgi:app"],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),))
    listener.close()
    server = GunicornServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"gunicorn did not answer /health in {STARTUP_SECONDS}s:\n"
                        f"{server.log_tail()}")
        time.sleep(0.1)


def api(server: GunicornServer, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={**API_HEADERS, **headers}, timeout=30)


def admin_token() -> str:
    return make_jwt({"iss": "supabase", "role": "service_role", "iat": int(time.time())})


def create_user(server: GunicornServer, email_address: str) -> uuid.UUID:
    """A confirmed user with PASSWORD, made through the admin API; its id."""
    with api(server, Authorization=f"Bearer {admin_token()}") as client:
        made = client.post("/admin/users", json={"email": email_address, "password": PASSWORD,
                                                 "email_confirm": True})
    assert made.status_code == 200, made.text
    return uuid.UUID(made.json()["id"])


def follow_link(server: GunicornServer, message: EmailMessage) -> dict[str, str]:
    """Open an email's /verify link on ``server``: the session fragment it redirects with."""
    opened = httpx.get(server.url + path_of(verify_link(message)), timeout=30)
    assert opened.status_code == 303, opened.text
    session = fragment(opened.headers["location"])
    assert session.get("access_token"), opened.headers["location"]
    return session


def unique_email(tag: str) -> str:
    # The letter before the @ keeps a run of digits in the address from passing for a code.
    return f"{tag}-{uuid.uuid4().hex[:10]}x@example.com"


# --- the mail outbox, read from the database ---------------------------------------------------


def user_id_of(app, email_address: str) -> uuid.UUID | None:
    rows = table_rows(app, sa.select(User.id).where(User.email == email_address))
    return rows[0][0] if rows else None


def outbox_rows(app, user_ids) -> dict[uuid.UUID, MailOutboxRow]:
    """The outbox row of each user (each test's users get exactly one email each)."""
    rows = [row for (row,) in table_rows(app, sa.select(MailOutboxRow).where(
        MailOutboxRow.user_id.in_(list(user_ids))))]
    by_user = {row.user_id: row for row in rows}
    assert len(by_user) == len(rows), f"a user has several outbox rows: {rows}"
    return by_user


def mail_log_of(app, recipient: str) -> list[MailLogEntry]:
    """The mail log entries of one recipient, oldest first."""
    return [row for (row,) in table_rows(app, sa.select(MailLogEntry).where(
        MailLogEntry.recipient == recipient).order_by(MailLogEntry.created_at))]


def delivered_rows(app, recipients: dict[str, uuid.UUID]) -> dict[uuid.UUID, MailOutboxRow] | None:
    """The outbox rows of ``recipients`` (address: user id) once each is sent and its attempt is
    in the mail log (written just after the row), else None."""
    rows = outbox_rows(app, recipients.values())
    if len(rows) != len(recipients) or any(row.status != "sent" for row in rows.values()):
        return None
    for address in recipients:
        log = mail_log_of(app, address)
        if not log or log[-1].status != "sent":
            return None
    return rows


# --- SMTP --------------------------------------------------------------------------------------


@dataclass
class Delivery:
    message_id: str
    to: str
    message: EmailMessage
    accepted: bool


class _Handler:
    def __init__(self, endpoint: "SMTPEndpoint"):
        self.endpoint = endpoint

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        endpoint = self.endpoint
        with endpoint.lock:
            message_id = str(message["Message-ID"])
            # Greylisting: the first try of each message is told to come back later.
            accepted = not endpoint.greylist or any(
                d.message_id == message_id for d in endpoint.deliveries)
            endpoint.deliveries.append(Delivery(message_id, str(message["To"]), message,
                                                accepted))
        if not accepted:
            return "451 4.7.1 Greylisted, please try again later"
        return "250 Message accepted for delivery"


class SMTPEndpoint:
    """One loopback SMTP port the server is configured with, in one of three states:

    - ``down()``: the port is bound but not listening, so connections are refused (and no
      other process can take the port meanwhile);
    - ``stall()``: a listener accepts, sends the 220 greeting and then never answers again;
    - ``up()``: an aiosmtpd server keeps every message; with ``greylist`` it answers 451 to the
      first try of each Message-ID and accepts the next.
    """

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self.greylist = False
        self.stalled: list[socket.socket] = []
        self._controller: Controller | None = None
        self._reserved: socket.socket | None = None
        self._stall_listener: socket.socket | None = None
        self._stall_thread: threading.Thread | None = None
        self._stop_stalling = threading.Event()
        self.down()

    # states

    def down(self) -> None:
        self._leave_state()
        self._reserved = socket.socket()
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._reserved.bind(("127.0.0.1", self.port))

    def up(self) -> None:
        self._leave_state()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stall(self) -> None:
        self._leave_state()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self._stall_listener = listener
        self._stop_stalling.clear()
        self._stall_thread = threading.Thread(target=self._accept_and_stall, daemon=True)
        self._stall_thread.start()

    def _accept_and_stall(self) -> None:
        while not self._stop_stalling.is_set():
            try:
                connection, _ = self._stall_listener.accept()
            except (TimeoutError, OSError):
                continue
            connection.sendall(b"220 stalling ESMTP\r\n")
            with self.lock:
                self.stalled.append(connection)

    def _leave_state(self) -> None:
        """Stop whatever holds the port. Connections a stall accepted stay open (their SMTP
        clients are still waiting) until ``close``."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        if self._stall_listener is not None:
            self._stop_stalling.set()
            self._stall_thread.join(timeout=5)
            self._stall_listener.close()
            self._stall_listener = None

    def close(self) -> None:
        self._leave_state()
        with self.lock:
            for connection in self.stalled:
                connection.close()
            self.stalled.clear()

    # what arrived

    def accepted_to(self, recipient: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries
                    if d.accepted and recipient.lower() in d.to.lower()]

    def tries_to(self, recipient: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if recipient.lower() in d.to.lower()]

    def stalled_count(self) -> int:
        with self.lock:
            return len(self.stalled)


# --- Redis -------------------------------------------------------------------------------------


class RedisProcess:
    """A private redis-server on a loopback port, without persistence, that a test can kill and
    start again on the same port."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if not Path(REDIS_SERVER).is_file():
            pytest.fail(f"the fault tests need {REDIS_SERVER} (Debian's redis-server package)")
        # A port chosen free may be taken before redis binds it: try a few.
        for _ in range(5):
            port = self.port or free_port()
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir), "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._answers(port):
                self.port = port
                return
            self.stop()
            if self.port:
                break
        pytest.fail(f"redis-server did not start on port {self.port or 'any'}")

    def _answers(self, port: int) -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1,
                             socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Kill it (SIGKILL: an outage, not a shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=10)
        self.process = None
