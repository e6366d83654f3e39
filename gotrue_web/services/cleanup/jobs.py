"""What the database cleanup removes, and one pass over it.

The rules are GoTrue's: a row is kept for a day after it stopped being usable, so that an
operator can still look at it and a client that is late still gets the answer it would have got.
- Refresh tokens revoked more than 24 h ago are deleted (a reuse of one then answers
  refresh_token_not_found instead of revoking its session).
- Live refresh tokens of sessions whose not_after passed more than 24 h ago are revoked, so that
  the first rule deletes them a day later, a batch at a time.
- Sessions whose not_after passed more than 72 h ago are deleted, with what hangs on them.
- With GOTRUE_SESSIONS_TIMEBOX, sessions older than it by 24 h; with
  GOTRUE_SESSIONS_INACTIVITY_TIMEOUT, sessions idle for it and 24 h more.
- Flow states, SAML relay states and MFA challenges older than 24 h.
- Unverified MFA factors once expired by this project's own rule, the one enrolment applies
  (services.mfa.factors.expired_unverified: MFA_FACTOR_EXPIRY_DURATION since they were made or
  last challenged); GoTrue's cleanup waits 24 h from creation whatever that setting says.

A job runs until nothing is due, in batches, each a short transaction of its own: the batch's
ids are selected (FOR UPDATE SKIP LOCKED on PostgreSQL and MariaDB, so a row that a request or
another process's cleanup holds is left for a later pass instead of waited for), then deleted
(or revoked) by id with the job's condition repeated, so a row that changed between the two
statements stays. Paced (the background thread), it rests after each batch as long as the batch
took: a backlog never keeps the database, or SQLite's one writer, busy for long stretches.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from ...models import Challenge, Factor, FlowState, RefreshToken, SAMLRelayState
from ...models import Session as SessionRow
from ...settings import Settings
from ..mfa.factors import expired_unverified

# How long a row stays after it stopped being usable (GoTrue's margins).
GRACE = timedelta(hours=24)
ENDED_SESSION_GRACE = timedelta(hours=72)
# Rows one transaction removes: few enough that its locks are held for milliseconds.
BATCH = 500

_TOKENS = RefreshToken.__table__
_SESSIONS = SessionRow.__table__

Condition = Callable[[Settings, datetime], "sa.ColumnElement[bool] | None"]


@dataclass(frozen=True)
class Job:
    # The job in the log line and the metric's label: what it deletes (or revokes).
    name: str
    table: sa.Table
    # The rows to remove at ``now``; None when the job does not apply (a setting is off).
    condition: Condition
    # Revoke (refresh tokens) instead of deleting.
    revoke: bool = False


def _revoked_tokens(_settings: Settings, now: datetime):
    return sa.and_(_TOKENS.c.revoked.is_(True), _TOKENS.c.updated_at < now - GRACE)


def _tokens_of_ended_sessions(_settings: Settings, now: datetime):
    ended = sa.select(_SESSIONS.c.id).where(_SESSIONS.c.not_after < now - GRACE)
    return sa.and_(_TOKENS.c.session_id.in_(ended), _TOKENS.c.revoked.is_not(True))


def _ended_sessions(_settings: Settings, now: datetime):
    return _SESSIONS.c.not_after < now - ENDED_SESSION_GRACE


def _timeboxed_sessions(settings: Settings, now: datetime):
    timebox = settings.sessions.timebox
    if not timebox:
        return None
    return _SESSIONS.c.created_at < now - timebox - GRACE


def _inactive_sessions(settings: Settings, now: datetime):
    timeout = settings.sessions.inactivity_timeout
    if not timeout:
        return None
    # Every timestamp that can mark activity must be old (updated_at moves with each refresh):
    # a session that any of them calls recent stays.
    cutoff = now - timeout - GRACE
    return sa.and_(
        sa.func.coalesce(_SESSIONS.c.updated_at, _SESSIONS.c.created_at) < cutoff,
        sa.or_(_SESSIONS.c.refreshed_at.is_(None), _SESSIONS.c.refreshed_at < cutoff))


def _created_before(table: sa.Table) -> Condition:
    return lambda _settings, now: table.c.created_at < now - GRACE


# In this order: tokens are revoked before the first rule looks for revoked ones, and sessions
# lose their tokens piecemeal before the session goes (its delete cascades to what is left).
JOBS = (
    Job("ended_session_tokens_revoked", _TOKENS, _tokens_of_ended_sessions, revoke=True),
    Job("revoked_refresh_tokens", _TOKENS, _revoked_tokens),
    Job("ended_sessions", _SESSIONS, _ended_sessions),
    Job("timeboxed_sessions", _SESSIONS, _timeboxed_sessions),
    Job("inactive_sessions", _SESSIONS, _inactive_sessions),
    Job("flow_states", FlowState.__table__, _created_before(FlowState.__table__)),
    Job("saml_relay_states", SAMLRelayState.__table__, _created_before(SAMLRelayState.__table__)),
    Job("mfa_challenges", Challenge.__table__, _created_before(Challenge.__table__)),
    Job("unverified_mfa_factors", Factor.__table__, expired_unverified),
)


def run_pass(connection: sa.Connection, settings: Settings, now: datetime, *,
             batch: int = BATCH, max_batches: int | None = None,
             stop: threading.Event | None = None, paced: bool = False,
             removed: dict[str, int] | None = None) -> dict[str, int]:
    """Run every job on ``connection`` (outside a transaction), each until it finds fewer than
    ``batch`` rows, has run ``max_batches`` batches (None: no limit) or ``stop`` is set.
    ``paced``: rest after each batch as long as it took. Returns the rows each job removed (or
    revoked), for the jobs that removed any, in ``removed`` when given: a pass that fails
    half-way leaves there what its committed batches did."""
    stop = stop or threading.Event()
    removed = {} if removed is None else removed
    for job in JOBS:
        condition = job.condition(settings, now)
        if condition is None:
            continue
        batches = 0
        while not stop.is_set():
            started = time.monotonic()
            selected, changed = _run_batch(connection, job, condition, now, batch)
            if changed:
                removed[job.name] = removed.get(job.name, 0) + changed
            batches += 1
            # A full batch of which nothing could go would only be selected again.
            if (selected < batch or not changed
                    or (max_batches is not None and batches >= max_batches)):
                break
            if paced:
                stop.wait(time.monotonic() - started)
    return removed


def _run_batch(connection: sa.Connection, job: Job, condition, now: datetime,
               batch: int) -> tuple[int, int]:
    """One transaction: (rows selected, rows removed)."""
    table = job.table
    query = sa.select(table.c.id).where(condition).limit(batch)
    if connection.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    with connection.begin():
        ids = connection.execute(query).scalars().all()
        if not ids:
            return 0, 0
        chosen = sa.and_(table.c.id.in_(ids), condition)
        statement = (sa.update(table).where(chosen).values(revoked=True, updated_at=now)
                     if job.revoke else sa.delete(table).where(chosen))
        changed = connection.execute(statement).rowcount
    return len(ids), changed
