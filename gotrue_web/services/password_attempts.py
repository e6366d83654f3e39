"""The password-failure throttle of the password grant, beyond GoTrue.

Each wrong password counts against the account (the normalised email or phone, known or not,
so the answer never tells whether it exists) and against the account and the client together.
Once either is spent, further attempts are refused with 429 before the password is evaluated:
from one client after a few misses, from anywhere after GOTRUE_RATE_LIMIT_PASSWORD_FAILURES in
an hour (guessing from rotating addresses). Only the password grant is held back: the owner
can still get in by magic link, code or recovery, which a stranger cannot use.
"""

from __future__ import annotations

import contextlib

from ..errors import ErrorCode, too_many_requests
from ..ratelimit import requesting_client, retry_after_seconds
from ..runtime import Runtime


def _keys(account: str) -> tuple[tuple[str, str], ...]:
    return (("password_account", account),
            ("password_client", f"{account} {requesting_client()}"))


def check(rt: Runtime, account: str) -> None:
    """429 over_request_rate_limit when ``account`` has had too many wrong passwords."""
    for bucket, key in _keys(account):
        wait = rt.limiter.wait(bucket, key)
        if wait is not None:
            raise too_many_requests(
                ErrorCode.OVER_REQUEST_RATE_LIMIT,
                "Too many failed sign-in attempts for this account. Try again later, or sign "
                "in with a magic link or reset your password.",
                retry_after=retry_after_seconds(wait))


def record_failure(rt: Runtime, account: str) -> None:
    for bucket, key in _keys(account):
        rt.limiter.hit(bucket, key)


def record_success(rt: Runtime, account: str) -> None:
    """The owner got in from this client: its own misses no longer count. The account-wide
    count stays: a success does not reopen guessing from everywhere.

    With the counter storage down the sign-in still succeeds: the misses are then not forgotten
    but run out with their window (``check`` has already logged the outage)."""
    with contextlib.suppress(Exception):
        rt.limiter.clear("password_client", _keys(account)[1][1])


def unlock(rt: Runtime, account: str) -> None:
    """An operator's unlock: forget the account's wrong passwords, from anywhere."""
    rt.limiter.clear("password_account", account)
    if "password_client" not in rt.limiter.buckets:
        return
    for usage in rt.limiter.busiest("password_client", count=10_000):
        if usage.key.startswith(f"{account} "):
            rt.limiter.clear("password_client", usage.key)
