"""Rate-limit keys as the console shows and reads them, and the accounts whose password sign-in
they lock (the password_account and password_client buckets of services.password_attempts).

Keys are whatever clients sent (header values, addresses typed into a form), so everything
shown goes through ``printable``, and forms carry a key as ``key_token`` (base64), which
survives any character a browser would rewrite. The limiter is reached through ``rt.limiter``:
the console may not import ``ratelimit``.
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from ...errors import ErrorCode, unprocessable
from ...extensions import db
from ...models import User
from ...runtime import Runtime
from .settings_report import go_duration

# Every key is read to find the busiest and the spent ones (the limiter's own unlock does too).
SCAN = 10_000
# Characters of a key shown in a table cell or an audit entry, and in a message.
MAX_SHOWN = 200
MAX_IN_MESSAGE = 80
ACCOUNT_BUCKET, CLIENT_BUCKET = "password_account", "password_client"
ACCOUNT_KINDS = ("email", "phone")


def printable(key: str, limit: int = MAX_SHOWN) -> str:
    """``key`` as it can be shown: control, format (bidi, zero-width) and lone surrogate
    characters as escapes, and cut to ``limit`` characters."""
    shown = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                    for char in key[:limit + 1])
    return shown[:limit] + "…" if len(shown) > limit else shown


def key_token(key: str) -> str:
    """The key as a form carries it back (base64url of its UTF-8, lone surrogates included)."""
    return base64.urlsafe_b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")


def key_of(token: str) -> str:
    """The key a form sent as ``key_token``; 422 when it is not one."""
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode(
            "utf-8", "surrogatepass")
    except (ValueError, binascii.Error):
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "That key could not be read. Reload the page and try again.") from None


def account_shown(account: str, limit: int = MAX_SHOWN) -> str:
    """The address or number of a password-failure account ("+" before a phone's digits)."""
    kind, _, value = account.partition(":")
    if kind == "phone":
        return printable("+" + value, limit)
    return printable(value if kind in ACCOUNT_KINDS else account, limit)


def wait_text(seconds: float) -> str:
    return go_duration(timedelta(seconds=max(0, math.ceil(seconds))))


@dataclass(frozen=True)
class KeyRow:
    key: str
    used: int
    limit: int
    resets_in: str

    @property
    def shown(self) -> str:
        return printable(self.key)

    @property
    def token(self) -> str:
        return key_token(self.key)

    @property
    def spent(self) -> bool:
        return self.used >= self.limit


def key_rows(rt: Runtime, bucket: str) -> list[KeyRow]:
    """Every key of ``bucket`` with a count, busiest first (raises when the storage fails)."""
    return [KeyRow(usage.key, usage.used, usage.limit, wait_text(usage.resets_in))
            for usage in rt.limiter.busiest(bucket, SCAN)]


# --- locked accounts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lock:
    """One spent password-failure count: the account's from every client (client "") or the
    account's from one client."""

    client: str
    used: int
    limit: int
    resets_in: str

    @property
    def client_shown(self) -> str:
        return printable(self.client, MAX_IN_MESSAGE)


@dataclass(frozen=True)
class LockedAccount:
    # "email:<address>" or "phone:<digits>", as services.signin counts it.
    account: str
    locks: tuple[Lock, ...]
    user_id: uuid.UUID | None = None

    @property
    def kind(self) -> str:
        return self.account.partition(":")[0]

    @property
    def shown(self) -> str:
        return account_shown(self.account)

    @property
    def token(self) -> str:
        return key_token(self.account)

    @property
    def everywhere(self) -> bool:
        return any(not lock.client for lock in self.locks)


def _split_client_key(key: str, is_account: Callable[[str], bool]) -> tuple[str, str]:
    """(account, client) of a password_client key "<account> <client>". Both halves may hold
    spaces (a typed address, a header value): take the longest head the account-wide bucket
    counts as an account, else cut at the first space."""
    cuts = [index for index, char in enumerate(key) if char == " "]
    for index in reversed(cuts):
        if is_account(key[:index]):
            return key[:index], key[index + 1:]
    account, _, client = key.partition(" ")
    return account, client


def _locks(rows_of: dict[str, list[KeyRow]],
           is_account: Callable[[str], bool] | None = None) -> dict[str, list[Lock]]:
    """The spent counts of the two password buckets, by account."""
    locks: dict[str, list[Lock]] = {}
    for row in rows_of.get(ACCOUNT_BUCKET, []):
        if row.spent:
            locks.setdefault(row.key, []).append(Lock("", row.used, row.limit, row.resets_in))
    if is_account is None:
        is_account = {row.key for row in rows_of.get(ACCOUNT_BUCKET, [])}.__contains__
    for row in rows_of.get(CLIENT_BUCKET, []):
        if row.spent:
            account, client = _split_client_key(row.key, is_account)
            locks.setdefault(account, []).append(Lock(client, row.used, row.limit,
                                                      row.resets_in))
    return locks


def user_ids(accounts: list[str]) -> dict[str, uuid.UUID]:
    """The (not deleted) user behind each account that has one."""
    by_kind = {kind: [account.partition(":")[2] for account in accounts
                      if account.startswith(kind + ":")] for kind in ACCOUNT_KINDS}
    if not any(by_kind.values()):
        return {}
    rows = db.session.execute(
        sa.select(User.id, User.email, User.phone).where(
            User.deleted_at.is_(None),
            sa.or_(User.email.in_(by_kind["email"] or [""]),
                   User.phone.in_(by_kind["phone"] or [""])))
        .order_by(User.created_at)).all()
    found: dict[str, uuid.UUID] = {}
    for user_id, email, phone in rows:
        for account in (f"email:{email}" if email else "", f"phone:{phone}" if phone else ""):
            if account in accounts:
                found.setdefault(account, user_id)
    return found


def locked_accounts(rows_of: dict[str, list[KeyRow]], limit: int) -> list[LockedAccount]:
    """The locked accounts among the rows read, the most failures first."""
    locks = _locks(rows_of)
    ordered = sorted(locks, key=lambda account: (-max(lock.used for lock in locks[account]),
                                                 account))[:limit]
    users = user_ids(ordered)
    return [LockedAccount(account, tuple(locks[account]), users.get(account))
            for account in ordered]


def check_account(account: str) -> None:
    kind, separator, value = account.partition(":")
    if not separator or kind not in ACCOUNT_KINDS or not value:
        raise unprocessable(ErrorCode.VALIDATION_FAILED, "That is not an account.")


# --- one user ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserLockouts:
    """The user detail page's view: the user's locked accounts, or that it cannot be told."""

    locked: list[LockedAccount]
    unreadable: bool = False


def accounts_of(user: User) -> list[str]:
    """The password-failure accounts a user signs in as."""
    if user.deleted_at is not None:
        return []
    return [account for account in (f"email:{user.email}" if user.email else "",
                                    f"phone:{user.phone}" if user.phone else "") if account]


def user_lockouts(rt: Runtime, user: User) -> UserLockouts:
    accounts = accounts_of(user)
    limiter = rt.limiter
    if not accounts or not {ACCOUNT_BUCKET, CLIENT_BUCKET} & set(limiter.buckets):
        return UserLockouts([])
    rows_of: dict[str, list[KeyRow]] = {}
    try:
        if ACCOUNT_BUCKET in limiter.buckets:
            rows_of[ACCOUNT_BUCKET] = [
                KeyRow(usage.key, usage.used, usage.limit, wait_text(usage.resets_in))
                for usage in (limiter.usage(ACCOUNT_BUCKET, account) for account in accounts)]
        if CLIENT_BUCKET in limiter.buckets:
            rows_of[CLIENT_BUCKET] = [row for row in key_rows(rt, CLIENT_BUCKET)
                                      if any(row.key.startswith(account + " ")
                                             for account in accounts)]
        # A client key of another account may start like this one's ("email:a@x.com b c"
        # for the account "email:a@x.com b"): ask the account-wide bucket which it is.
        locks = _locks(rows_of, lambda head: head in accounts or (
            ACCOUNT_BUCKET in limiter.buckets and limiter.usage(ACCOUNT_BUCKET, head).used > 0))
    except Exception:  # noqa: BLE001 - the storage failed: the page says it cannot tell
        return UserLockouts([], unreadable=True)
    return UserLockouts([LockedAccount(account, tuple(locks[account]), user.id)
                         for account in accounts if account in locks])
