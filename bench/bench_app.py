"""Bench helpers that touch the project: the seeded users' password and the round-trip counter.

The project's gunicorn serves ``wsgi:app`` exactly as it ships; the baselines (a bare Flask JSON
route, a bare bcrypt check and hash) live in bench/floor_app.py, served by a gunicorn of their
own, so no project code or middleware is part of the floor. Not part of the product.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from floor_app import BCRYPT_COST, PASSWORD

from gotrue_web import driver_sql

__all__ = ["BCRYPT_COST", "PASSWORD", "RoundTrips"]


class RoundTrips:
    """Counts the database round trips an engine makes, with the statements' text.

    A round trip is a statement, or a BEGIN / COMMIT / ROLLBACK the driver really sends: psycopg
    sends BEGIN before a transaction's first statement (on SQLite the app's BEGIN is a statement
    already; PyMySQL sends none), and sqlite3 and psycopg skip COMMIT / ROLLBACK outside a
    transaction (PyMySQL always sends them).
    """

    def __init__(self, engine: sa.engine.Engine):
        self.log: list[str] = []
        # The probe's requests run on this thread; the mail outbox's dispatcher thread polls
        # the same engine and is not part of any request.
        self.thread = threading.get_ident()
        self.postgresql = engine.dialect.name == "postgresql"
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "begin", self._begin)
        sa.event.listen(engine, "commit", lambda conn: self._end(conn, "COMMIT"))
        sa.event.listen(engine, "rollback", lambda conn: self._end(conn, "ROLLBACK"))
        sa.event.listen(engine.pool, "reset", self._pool_reset)
        # The hot paths' prebuilt statements run on the driver's cursor and tell these
        # listeners instead of SQLAlchemy's events (their BEGIN / COMMIT included).
        driver_sql.statement_listeners.append(self._driver_statement)

    def _driver_statement(self, statement: str) -> None:
        if threading.get_ident() != self.thread:
            return
        self.log.append(" ".join(statement.split()))

    def _statement(self, _conn, _cursor, statement, _params, _context, _many):
        if threading.get_ident() != self.thread:
            return
        self.log.append(" ".join(statement.split()))

    def _begin(self, conn):
        if threading.get_ident() != self.thread:
            return
        if self.postgresql and not conn.connection.dbapi_connection.autocommit:
            self.log.append("BEGIN (sent by psycopg)")

    def _end(self, conn, what: str):
        # An invalidated connection (the live settings' read drops its SQLite connection on
        # purpose) sends nothing, and asking it for its driver connection would raise.
        if threading.get_ident() != self.thread or conn.invalidated:
            return
        if _in_transaction(conn.connection.dbapi_connection):
            self.log.append(what)

    def _pool_reset(self, dbapi_connection, _record, reset_state):
        if threading.get_ident() != self.thread:
            return
        # The pool rolls back a returned connection unless the Connection already did.
        if not reset_state.transaction_was_reset and _in_transaction(dbapi_connection):
            self.log.append("ROLLBACK (pool reset)")

    def take(self) -> list[str]:
        taken, self.log = self.log, []
        return taken


def _in_transaction(dbapi_connection) -> bool:
    """Whether the driver would send COMMIT / ROLLBACK now."""
    if isinstance(getattr(dbapi_connection, "in_transaction", None), bool):  # sqlite3
        return dbapi_connection.in_transaction
    status = getattr(getattr(dbapi_connection, "info", None), "transaction_status", None)
    if status is not None:  # psycopg: 0 is IDLE
        return status != 0
    return True  # PyMySQL
