"""Per-app runtime: the objects built once from Settings and shared by every request.

Services take the Runtime as their first argument (``rt``) and find here everything that is
not the database: settings, the clock, the key ring and password hasher, the outgoing
transports, the rate limiter, and the per-app state of the mail services (the template URL
cache and the mail log entries waiting for the end of the request). The factory builds it.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from flask import current_app

from .ratelimit import RateLimiter
from .security.access_tokens import KeyRing
from .security.passwords import PasswordHasher
from .settings import Settings
from .transports.mail import MailTransport
from .transports.sms import SMSSender

if TYPE_CHECKING:
    from .observability.metrics import Metrics
    from .services.cleanup import DatabaseCleaner
    from .services.live_settings import LiveSettings
    from .services.mail.dispatcher import MailOutbox
    from .services.mail.log import PendingMailLog
    from .services.mail.template_urls import TemplateURLCache
    from .transports.pwned_passwords import KnownPwned


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    settings: Settings
    keyring: KeyRing
    hasher: PasswordHasher
    mailer: MailTransport
    sms: SMSSender
    limiter: RateLimiter
    # Fetched GOTRUE_MAILER_TEMPLATES_* bodies, and mail log entries of the current request.
    template_urls: TemplateURLCache
    mail_log: PendingMailLog
    # The mail outbox: rows the current request queued, and this process's dispatcher thread.
    outbox: MailOutbox
    # Prometheus metrics (observability.metrics): the services count through it; it does
    # nothing with GOTRUE_METRICS_ENABLED off.
    metrics: Metrics
    # Tests replace the clock to move time; everything that judges expiry asks it.
    clock: Callable[[], datetime] = system_clock
    # The shipped common-password list (empty when GOTRUE_PASSWORD_COMMON_LIST_ENABLED=false).
    common_passwords: frozenset[str] = frozenset()
    # Hashes the Pwned Passwords range API reported, remembered by this process
    # (GOTRUE_PASSWORD_HIBP_BLOOM_*); None when the filter is off.
    known_pwned: KnownPwned | None = None
    # Settings changed in the console (runtime_settings rows): this process's refresher, which
    # swaps ``settings`` for the environment's plus those rows (services/live_settings).
    live_settings: LiveSettings | None = None
    # This process's database cleanup thread (services/cleanup).
    cleaner: DatabaseCleaner | None = None

    def now(self) -> datetime:
        return self.clock()


def current_runtime() -> Runtime:
    return current_app.extensions["gotrue"]


@dataclass(frozen=True)
class RequestInfo:
    """The facts about the calling request that services record (audit, sessions)."""

    ip: str = ""
    user_agent: str = ""
    # The request's audience: X-JWT-AUD, else the caller's JWT aud, else GOTRUE_JWT_AUD.
    aud: str = ""


def process_id() -> int:
    """This process's id, kept up to date across forks. os.getpid is a system call, and the
    per-request checks for a process's first request (background threads to start after
    gunicorn forked a worker) would make several."""
    return _process_id


def _forked() -> None:
    global _process_id
    _process_id = os.getpid()


_process_id = os.getpid()
os.register_at_fork(after_in_child=_forked)


class ProcessThread:
    """A daemon thread that each process runs once: started on the first request it serves
    (again in a child after a fork) and given the app weakly, so that it ends with the app.
    ``loop(app_ref, stopped)`` runs on it until ``stopped`` is set or the app is gone."""

    def __init__(self, name: str, loop: Callable[[Callable, threading.Event], None]):
        self.name = name
        self.loop = loop
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        # The process the thread runs in (0: none yet).
        self.pid = 0
        self._lock = threading.Lock()

    def start(self, app) -> None:
        if self.pid == process_id() or self.stopped.is_set():
            return
        with self._lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self.loop, args=(weakref.ref(app), self.stopped),
                                           daemon=True, name=self.name)
            self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (tests; a process that exits just lets it die)."""
        self.stopped.set()
        thread = self.thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
