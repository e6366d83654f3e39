"""What the overview's charts count: for each hour or day, one query over an index range of
one table.

Where each number comes from (the server keeps no counters of its own, and the API's hot paths
write nothing for these charts):

- sign-ups: ``users.created_at`` (every user made: sign-ups, invitations, the console's);
- sign-ins by method: the amr claim a session starts with (``mfa_amr_claims``: password, otp,
  oauth, anonymous, ...). A session that has ended (sign-out, ban) takes its claims with it, so
  its sign-in is no longer counted;
- active users: each user in the bucket of their latest sign-in (``users.last_sign_in_at``);
  a session kept alive by refreshing does not move it. Counting distinct users per bucket
  from the sessions would read every session of the range through its primary key (seconds
  at a million users), and the refresh grant records no history to count from;
- failed sign-ins: wrong MFA codes (``mfa_challenges.failed_attempts``). Wrong passwords are
  not stored; the rate limiter counts them for an hour (see ``attention.wrong_passwords``);
- mail and SMS: the mail log and the SMS log, by status.

Each function returns ``{series: count}`` for the rows in ``[start, end)``. One query per bucket
rather than one GROUP BY over the whole range: the database then never sorts the range's rows
(SQLite sorted a million amr claims for a GROUP BY of day and method in a second; the thirty
day ranges take a quarter of that), and no dialect's date functions are needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....extensions import db
from ....models import AMRClaim, Challenge, MailLogEntry, Session, SMSLogEntry, User
from ....services.mfa.factors import AMR_METHOD

Counts = dict[str, int]

# Second factors add a claim to a session that exists: they are not sign-ins.
SECOND_FACTORS = tuple(sorted(AMR_METHOD.values()))
# First-factor methods, as series of the sign-in chart (anything else counts as "other").
METHOD_SERIES = {
    "password": "password",
    "otp": "code",
    "magiclink": "code",
    "email/signup": "code",
    "invite": "code",
    "recovery": "code",
    "email_change": "code",
    "oauth": "oauth",
    "anonymous": "anonymous",
    "sso/saml": "sso",
    "sso": "sso",
}


def _in_range(column, start: datetime, end: datetime):
    return sa.and_(column >= start, column < end)


def _count(column, start: datetime, end: datetime, *conditions) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(column.table).where(
        _in_range(column, start, end), *conditions)).scalar_one()


def _by(column, series_column, start: datetime, end: datetime,
        series_of: Callable[[str], str | None], *conditions) -> Counts:
    rows = db.session.execute(
        sa.select(series_column, sa.func.count())
        .where(_in_range(column, start, end), *conditions).group_by(series_column)).all()
    counts: Counts = {}
    for value, found in rows:
        series = series_of(value)
        if series is not None and found:
            counts[series] = counts.get(series, 0) + int(found)
    return counts


def sign_ups(start: datetime, end: datetime) -> Counts:
    return {"signups": _count(User.created_at, start, end)}


def sign_ins(start: datetime, end: datetime) -> Counts:
    method = AMRClaim.authentication_method
    return _by(AMRClaim.created_at, method, start, end,
               lambda name: METHOD_SERIES.get(name, "other"), method.not_in(SECOND_FACTORS))


def last_sign_ins(start: datetime, end: datetime) -> Counts:
    """Users whose latest sign-in is in the bucket (an index-only range of
    users_last_sign_in_at_id_idx). Each user counts once, so the buckets add up to the users
    who signed in during the range; a bucket loses a user who signs in again later."""
    return {"users": _count(User.last_sign_in_at, start, end)}


def failed_codes(start: datetime, end: datetime) -> Counts:
    wrong = db.session.execute(
        sa.select(sa.func.sum(Challenge.failed_attempts))
        .where(_in_range(Challenge.created_at, start, end), Challenge.failed_attempts > 0)
    ).scalar_one()
    return {"mfa": int(wrong or 0)}


def _by_status(model, statuses: dict[str, str]) -> Callable[[datetime, datetime], Counts]:
    def count(start: datetime, end: datetime) -> Counts:
        return _by(model.created_at, model.status, start, end, statuses.get)
    return count


mail = _by_status(MailLogEntry, {"sent": "sent", "failed": "failed", "not_sent": "not_sent"})
sms = _by_status(SMSLogEntry, {"sent": "sent", "failed": "failed", "test_otp": "test_otp"})


@dataclass(frozen=True)
class Metric:
    name: str
    count: Callable[[datetime, datetime], Counts]
    # Rows stay in the bucket they were counted in, so a bucket that is over can be kept.
    settled: bool = True


METRICS = (Metric("signups", sign_ups), Metric("signins", sign_ins),
           Metric("users", last_sign_ins, settled=False), Metric("failures", failed_codes),
           Metric("mail", mail), Metric("sms", sms))


def capped_count(statement: sa.Select, cap: int) -> tuple[int, bool]:
    """(count, capped) of the rows ``statement`` selects, reading at most ``cap + 1``."""
    limited = statement.limit(cap + 1).subquery()
    found = db.session.execute(sa.select(sa.func.count()).select_from(limited)).scalar_one()
    return (cap, True) if found > cap else (found, False)


def sessions_used_since(since: datetime, cap: int) -> tuple[int, bool]:
    """Sessions started or refreshed since ``since`` (a refresh moves updated_at)."""
    # The indexed column itself: the count reads the index alone.
    return capped_count(sa.select(Session.updated_at).where(Session.updated_at >= since), cap)
