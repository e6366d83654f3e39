"""The password grant's writes: note the sign-in on the user, insert the session with its amr
claim and first refresh token, and the login audit entry.

PostgreSQL does it in one statement (data-modifying CTEs, the inserts reading the user update's
result) in autocommit: one round trip and no BEGIN or COMMIT. SQLite and MariaDB run five
statements in one transaction. A session with signed refresh tokens (algorithm 2) has no token
row: the same statements without it. Either way nothing is written when the user is gone (deleted
since the read): the caller then answers as for an unknown user.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...driver_sql import DriverStatement, write_cursor
from ...extensions import db
from ...models import AMRClaim, AuditLogEntry, RefreshToken, Session, User
from ..sessions import NOTE_SIGN_IN, SessionRows

_USERS, _SESSIONS, _CLAIMS = User.__table__, Session.__table__, AMRClaim.__table__
_TOKENS, _AUDIT = RefreshToken.__table__, AuditLogEntry.__table__

# Each new row's columns; a password sign-in's session has no not_after, client or scopes.
_ROWS = {
    "session": (_SESSIONS, ("id", "user_id", "created_at", "updated_at", "aal", "user_agent",
                            "ip", "refresh_token_hmac_key", "refresh_token_counter")),
    "claim": (_CLAIMS, ("id", "session_id", "created_at", "updated_at",
                        "authentication_method")),
    "token": (_TOKENS, ("instance_id", "token", "user_id", "revoked", "created_at",
                        "updated_at", "parent", "session_id")),
    "audit": (_AUDIT, ("instance_id", "id", "payload", "created_at", "ip_address")),
}


def _binds(part: str) -> dict[str, sa.BindParameter]:
    """The row's values as bound parameters named ``<part>_<column>``, of the column's type."""
    table, columns = _ROWS[part]
    return {name: sa.bindparam(f"{part}_{name}", type_=table.c[name].type) for name in columns}


# SQLite and MariaDB: one statement per row, in one transaction. The user's row is noted as
# every sign-in notes it (sessions.start_session).
_NOTE_SIGN_IN = DriverStatement(NOTE_SIGN_IN)
_INSERTS = {part: DriverStatement(sa.insert(_ROWS[part][0]).values(_binds(part)))
            for part in ("session", "claim", "token", "audit")}
# Without the token row: a session with signed refresh tokens.
_PARTS = {True: ("session", "claim", "token", "audit"), False: ("session", "claim", "audit")}


def _inserted_after(source, part: str) -> sa.Insert:
    """INSERT ... SELECT of ``part``'s row, one per row of ``source`` (none if it has none)."""
    binds = _binds(part)
    return sa.insert(_ROWS[part][0]).from_select(
        list(binds), sa.select(*binds.values()).select_from(source))


def _postgres_statement(with_token: bool) -> sa.Select:
    noted = NOTE_SIGN_IN.returning(_USERS.c.id).cte("noted")
    session = _inserted_after(noted, "session").returning(_SESSIONS.c.id).cte("session")
    # The claim and token refer to the session inserted beside them: PostgreSQL checks foreign
    # keys at the end of the statement.
    inserts = [session, _inserted_after(session, "claim").cte("claim")]
    if with_token:
        inserts.append(_inserted_after(session, "token").cte("token"))
    inserts.append(_inserted_after(noted, "audit").cte("audited"))
    return sa.select(sa.func.count()).select_from(noted).add_cte(*inserts)


_SIGN_IN_POSTGRES = {with_token: DriverStatement(_postgres_statement(with_token))
                     for with_token in (True, False)}


def _params(user_id, now, rows: SessionRows, audit: dict) -> dict:
    params = {"user_id": user_id, "signed_in_at": now}
    for part, values in (("session", rows.session), ("claim", rows.claim),
                         ("token", rows.token_row or {}), ("audit", audit)):
        params.update({f"{part}_{name}": values.get(name) for name in _ROWS[part][1]})
    return params


def _write(params: dict, with_token: bool, rows_of, run) -> bool:
    """``rows_of(statement, params)`` gives a statement's rows, ``run`` the rows it matched."""
    if db.engine.dialect.name == "postgresql":
        return rows_of(_SIGN_IN_POSTGRES[with_token], params)[0][0] == 1
    if run(_NOTE_SIGN_IN, params) != 1:
        return False
    for part in _PARTS[with_token]:
        run(_INSERTS[part], params)
    return True


def write_sign_in(user_id, now, rows: SessionRows, audit: dict, *,
                  in_request_transaction: bool) -> bool:
    """Write a sign-in's rows; False, and nothing written, when the user no longer exists.

    ``in_request_transaction``: in the request's ORM transaction (committed by the view with
    whatever else the request wrote there), else in a transaction of its own, committed here."""
    params = _params(user_id, now, rows, audit)
    with_token = rows.token_row is not None
    if in_request_transaction:
        connection = db.session.connection()
        return _write(params, with_token, lambda statement, values: connection.execute(
                          statement.statement, values).all(),
                      lambda statement, values: connection.execute(
                          statement.statement, values).rowcount)
    with write_cursor(single_statement=True) as cursor:
        return _write(params, with_token,
                      lambda statement, values: statement.rows(cursor, values),
                      lambda statement, values: statement.run(cursor, values))
