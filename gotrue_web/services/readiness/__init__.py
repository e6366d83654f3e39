"""GET /ready: whether this server can serve, dependency by dependency.

The database answers and carries the schema this code needs (the newest migration applied), the
rate-limit storage answers (Redis, or the local SQLite file), and the mail outbox's backlog:
how many emails wait and how long the oldest has waited (reported, never a reason to be
unready: mail waits in the table until SMTP is back). Answers name each check's state in fixed
words, never an address or an error text that could carry a credential.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from ...db import database_unavailable, discard_session
from ...extensions import db
from ...models import MailOutboxRow
from ...models.mail_outbox import OUTBOX_PENDING
from ...runtime import Runtime

log = logging.getLogger(__name__)

OK = "ok"


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    outbox: dict[str, int | None] | None = None

    @property
    def ready(self) -> bool:
        return all(state == OK for state in self.checks.values())

    def as_json(self) -> dict:
        answer: dict = {"status": OK if self.ready else "unavailable", "checks": self.checks}
        if self.outbox is not None:
            answer["outbox"] = self.outbox
        return answer


@functools.cache
def _migration_revisions(migrations: Path) -> tuple[str | None, frozenset[str]]:
    """This code's newest migration and all it knows; the scripts are read once per process,
    on the first check."""
    script = ScriptDirectory(str(migrations))
    return (script.get_current_head(),
            frozenset(revision.revision for revision in script.walk_revisions()))


def check(rt: Runtime, migrations: Path) -> Readiness:
    """Run every check; a failed one is named in the answer and logged, never raised."""
    readiness = Readiness()
    try:
        db.session.execute(sa.select(sa.literal(1))).scalar_one()
        readiness.checks["database"] = OK
        readiness.checks["migrations"] = _migrations(migrations)
        if readiness.checks["migrations"] == OK:
            readiness.outbox = _outbox(rt)
    except sa.exc.SQLAlchemyError as error:
        # Also when the database goes away between two of these statements: still this check's
        # answer (503 and its warning), not the request's failure.
        log.warning("readiness: database unreachable (%s)", type(error).__name__)
        discard_session(db.session)
        readiness.checks["database"] = "unreachable"
        readiness.checks["migrations"] = "unknown"
        readiness.outbox = None
    readiness.checks["rate_limit_storage"] = _rate_limit_storage(rt)
    return readiness


def _migrations(migrations: Path) -> str:
    """"ok" when the database is at the newest migration; "behind" (run flask db upgrade) or
    "ahead" (this code is older than the schema: another version's migration ran)."""
    try:
        applied = set(db.session.execute(
            sa.text("SELECT version_num FROM alembic_version")).scalars())
    except sa.exc.SQLAlchemyError as error:
        if database_unavailable(error):
            raise
        log.warning("readiness: no migration applied (%s)", type(error).__name__)
        db.session.rollback()
        return "not_migrated"
    newest, known = _migration_revisions(migrations)
    if newest in applied:
        return OK
    state = "ahead" if applied - known else "behind"
    log.warning("readiness: the schema is %s this code's migrations (run flask db upgrade)",
                state)
    return state


def _outbox(rt: Runtime) -> dict[str, int | None]:
    pending, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(MailOutboxRow.created_at))
        .where(MailOutboxRow.status == OUTBOX_PENDING)).one()
    waited = None if oldest is None else max(0, int((rt.now() - oldest).total_seconds()))
    return {"pending": int(pending), "oldest_pending_seconds": waited}


def _rate_limit_storage(rt: Runtime) -> str:
    try:
        answers = rt.limiter.storage.check()
    except Exception as error:  # noqa: BLE001 - whatever the storage's client raises
        log.warning("readiness: rate-limit storage %s failed (%s)", rt.limiter.storage_name,
                    type(error).__name__)
        return "unreachable"
    return OK if answers else "unreachable"
