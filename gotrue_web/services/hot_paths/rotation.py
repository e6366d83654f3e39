"""The refresh grant's writes when the presented token is live: revoke it if it still is, insert
its child, note the refresh on the session and write the audit entry, in one transaction that
takes no lock before it writes.

The revoke is conditional (``WHERE revoked = false``): of two requests presenting the same token,
one revokes it and the other matches no row, writes nothing and goes the locked way
(refresh._rotate), which hands it the same child. PostgreSQL does it all in one statement
(data-modifying CTEs, each step reading the revoke's result) in autocommit: one round trip.
"""

from __future__ import annotations

import sqlalchemy as sa

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


def _postgres_statement() -> sa.Select:
    revoked = (sa.update(_TOKENS).where(_LIVE_TOKEN).values(_REVOKE_VALUES)
               .returning(_TOKENS.c.id).cte("revoked"))
    child = sa.insert(_TOKENS).from_select(
        list(_CHILD_COLUMNS),
        sa.select(*_binds(_TOKENS, _CHILD_COLUMNS, "child_")).select_from(revoked),
    ).cte("child")
    noted = (sa.update(_SESSIONS).where(_THE_SESSION, sa.exists(sa.select(revoked.c.id)))
             .values(_SESSION_VALUES).cte("noted"))
    audited = sa.insert(_AUDIT).from_select(
        list(_AUDIT_COLUMNS),
        sa.select(*_binds(_AUDIT, _AUDIT_COLUMNS, "audit_")).select_from(revoked),
    ).cte("audited")
    return sa.select(sa.func.count()).select_from(revoked).add_cte(child, noted, audited)


_ROTATE_POSTGRES = DriverStatement(_postgres_statement())


def commit_rotation(*, token_id: int, now, child: dict, session_id, user_agent: str | None,
                    ip: str | None, audit: dict) -> bool:
    """Commit the rotation of the live token ``token_id``: False, and nothing written, if
    another request revoked it first. ``child`` and ``audit`` are the new rows' values."""
    params = {"token_id": token_id, "now": now, "session_id": session_id,
              "refreshed_at": now, "session_updated_at": now,
              "user_agent": user_agent or None, "ip": ip or None}
    params.update({"child_" + name: value for name, value in child.items()})
    params.update({"audit_" + name: value for name, value in audit.items()})
    if db.engine.dialect.name == "postgresql":
        with write_cursor(single_statement=True) as cursor:
            return _ROTATE_POSTGRES.rows(cursor, params)[0][0] == 1
    with write_cursor() as cursor:
        if _REVOKE.run(cursor, params) != 1:
            return False
        _INSERT_CHILD.run(cursor, params)
        _NOTE_REFRESH.run(cursor, params)
        _INSERT_AUDIT.run(cursor, params)
    return True
