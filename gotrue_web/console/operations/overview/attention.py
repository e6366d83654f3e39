"""The overview's "Needs attention" list: each item a capped count read from an index (or the
rate limiter's counters), a level, and the console page that deals with it.

Links are (endpoint, query arguments): the view turns them into URLs, as operations know no
Flask. A count stops at CAP, so no item costs more than reading CAP + 1 index entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from ....extensions import db
from ....models import MailLogEntry, MailOutboxRow, OperatorSignInAttempt, User
from ....models.mail_outbox import OUTBOX_PENDING
from ....runtime import Runtime
from .. import limit_keys, user_search
from ..user_filters import UserFilters
from .activity import capped_count

CAP = 1000
UNCONFIRMED_AFTER = timedelta(hours=24)
BANS_WITHIN = timedelta(days=7)
MAIL_WINDOW = timedelta(hours=24)
# An outbox row due longer than this has not been sent by any dispatcher.
OUTBOX_LATE = timedelta(minutes=10)
CONSOLE_WINDOW = timedelta(hours=1)
# A key using this share of its limit or more is a hot spot.
HOT_SHARE = 0.5
LISTED = 5
OK, WARN, DANGER, UNKNOWN = "ok", "warn", "danger", "unknown"


@dataclass(frozen=True)
class Link:
    text: str
    endpoint: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Detail:
    """One line under an item (a user, an account, a key), with an optional link."""

    text: str
    link: Link | None = None
    note: str = ""


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    level: str
    # The count shown big, as text ("1,000+", "3", "—").
    figure: str
    summary: str
    links: tuple[Link, ...] = ()
    details: tuple[Detail, ...] = ()


def figure(count: int, capped: bool) -> str:
    return f"{count:,}+" if capped else f"{count:,}"


def plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


# --- users -------------------------------------------------------------------------------------


def unconfirmed_backlog(now: datetime) -> Item:
    """Users who signed up and never confirmed, for a whole day or more. The users list filters
    creation by day, so the count is of users created before yesterday (UTC): exactly the list
    the link opens."""
    last_day = (now - UNCONFIRMED_AFTER).date() - timedelta(days=1)
    filters = UserFilters.from_args({"state": "unconfirmed", "created_to": last_day.isoformat()})
    total = user_search.count(filters, now, cap=CAP)
    count, capped = total.value, total.capped
    summary = (f"{figure(count, capped)} {plural(count, 'user has', 'users have')} not "
               "confirmed their email or phone since signing up on or before "
               f"{last_day:%d %b %Y}.")
    if not count:
        summary = f"Nobody who signed up on or before {last_day:%d %b %Y} is still unconfirmed."
    return Item("unconfirmed", "Unconfirmed after a day", WARN if count else OK,
                figure(count, capped), summary,
                (Link("Review them", "console.users", filters.to_args()),))


def bans_ending(now: datetime) -> Item:
    window = (User.banned_until > now, User.banned_until <= now + BANS_WITHIN)
    count, capped = capped_count(sa.select(User.banned_until).where(*window), CAP)
    soonest = db.session.execute(
        sa.select(User.id, User.email, User.phone, User.banned_until).where(*window)
        .order_by(User.banned_until, User.id).limit(LISTED)).all()
    details = tuple(
        Detail(email or (f"+{phone}" if phone else str(user_id)),
               Link("Open", "console.detail", {"user_id": str(user_id)}),
               f"ends {until:%a %d %b %H:%M} UTC")
        for user_id, email, phone, until in soonest)
    summary = (f"{figure(count, capped)} {plural(count, 'ban ends', 'bans end')} in the next "
               "7 days: "
               "check whether each should be lifted or made longer.")
    if not count:
        summary = "No ban ends in the next 7 days."
    return Item("bans", "Bans ending soon", WARN if count else OK, figure(count, capped),
                summary, (Link("Banned users", "console.users", {"state": "banned"}),), details)


# --- mail --------------------------------------------------------------------------------------


def failing_mail(now: datetime) -> Item:
    since = now - MAIL_WINDOW
    failed, capped = capped_count(
        sa.select(MailLogEntry.created_at).where(MailLogEntry.created_at >= since,
                                                 MailLogEntry.status == "failed"), CAP)
    late, late_capped = capped_count(
        sa.select(MailOutboxRow.next_attempt_at).where(
            MailOutboxRow.status == OUTBOX_PENDING,
            MailOutboxRow.next_attempt_at < now - OUTBOX_LATE), CAP)
    parts = []
    if failed:
        parts.append(f"{figure(failed, capped)} {plural(failed, 'attempt', 'attempts')} "
                     "to send mail failed in the last 24 hours.")
    if late:
        parts.append(f"{figure(late, late_capped)} queued "
                     f"{plural(late, 'email is', 'emails are')} more than 10 minutes late: "
                     "no outbox dispatcher is sending.")
    level = DANGER if late or failed >= 10 else WARN if failed else OK
    since_text = since.replace(second=0, microsecond=0, tzinfo=None).isoformat()
    return Item("mail", "Failing mail", level, figure(failed, capped),
                " ".join(parts) or "No email failed in the last 24 hours.",
                (Link("Failed mail", "console.mail_log", {"status": "failed",
                                                          "since": since_text}),))


# --- sign-in lockouts and rate limits ------------------------------------------------------------


@dataclass(frozen=True)
class LimiterState:
    """The limiter's keys, read once for the two items below (None: the storage failed)."""

    rows_of: dict[str, list[limit_keys.KeyRow]] | None
    limits: dict[str, int]


def read_limiter(rt: Runtime) -> LimiterState:
    limiter = rt.limiter
    limits = {name: int(bucket.limit.amount) for name, bucket in limiter.buckets.items()}
    if not limiter.healthy():
        return LimiterState(None, limits)
    try:
        return LimiterState({name: limit_keys.key_rows(rt, name) for name in limiter.buckets},
                            limits)
    except Exception:  # noqa: BLE001 - the storage failed while read: the items say so
        return LimiterState(None, limits)


@dataclass(frozen=True)
class WrongPasswords:
    """Wrong passwords the password_account bucket counts now (its window is an hour)."""

    attempts: int
    accounts: int


def wrong_passwords(state: LimiterState) -> WrongPasswords | None:
    if state.rows_of is None or limit_keys.ACCOUNT_BUCKET not in state.rows_of:
        return None
    rows = state.rows_of[limit_keys.ACCOUNT_BUCKET]
    return WrongPasswords(sum(row.used for row in rows), len(rows))


def _console_failures(now: datetime) -> int:
    count, _ = capped_count(
        sa.select(OperatorSignInAttempt.created_at).where(
            OperatorSignInAttempt.created_at >= now - CONSOLE_WINDOW,
            OperatorSignInAttempt.succeeded.is_(False)), CAP)
    return count


def locked_accounts(state: LimiterState, now: datetime) -> Item:
    console_failed = _console_failures(now)
    console_line = ()
    if console_failed:
        console_line = (Detail(
            f"{console_failed:,} failed console {plural(console_failed, 'sign-in', 'sign-ins')} "
            "in the last hour", Link("Audit log", "console.audit_log",
                                     {"action": "operator_login_failed"})),)
    rates = Link("Rate limits", "console.rate_limits")
    password_buckets = {limit_keys.ACCOUNT_BUCKET, limit_keys.CLIENT_BUCKET} & set(state.limits)
    if not password_buckets:
        return Item("locked", "Locked accounts", WARN if console_failed else OK, "0",
                    "The password-failure throttle is off, so no account is locked.",
                    (rates,), console_line)
    if state.rows_of is None:
        return Item("locked", "Locked accounts", UNKNOWN, "—",
                    "Cannot be told now: the rate limiter's counter storage does not answer.",
                    (rates,), console_line)
    locked = limit_keys.locked_accounts(state.rows_of, CAP + 1)
    count, capped = min(len(locked), CAP), len(locked) > CAP
    details = tuple(
        Detail(account.shown,
               Link("Open", "console.detail", {"user_id": str(account.user_id)})
               if account.user_id else None,
               "from every client" if account.everywhere else "from some clients")
        for account in locked[:LISTED])
    summary = (f"{figure(count, capped)} {plural(count, 'account is', 'accounts are')} refused "
               "password sign-in after too many wrong passwords. Magic links, codes and "
               "recovery still work.")
    if not count:
        summary = "No account is locked out of password sign-in."
    level = WARN if count or console_failed else OK
    return Item("locked", "Locked accounts", level, figure(count, capped), summary,
                (rates,), details + console_line)


def hot_spots(state: LimiterState) -> Item:
    rates = Link("Rate limits", "console.rate_limits")
    if state.rows_of is None:
        return Item("hot", "Rate-limit hot spots", DANGER, "—",
                    "The rate limiter's counter storage does not answer: request limits count "
                    "in each process's memory and emails and texts are refused.", (rates,))
    hot = []
    for bucket, rows in state.rows_of.items():
        for row in rows:
            if row.limit and row.used / row.limit >= HOT_SHARE:
                hot.append((row.used / row.limit, bucket, row))
    hot.sort(key=lambda item: (-item[0], item[1], item[2].key))
    spent = sum(1 for share, _, _ in hot if share >= 1)
    details = tuple(Detail(f"{bucket}: {row.shown}", None,
                           f"{row.used:,} of {row.limit:,}, resets in {row.resets_in}")
                    for _, bucket, row in hot[:LISTED])
    if not hot:
        summary = "No client or address is using half of any limit."
    else:
        summary = (f"{len(hot):,} {plural(len(hot), 'key uses', 'keys use')} half of a limit or "
                   "more; "
                   f"{spent:,} {plural(spent, 'is', 'are')} refused until the window moves on.")
    level = DANGER if spent else WARN if hot else OK
    return Item("hot", "Rate-limit hot spots", level, f"{len(hot):,}", summary, (rates,),
                details)


def items(rt: Runtime, now: datetime, state: LimiterState) -> list[Item]:
    return [unconfirmed_backlog(now), bans_ending(now), failing_mail(now),
            locked_accounts(state, now), hot_spots(state)]
