"""Rate limits: one wrapper around the ``limits`` library, used by the route table's guard
(api.guards.rate_limited), the email budgets and the password-failure throttle.

A RateLimiter holds named buckets (BUCKETS), each with its limit, counted in a moving window
per key. The counts live in a storage every worker shares, named by
GOTRUE_RATE_LIMIT_STORAGE_URL: ``redis://host:port/db`` is shared by every server; without it a
SQLite file on this machine (sqlite_storage) is shared by every worker of the server.
``memory://`` counts in one process only: it is for tests and single-process runs, since
under gunicorn it would multiply every limit by the number of workers.

A storage that fails is logged and, for request limits, counting moves to this process's
memory until the storage answers again: an outage of the counter store must not take sign-in
down with it, nor lift the limits (each worker then allows the whole limit on its own, so the
server allows up to workers x limit). Budgets that guard something sent out (email, SMS) fail
closed: nothing is sent while they cannot be counted.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..settings import RateLimitSettings
from ..settings.rate_limit import sent_budget
from . import sqlite_storage

log = logging.getLogger(__name__)

# How long a budget that cannot be counted (storage down) asks the client to wait.
FAIL_CLOSED_WAIT = 60.0
# Redis must answer fast or not at all: a hung counter store must not hang sign-in.
_REDIS_OPTIONS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
_FAILURE_LOG_INTERVAL = 60.0


# Who the current API request counts against: api.guards sets, for every API request, the
# function that works it out from the request, and it runs only when a budget is counted (most
# requests count none). The per-client budgets read it where the request is far away (an email
# about to be sent). Unset outside API requests: console actions count against no client.
_client_of_request: ContextVar[Callable[[], str] | None] = ContextVar("requesting_client",
                                                                       default=None)


def requesting_client() -> str:
    """The client the current request's per-client budgets count ("" outside API requests)."""
    find = _client_of_request.get()
    return find() if find is not None else ""


def identify_requesting_client(find: Callable[[], str] | None) -> None:
    """Set (or, with None, clear) how the current request's client is worked out."""
    _client_of_request.set(find)


@dataclass(frozen=True)
class Bucket:
    """One limit: what it counts, per what key, and the setting that sizes it."""

    name: str
    limit: RateLimitItem
    setting: str
    counts: str
    # True for budgets of things sent out: refuse while the storage cannot count.
    fail_closed: bool = False


def _per(amount: float, minutes: int) -> RateLimitItem:
    return RateLimitItemPerMinute(max(1, round(amount)), minutes)


def buckets_from(settings: RateLimitSettings) -> dict[str, Bucket]:
    """GoTrue's per-client limits and its global SMS budget, and this server's email and
    password-failure budgets.

    The per-client email and password-failure limits are off at 0.
    """
    table = [
        Bucket("verify", _per(settings.verify, 5), "GOTRUE_RATE_LIMIT_VERIFY",
               "GET and POST /verify per client, per 5 minutes"),
        Bucket("token", _per(settings.token_refresh, 5), "GOTRUE_RATE_LIMIT_TOKEN_REFRESH",
               "POST /token (every grant) per client, per 5 minutes"),
        Bucket("otp", _per(settings.otp, 5), "GOTRUE_RATE_LIMIT_OTP",
               "/signup, /otp, /magiclink, /recover, /resend and PUT /user per client, "
               "per 5 minutes"),
        Bucket("anonymous", _per(settings.anonymous_users, 60),
               "GOTRUE_RATE_LIMIT_ANONYMOUS_USERS", "anonymous sign-ins per client, per hour"),
        # GoTrue allows N a minute in bursts of 2N: a moving window of 2N per 2 minutes.
        Bucket("mfa", _per(settings.mfa_challenge_and_verify * 2, 2),
               "GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY",
               "MFA challenges and verifications per client, per 2 minutes (twice the setting)"),
        Bucket("sso", _per(settings.sso, 5), "GOTRUE_RATE_LIMIT_SSO",
               "POST /sso per client, per 5 minutes"),
        Bucket("saml_assertion", _per(settings.saml_assertion, 5),
               "GOTRUE_SAML_RATE_LIMIT_ASSERTION",
               "SAML assertions posted to /sso/saml/acs per client, per 5 minutes"),
        # GoTrue allows N per 5 minutes in bursts of 30 (at the default N = 10): a moving
        # window of 3N per 15 minutes keeps both the burst and the average.
        Bucket("oauth_client_register", _per(settings.oauth_client_register * 3, 15),
               "GOTRUE_RATE_LIMIT_OAUTH_DYNAMIC_CLIENT_REGISTER",
               "POST /oauth/clients/register per client, per 15 minutes (three times the "
               "setting)"),
        # GoTrue allows N per 5 minutes in bursts of N: a moving window of N per 5 minutes.
        Bucket("web3", _per(settings.web3, 5), "GOTRUE_RATE_LIMIT_WEB3",
               "POST /token?grant_type=web3 per client, per 5 minutes"),
        Bucket("passkey", _per(settings.passkey, 5), "GOTRUE_RATE_LIMIT_PASSKEY",
               "POST /passkeys/authentication/options per client, per 5 minutes"),
    ]
    if settings.email_sent_per_client > 0:
        table.append(Bucket("email_client", _per(settings.email_sent_per_client, 60),
                            "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_CLIENT",
                            "emails sent at one client's request, per hour", fail_closed=True))
    if settings.email_sent_per_address > 0:
        table.append(Bucket("email_address", _per(settings.email_sent_per_address, 60),
                            "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_ADDRESS",
                            "emails sent to one address, per hour", fail_closed=True))
    sms_sent, sms_window = sent_budget(settings.sms_sent)
    if sms_sent > 0:
        # One key ("global"): GOTRUE_RATE_LIMIT_SMS_SENT is the server's, all workers together.
        table.append(Bucket("sms_sent", RateLimitItemPerSecond(
            sms_sent, max(1, round(sms_window.total_seconds()))), "GOTRUE_RATE_LIMIT_SMS_SENT",
            "codes texted by SMS or WhatsApp, by the whole server", fail_closed=True))
    if settings.password_failures > 0:
        table.append(Bucket("password_account", _per(settings.password_failures, 60),
                            "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES",
                            "wrong passwords for one account from anywhere, per hour"))
    if settings.password_failures_per_client > 0:
        table.append(Bucket("password_client", _per(settings.password_failures_per_client, 15),
                            "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES_PER_CLIENT",
                            "wrong passwords for one account from one client, per 15 minutes"))
    return {bucket.name: bucket for bucket in table}


def default_storage_url(server_identity: str) -> str:
    """The shared SQLite file of this server's workers when no storage URL is set.

    Named after the server's database, so workers of one server (and servers on one machine
    sharing a database) count together, and another server on the machine counts apart.
    """
    digest = hashlib.sha256(server_identity.encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), f"gotrue-web-{os.getuid()}")
    return f"sqlite://{folder}/ratelimits-{digest}.sqlite3"


def describe_storage(url: str) -> str:
    """The storage URL without credentials, for logs and the console."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class KeyUsage:
    key: str
    used: int
    limit: int
    resets_in: float


class RateLimiter:
    """Counts hits per (bucket, key) against each bucket's limit."""

    def __init__(self, buckets: Mapping[str, Bucket | RateLimitItem],
                 storage_url: str = "memory://",
                 on_refusal: Callable[[str], None] | None = None):
        self.buckets = {name: (value if isinstance(value, Bucket)
                               else Bucket(name, value, "", name))
                        for name, value in buckets.items()}
        self.storage_url = storage_url
        options = _REDIS_OPTIONS if storage_url.startswith(("redis", "rediss")) else {}
        try:
            self.storage = storage_from_string(storage_url, **options)
        except (ConfigurationError, ValueError) as exc:
            raise ValueError(f"unusable rate-limit storage {storage_url!r}: {exc}") from None
        self.strategy = MovingWindowRateLimiter(self.storage)
        self._last_failure_logged = -_FAILURE_LOG_INTERVAL
        # Where request limits count while the storage fails (made at the first failure).
        self._fallback: MovingWindowRateLimiter | None = None
        # Told the bucket's name at each refusal (the metrics' rate-limit refusals).
        self.on_refusal = on_refusal or _ignore_refusal

    @classmethod
    def from_settings(cls, settings: RateLimitSettings, storage_url: str = "memory://",
                      on_refusal: Callable[[str], None] | None = None) -> "RateLimiter":
        return cls(buckets_from(settings), settings.storage_url or storage_url, on_refusal)

    def reconfigure(self, settings: RateLimitSettings) -> None:
        """Size the buckets from ``settings`` (values changed in the console while the server
        runs); the storage stays. One assignment, so a request sees the old table or the new.
        A limit whose amount changed counts afresh (the stored key names the amount)."""
        self.buckets = buckets_from(settings)

    @property
    def limits(self) -> dict[str, RateLimitItem]:
        return {name: bucket.limit for name, bucket in self.buckets.items()}

    def limit_of(self, bucket: str) -> RateLimitItem | None:
        found = self.buckets.get(bucket)
        return found.limit if found else None

    def _storage_failed(self, bucket: Bucket, key: str, error: Exception, *,
                        count: bool) -> float | None:
        """The answer while the storage fails: budgets that fail closed refuse; request limits
        count (``count``) or look in this process's memory instead."""
        # Said once a minute at most: an outage must not also flood the log.
        now = time.monotonic()
        if now - self._last_failure_logged >= _FAILURE_LOG_INTERVAL:
            self._last_failure_logged = now
            consequence = ("refusing emails and other budgets that fail closed, counting "
                           "request limits in this process's memory")
            log.error("rate-limit storage %s failed (%s: %s); %s until it answers",
                      self.storage_name, type(error).__name__, error, consequence)
        if bucket.fail_closed:
            self.on_refusal(bucket.name)
            return FAIL_CLOSED_WAIT
        if self._fallback is None:
            self._fallback = MovingWindowRateLimiter(MemoryStorage())
        if count and self._fallback.hit(bucket.limit, bucket.name, key):
            return None
        stats = self._fallback.get_window_stats(bucket.limit, bucket.name, key)
        if not count and stats.remaining > 0:
            return None
        self.on_refusal(bucket.name)
        return max(0.0, stats.reset_time - time.time())

    def hit(self, bucket: str, key: str) -> float | None:
        """Count one request of ``key`` in ``bucket``: None when it is allowed, else the
        seconds until the next one will be (a refusal). Unconfigured buckets allow
        everything."""
        found = self.buckets.get(bucket)
        if found is None:
            return None
        try:
            if self.strategy.hit(found.limit, bucket, key):
                return None
            reset_at = self.strategy.get_window_stats(found.limit, bucket, key).reset_time
        except Exception as exc:  # noqa: BLE001 - any storage failure: say so, count elsewhere
            return self._storage_failed(found, key, exc, count=True)
        self.on_refusal(bucket)
        return max(0.0, reset_at - time.time())

    def wait(self, bucket: str, key: str) -> float | None:
        """Like ``hit`` without counting a hit: the wait when ``key`` has used up ``bucket``,
        which its callers refuse (counted as a refusal)."""
        found = self.buckets.get(bucket)
        if found is None:
            return None
        try:
            stats = self.strategy.get_window_stats(found.limit, bucket, key)
        except Exception as exc:  # noqa: BLE001
            return self._storage_failed(found, key, exc, count=False)
        if stats.remaining > 0:
            return None
        self.on_refusal(bucket)
        return max(0.0, stats.reset_time - time.time())

    def clear(self, bucket: str, key: str) -> None:
        """Forget the counts of ``key`` in ``bucket``."""
        found = self.buckets.get(bucket)
        if found is not None:
            self.strategy.clear(found.limit, bucket, key)

    def usage(self, bucket: str, key: str) -> KeyUsage:
        found = self.buckets[bucket]
        stats = self.strategy.get_window_stats(found.limit, bucket, key)
        return KeyUsage(key, found.limit.amount - stats.remaining, found.limit.amount,
                        max(0.0, stats.reset_time - time.time()))

    def busiest(self, bucket: str, count: int = 10) -> list[KeyUsage]:
        """The keys of ``bucket`` with the most hits in their window, most first."""
        found = self.buckets[bucket]
        # The stored key is "<head><client key><tail>"; a marker finds head and tail.
        head, tail = found.limit.key_for(bucket, "\x00").split("\x00")
        keys = {stored[len(head):len(stored) - len(tail)]
                for stored in self._stored_keys(head) if stored.endswith(tail)}
        usages = [self.usage(bucket, key) for key in keys]
        usages = [usage for usage in usages if usage.used > 0]
        return sorted(usages, key=lambda usage: (-usage.used, usage.key))[:count]

    def _stored_keys(self, prefix: str) -> list[str]:
        storage = self.storage
        if isinstance(storage, sqlite_storage.SQLiteStorage):
            return storage.moving_window_keys(prefix)
        if isinstance(storage, RedisStorage):
            stored_prefix = storage.prefixed_key("")
            pattern = stored_prefix + _glob_escape(prefix) + "*"
            return [raw.decode()[len(stored_prefix):] if isinstance(raw, bytes)
                    else raw[len(stored_prefix):]
                    for raw in storage.storage.scan_iter(match=pattern, count=500)]
        if isinstance(storage, MemoryStorage):
            return [key for key in list(storage.events) if key.startswith(prefix)]
        return []

    def healthy(self) -> bool:
        """Whether the storage answers now."""
        try:
            return bool(self.storage.check())
        except Exception:  # noqa: BLE001
            return False

    @property
    def storage_name(self) -> str:
        return describe_storage(self.storage_url)


def _ignore_refusal(_bucket: str) -> None:
    pass


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def retry_after_seconds(wait: float) -> int:
    """The Retry-After header value for a wait: whole seconds, at least one."""
    return max(1, math.ceil(wait))
