"""The console's sign-in throttle: which sign-in attempts get their password checked.

The rule (the console is ours; GoTrue has none), counting failed attempts:

- per operator and client address: GOTRUE_CONSOLE_LOGIN_ATTEMPTS per
  GOTRUE_CONSOLE_LOGIN_WINDOW, then that address is refused (429) for that operator;
- per client address, whatever the operator: ADDRESS_FACTOR times as many (password spraying);
- per operator, from every address together: ACCOUNT_FAILURES an hour. Past that, an address
  the operator signed in from in the last KNOWN_ADDRESS_AGE still goes on (held only by the two
  limits above). Any other address must show a valid TOTP code, checked before the password;
  without TOTP on the operator it is refused (429) until the hour has passed.

So online guessing is capped at about ACCOUNT_FAILURES passwords per operator an hour however many
addresses take part, while a stranger who knows an operator's email can lock the owner out
neither of the addresses they use nor of a sign-in with their authenticator.

Check and record are one step. An attempt that may go on is recorded first, as a failure, in a
short transaction of its own under a row lock every worker and server takes (``console_locks``),
and committed before its password is checked; a sign-in that succeeds then marks it. So parallel
attempts cannot all read the same count, and a worker that dies mid-check leaves a failure.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ...db import is_lock_contention
from ...errors import ErrorCode, GoTrueError, too_many_requests
from ...extensions import db
from ...models import ConsoleLock, Operator, OperatorSignInAttempt
from ...runtime import Runtime

ADDRESS_FACTOR = 4
ACCOUNT_FAILURES = 100
ACCOUNT_WINDOW = timedelta(hours=1)
KNOWN_ADDRESS_AGE = timedelta(days=30)
LOCK_NAME = "sign_in"

Attempt = OperatorSignInAttempt


@dataclass(frozen=True)
class Admission:
    """An attempt let through, already recorded as failed."""

    attempt_id: uuid.UUID
    # Past the operator's hourly budget from an address it has not signed in from: the TOTP
    # code must be right before the password is checked.
    code_first: bool


def _throttled(message: str, wait: float) -> GoTrueError:
    seconds = max(1, math.ceil(wait))
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return too_many_requests(ErrorCode.OVER_REQUEST_RATE_LIMIT,
                             message.format(wait=f"{minutes} {unit}"), retry_after=seconds)


def _ensure_lock_row(connection: sa.Connection) -> None:
    """Make the sign-in lock row on first use (the tests empty every table), in a transaction
    of its own: on InnoDB a failed duplicate insert leaves a shared lock on the row, and two
    transactions holding one while both ask for the exclusive lock deadlock."""
    select = sa.select(ConsoleLock.name).where(ConsoleLock.name == LOCK_NAME)
    try:
        with connection.begin():
            if connection.execute(select).first() is None:
                connection.execute(sa.insert(ConsoleLock).values(name=LOCK_NAME))
    except sa.exc.IntegrityError:
        pass  # another worker made it first


def _lock(connection: sa.Connection) -> None:
    """Take the sign-in lock row (every worker's admission queues here)."""
    connection.execute(sa.select(ConsoleLock.name).where(ConsoleLock.name == LOCK_NAME)
                       .with_for_update()).one()


def _wait(connection: sa.Connection, limit: int, window: timedelta, now: datetime,
          *conditions) -> float | None:
    """Seconds until fewer than ``limit`` failures matching ``conditions`` are in ``window``;
    None when there are fewer already."""
    failed = (Attempt.created_at >= now - window, Attempt.succeeded.is_(False), *conditions)
    count = connection.execute(
        sa.select(sa.func.count()).select_from(Attempt).where(*failed)).scalar_one()
    if count < limit:
        return None
    # The failure that has to leave the window for the count to drop below the limit.
    leaving = connection.execute(
        sa.select(Attempt.created_at).where(*failed).order_by(Attempt.created_at)
        .offset(count - limit).limit(1)).scalar_one()
    return (leaving + window - now).total_seconds()


def _known_address(connection: sa.Connection, email: str, ip: str, now: datetime) -> bool:
    return connection.execute(
        sa.select(Attempt.id).where(Attempt.email == email, Attempt.ip_address == ip,
                                    Attempt.succeeded.is_(True),
                                    Attempt.created_at >= now - KNOWN_ADDRESS_AGE).limit(1)
    ).first() is not None


def _uses_totp(connection: sa.Connection, email: str) -> bool:
    return bool(connection.execute(
        sa.select(Operator.totp_enabled).where(Operator.email == email)).scalar())


def _forget_old(connection: sa.Connection, rt: Runtime, now: datetime) -> None:
    """Drop what no rule reads any more: failures older than both windows, successes older
    than KNOWN_ADDRESS_AGE."""
    window = max(rt.settings.console.login_window, ACCOUNT_WINDOW)
    connection.execute(sa.delete(Attempt).where(sa.or_(
        Attempt.created_at < now - KNOWN_ADDRESS_AGE,
        sa.and_(Attempt.succeeded.is_(False), Attempt.created_at < now - window))))


def _admit(connection: sa.Connection, rt: Runtime, email: str, ip: str, now: datetime,
           code_first_possible: bool) -> Admission:
    rules = rt.settings.console
    wait = _wait(connection, rules.login_attempts, rules.login_window, now,
                 Attempt.email == email, Attempt.ip_address == ip)
    if wait is None:
        wait = _wait(connection, rules.login_attempts * ADDRESS_FACTOR, rules.login_window, now,
                     Attempt.ip_address == ip)
    if wait is not None:
        raise _throttled("Too many failed sign-ins. Try again in {wait}.", wait)
    code_first = False
    wait = _wait(connection, ACCOUNT_FAILURES, ACCOUNT_WINDOW, now, Attempt.email == email)
    if wait is not None and not _known_address(connection, email, ip, now):
        if not (code_first_possible and _uses_totp(connection, email)):
            raise _throttled("Too many failed sign-ins for this account. Try again in {wait}, "
                             "or from an address you have signed in from before.", wait)
        code_first = True
    _forget_old(connection, rt, now)
    attempt_id = uuid.uuid4()
    connection.execute(sa.insert(Attempt).values(id=attempt_id, created_at=now, email=email,
                                                 ip_address=ip, succeeded=False))
    return Admission(attempt_id=attempt_id, code_first=code_first)


def admit(rt: Runtime, email: str, ip: str, *, code_first_possible: bool = True) -> Admission:
    """Let one attempt for ``email`` (lookup form) from ``ip`` go on, recorded as a failure and
    committed, or raise 429 over_request_rate_limit (nothing recorded, nothing checked).

    Runs in its own transaction on its own connection, not the request's: the record must be
    visible to every other worker before the password is checked. ``code_first_possible`` is
    False where no TOTP code is asked for (the password re-check of a signed-in operator).
    """
    ip = (ip or "")[:64]
    now = rt.now()
    try:
        with db.engine.connect() as connection:
            # On SQLite the write lock comes first, as SELECT ... FOR UPDATE would elsewhere.
            connection.execution_options(write_lock=True)
            _ensure_lock_row(connection)
            with connection.begin():
                _lock(connection)
                return _admit(connection, rt, email, ip, now, code_first_possible)
    except sa.exc.DBAPIError as error:
        if not is_lock_contention(error):
            raise
        # Sign-ins queue on one lock: a flood that makes it wait too long is throttled.
        raise _throttled("Too many sign-ins at once. Try again in {wait}.", 60) from error


def succeeded(admission: Admission) -> None:
    """The attempt's credentials checked out (in the request's transaction): it stops counting
    as a failure and its address becomes one the operator has signed in from."""
    db.session.execute(sa.update(Attempt).where(Attempt.id == admission.attempt_id)
                       .values(succeeded=True).execution_options(synchronize_session=False))
