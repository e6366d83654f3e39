"""The refresh grant's writes when the presented token is live: revoke it if it still is, insert
its child, note the refresh on the session and write the audit entry, in one transaction that
takes no lock before it writes.

The revoke is conditional (``WHERE revoked = false``): of two requests presenting the same token,
one revokes it and the other matches no row, writes nothing and goes the locked way
(refresh._rotate), which hands it the same child. PostgreSQL does it all in one statement
(data-modifying CTEs, each step reading the revoke's result) in autocommit: one round trip.

A signed token's session (algorithm 2) has no token rows: its counter moves on if it still is
the token's (``WHERE refresh_token_counter = ...``), with the audit entry, the same way.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...db import READ_ONLY, database_unavailable, is_lock_contention
from ...driver_sql import DriverStatement, write_cursor
from ...extensions import db
from ...models import AuditLogEntry, RefreshToken, Session

_TOKENS, _SESSIONS, _AUDIT = RefreshToken.__table__, Session.__table__, AuditLogEntry.__table__

# The child's columns and the audit entry's, each a bound parameter of the column's own type.
_CHILD_COLUMNS = ("instance_id", "token", "user_id", "revoked", "created_at", "updated_at",
                  "parent", "derivation_salt", "session_id")
_AUDIT_COLUMNS = ("instance_id", "id", "payload", "created_at", "ip_address")


def _binds(table: sa.Table, columns: tuple[str, ...], prefix: str) -> list:
    return [sa.bindparam(prefix + name, type_=table.c[name].type) for name in columns]


_LIVE_TOKEN = sa.and_(_TOKENS.c.id == sa.bindparam("token_id"), _TOKENS.c.revoked.is_(False))
_REVOKE_VALUES = {"revoked": True,
                  "updated_at": sa.bindparam("now", type_=_TOKENS.c.updated_at.type)}
_SESSION_VALUES = {
    "refreshed_at": sa.bindparam("refreshed_at", type_=_SESSIONS.c.refreshed_at.type),
    "updated_at": sa.bindparam("session_updated_at", type_=_SESSIONS.c.updated_at.type),
    # A request without them keeps the session's user agent and address.
    "user_agent": sa.func.coalesce(sa.bindparam("user_agent", type_=sa.Text()),
                                   _SESSIONS.c.user_agent),
    "ip": sa.func.coalesce(sa.bindparam("ip", type_=_SESSIONS.c.ip.type), _SESSIONS.c.ip),
}
_THE_SESSION = _SESSIONS.c.id == sa.bindparam("session_id", type_=_SESSIONS.c.id.type)

# SQLite and MariaDB: four statements in one transaction.
_REVOKE = DriverStatement(sa.update(_TOKENS).where(_LIVE_TOKEN).values(_REVOKE_VALUES))
_INSERT_CHILD = DriverStatement(sa.insert(_TOKENS).values(
    dict(zip(_CHILD_COLUMNS, _binds(_TOKENS, _CHILD_COLUMNS, "child_")))))
_NOTE_REFRESH = DriverStatement(sa.update(_SESSIONS).where(_THE_SESSION).values(_SESSION_VALUES))
_INSERT_AUDIT = DriverStatement(sa.insert(_AUDIT).values(
    dict(zip(_AUDIT_COLUMNS, _binds(_AUDIT, _AUDIT_COLUMNS, "audit_")))))


def _audited_after(source) -> sa.CTE:
    """The audit entry's INSERT ... SELECT: one row if ``source`` wrote one, else none."""
    return sa.insert(_AUDIT).from_select(
        list(_AUDIT_COLUMNS),
        sa.select(*_binds(_AUDIT, _AUDIT_COLUMNS, "audit_")).select_from(source),
    ).cte("audited")


def _postgres_statement() -> sa.Select:
    revoked = (sa.update(_TOKENS).where(_LIVE_TOKEN).values(_REVOKE_VALUES)
               .returning(_TOKENS.c.id).cte("revoked"))
    child = sa.insert(_TOKENS).from_select(
        list(_CHILD_COLUMNS),
        sa.select(*_binds(_TOKENS, _CHILD_COLUMNS, "child_")).select_from(revoked),
    ).cte("child")
    noted = (sa.update(_SESSIONS).where(_THE_SESSION, sa.exists(sa.select(revoked.c.id)))
             .values(_SESSION_VALUES).cte("noted"))
    return (sa.select(sa.func.count()).select_from(revoked)
            .add_cte(child, noted, _audited_after(revoked)))


_ROTATE_POSTGRES = DriverStatement(_postgres_statement())

_COUNTER = _SESSIONS.c.refresh_token_counter
_STILL_CURRENT = sa.and_(_THE_SESSION, _COUNTER == sa.bindparam("counter", type_=_COUNTER.type))
_ADVANCE_VALUES = {**_SESSION_VALUES,
                   "refresh_token_counter": sa.bindparam("next_counter", type_=_COUNTER.type)}
_ADVANCE = DriverStatement(sa.update(_SESSIONS).where(_STILL_CURRENT).values(_ADVANCE_VALUES))


def _postgres_advance() -> sa.Select:
    advanced = (sa.update(_SESSIONS).where(_STILL_CURRENT).values(_ADVANCE_VALUES)
                .returning(_SESSIONS.c.id).cte("advanced"))
    return sa.select(sa.func.count()).select_from(advanced).add_cte(_audited_after(advanced))


_ADVANCE_POSTGRES = DriverStatement(_postgres_advance())


def attempt(commit, **values) -> bool:
    """``commit(**values)``, or False (nothing written) where the write met another request's
    lock: the locked way decides then. A SQLite connection opened while the file was read-only
    refuses writes for good (it is closed now); the locked way tries again on the pool's."""
    try:
        return commit(**values)
    except sa.exc.DBAPIError as error:
        if not (is_lock_contention(error) or database_unavailable(error) == READ_ONLY):
            raise
        return False


def _session_params(session_id, now, user_agent: str | None, ip: str | None,
                    audit: dict) -> dict:
    params = {"session_id": session_id, "refreshed_at": now, "session_updated_at": now,
              "user_agent": user_agent or None, "ip": ip or None}
    params.update({"audit_" + name: value for name, value in audit.items()})
    return params


def commit_signed_rotation(*, session_id, counter: int, now, user_agent: str | None,
                           ip: str | None, audit: dict) -> bool:
    """Commit a signed session's refresh from ``counter`` to the next: False, and nothing
    written, if another request moved the counter first."""
    params = _session_params(session_id, now, user_agent, ip, audit)
    params.update(counter=counter, next_counter=counter + 1)
    return _write(params, _ADVANCE_POSTGRES, _ADVANCE, _INSERT_AUDIT)


def commit_rotation(*, token_id: int, now, child: dict, session_id, user_agent: str | None,
                    ip: str | None, audit: dict) -> bool:
    """Commit the rotation of the live token ``token_id``: False, and nothing written, if
    another request revoked it first (or held a lock on it). ``child`` and ``audit`` are the
    new rows' values."""
    params = _session_params(session_id, now, user_agent, ip, audit)
    params.update(token_id=token_id, now=now)
    params.update({"child_" + name: value for name, value in child.items()})
    return _write(params, _ROTATE_POSTGRES, _REVOKE, _INSERT_CHILD, _NOTE_REFRESH, _INSERT_AUDIT)


def _write(params: dict, postgres: DriverStatement, conditional: DriverStatement,
           *rest: DriverStatement) -> bool:
    """PostgreSQL: the one statement, which counts what ``conditional`` matched. Elsewhere
    ``conditional`` and, if it matched its row, ``rest``, in one transaction."""
    if db.engine.dialect.name == "postgresql":
        with write_cursor(single_statement=True) as cursor:
            return postgres.rows(cursor, params)[0][0] == 1
    with write_cursor() as cursor:
        if conditional.run(cursor, params) != 1:
            return False
        for statement in rest:
            statement.run(cursor, params)
    return True
