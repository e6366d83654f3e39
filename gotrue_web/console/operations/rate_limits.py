"""The console's rate limits page: where the counters live and whether that storage answers,
each limit with its busiest keys, the global email budget, and the accounts whose password
sign-in is locked; resetting one key and unlocking an account, each audited.

The limiter is reached through ``rt.limiter`` (the console may not import ``ratelimit``). A
storage that fails is reported, never raised: this page is where an operator looks when it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from ...errors import ErrorCode, unprocessable
from ...extensions import db
from ...models import User
from ...runtime import Runtime
from ...services import audit, password_attempts
from ...services.admin.users import target_traits
from ...services.mail import log as mail_log
from . import limit_keys
from .limit_keys import ACCOUNT_BUCKET, CLIENT_BUCKET, KeyRow, LockedAccount, printable
from .settings_report import go_duration

# Keys listed per limit; locked accounts listed at most.
BUSIEST = 10
MAX_LOCKED = 50
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
# What each limit counts per key; the others count per client.
_KEYED_BY = {
    "email_address": "recipient address",
    ACCOUNT_BUCKET: "account (the email or phone tried), from any client",
    CLIENT_BUCKET: "account and client together",
}


@dataclass(frozen=True)
class StorageStatus:
    # "redis", "sqlite", "memory" (or the scheme of another storage)
    kind: str
    # The storage URL without credentials.
    name: str
    answers: bool
    # While it does not answer: the limits that let requests through, and those that refuse.
    fail_open: tuple[str, ...]
    fail_closed: tuple[str, ...]


def storage_status(rt: Runtime) -> StorageStatus:
    limiter = rt.limiter
    scheme = limiter.storage_url.partition("://")[0]
    return StorageStatus(
        kind="redis" if scheme in _REDIS_SCHEMES else scheme, name=limiter.storage_name,
        answers=limiter.healthy(),
        fail_open=tuple(name for name, bucket in limiter.buckets.items()
                        if not bucket.fail_closed),
        fail_closed=tuple(name for name, bucket in limiter.buckets.items()
                          if bucket.fail_closed))


# --- the limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketReport:
    name: str
    counts: str
    setting: str
    keyed_by: str
    limit: int
    window: str
    fail_closed: bool
    busiest: list[KeyRow] = field(default_factory=list)
    # How many keys have a count now.
    active: int = 0
    # Set when the counts could not be read.
    unreadable: bool = False


def client_text(rt: Runtime) -> str:
    """What "one client" is: the GOTRUE_RATE_LIMIT_HEADER value, else the client address."""
    header = rt.settings.rate_limit.header
    if header:
        return f"client (first value of the {header} header, else its address)"
    return "client address"


def _bucket_reports(rt: Runtime, readable: bool) -> tuple[list[BucketReport],
                                                            dict[str, list[KeyRow]]]:
    reports, rows_of = [], {}
    for name, bucket in rt.limiter.buckets.items():
        rows: list[KeyRow] = []
        unreadable = not readable
        if readable:
            try:
                rows = limit_keys.key_rows(rt, name)
            except Exception:  # noqa: BLE001 - the storage failed: say so on the page
                unreadable = True
        rows_of[name] = rows
        reports.append(BucketReport(
            name=name, counts=bucket.counts, setting=bucket.setting,
            keyed_by=_KEYED_BY.get(name, client_text(rt)), limit=int(bucket.limit.amount),
            window=go_duration(timedelta(seconds=bucket.limit.get_expiry())),
            fail_closed=bucket.fail_closed, busiest=rows[:BUSIEST], active=len(rows),
            unreadable=unreadable))
    return reports, rows_of


@dataclass(frozen=True)
class EmailBudget:
    value: str
    allowed: int
    window: str
    used: int
    resets_in: str | None
    # Why the budget is not applied ("" when it is).
    off: str = ""


def email_budget(rt: Runtime) -> EmailBudget:
    """GOTRUE_RATE_LIMIT_EMAIL_SENT, counted from the mail log as the mail flows count it."""
    value = rt.settings.rate_limit.email_sent
    allowed, window = mail_log.parse_budget(value)
    now = rt.now()
    used = mail_log.count_since(now - window)
    off = ""
    if allowed > 0 and rt.settings.mailer.autoconfirm:
        off = "GOTRUE_MAILER_AUTOCONFIRM is on, which turns this budget off (as in GoTrue)."
    resets_in = None
    if not off and used >= allowed:
        wait = mail_log.budget_wait(rt.mail_log, value, now)
        if wait is not None:
            resets_in = ("never (the budget is 0)" if math.isinf(wait)
                         else limit_keys.wait_text(wait))
    return EmailBudget(value=value, allowed=allowed, window=go_duration(window), used=used,
                       resets_in=resets_in, off=off)


@dataclass(frozen=True)
class RateLimitReport:
    storage: StorageStatus
    client: str
    buckets: list[BucketReport]
    email: EmailBudget
    locked: list[LockedAccount]
    # Whether the password-failure throttle is on, and whether its counts could be read.
    throttled: bool
    locked_unreadable: bool


def report(rt: Runtime) -> RateLimitReport:
    storage = storage_status(rt)
    buckets, rows_of = _bucket_reports(rt, storage.answers)
    throttle = [bucket for bucket in buckets if bucket.name in (ACCOUNT_BUCKET, CLIENT_BUCKET)]
    return RateLimitReport(
        storage=storage, client=client_text(rt), buckets=buckets, email=email_budget(rt),
        locked=limit_keys.locked_accounts(rows_of, MAX_LOCKED), throttled=bool(throttle),
        locked_unreadable=any(bucket.unreadable for bucket in throttle))


# --- actions ------------------------------------------------------------------------------------


def _storage_refused(what: str):
    return unprocessable(ErrorCode.VALIDATION_FAILED,
                         f"The counter storage does not answer: {what}. Try again when it does.")


def reset_key(rt: Runtime, bucket: str, key: str, actor: audit.Actor, ip: str) -> int:
    """Forget ``key``'s count in ``bucket`` (rate_limit_reset); returns the count it had.

    The entry is written first, so a storage that fails leaves neither reset nor entry behind.
    """
    if bucket not in rt.limiter.buckets:
        raise unprocessable(ErrorCode.VALIDATION_FAILED, "There is no such rate limit.")
    try:
        used = rt.limiter.usage(bucket, key).used
    except Exception:  # noqa: BLE001
        raise _storage_refused("nothing was reset") from None
    audit.record("rate_limit_reset", actor, now=rt.now(), ip=ip,
                 traits={"bucket": bucket, "key": printable(key), "count": used})
    try:
        rt.limiter.clear(bucket, key)
    except Exception:  # noqa: BLE001
        raise _storage_refused("nothing was reset") from None
    return used


def _unlock(rt: Runtime, accounts: list[str], actor: audit.Actor, ip: str,
            traits: dict) -> None:
    for account in accounts:
        audit.record("account_unlocked", actor, now=rt.now(), ip=ip,
                     traits={"account": printable(account), **traits})
    try:
        for account in accounts:
            password_attempts.unlock(rt, account)
    except Exception:  # noqa: BLE001
        raise _storage_refused("no account was unlocked") from None


def unlock_account(rt: Runtime, account: str, actor: audit.Actor, ip: str) -> None:
    """Forget the wrong passwords of ``account`` ("email:<address>" or "phone:<digits>") from
    every client (account_unlocked, naming the user when there is one)."""
    limit_keys.check_account(account)
    user_id = limit_keys.user_ids([account]).get(account)
    user = db.session.get(User, user_id) if user_id else None
    _unlock(rt, [account], actor, ip, target_traits(user) if user else {})


def unlock_user(rt: Runtime, user: User, actor: audit.Actor, ip: str) -> None:
    """Unlock every account of ``user`` (one account_unlocked entry each)."""
    accounts = limit_keys.accounts_of(user)
    if not accounts:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "This user has no email or phone to sign in with.")
    _unlock(rt, accounts, actor, ip, target_traits(user))
