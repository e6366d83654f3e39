"""Bench-only WSGI app: gotrue-web as it ships, plus two baselines served by the same process.

    /__bench/json     a bare Flask JSON endpoint: the floor of Flask + gunicorn per request
    /__bench/bcrypt   one bcrypt cost-10 check behind the same JSON handling: the floor of a login

Every other path goes to the real app untouched. gunicorn loads it as ``bench_app:build()``.
Not part of the product: it lives in bench/ only.
"""

from __future__ import annotations

import bcrypt
import sqlalchemy as sa
from flask import Flask, jsonify, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gotrue_web import create_app

BENCH_PREFIX = "/__bench"
# The password of every seeded user and of the bare bcrypt endpoint.
PASSWORD = "bench-Password-1"
BCRYPT_COST = 10


def bare_app() -> Flask:
    app = Flask("bench_bare")
    # Same hash format and cost as the users' hashes: the work per check is identical.
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_COST, prefix=b"2a"))

    @app.get("/json")
    def bare_json():
        return jsonify(ok=True)

    @app.post("/bcrypt")
    def bare_bcrypt():
        body = request.get_json(force=True, silent=True) or {}
        matches = bcrypt.checkpw(str(body.get("password", "")).encode(), hashed)
        return jsonify(ok=matches), 200 if matches else 400

    return app


def build(settings=None):
    """The dispatcher gunicorn serves; ``settings`` defaults to the environment, as in wsgi.py."""
    return DispatcherMiddleware(create_app(settings), {BENCH_PREFIX: bare_app()})


class RoundTrips:
    """Counts the database round trips an engine makes, with the statements' text.

    A round trip is a statement, or a BEGIN / COMMIT / ROLLBACK the driver really sends: psycopg
    sends BEGIN before a transaction's first statement (on SQLite the app's BEGIN is a statement
    already; PyMySQL sends none), and sqlite3 and psycopg skip COMMIT / ROLLBACK outside a
    transaction (PyMySQL always sends them).
    """

    def __init__(self, engine: sa.engine.Engine):
        self.log: list[str] = []
        self.postgresql = engine.dialect.name == "postgresql"
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "begin", self._begin)
        sa.event.listen(engine, "commit", lambda conn: self._end(conn, "COMMIT"))
        sa.event.listen(engine, "rollback", lambda conn: self._end(conn, "ROLLBACK"))
        sa.event.listen(engine.pool, "reset", self._pool_reset)

    def _statement(self, _conn, _cursor, statement, _params, _context, _many):
        self.log.append(" ".join(statement.split()))

    def _begin(self, conn):
        if self.postgresql and not conn.connection.dbapi_connection.autocommit:
            self.log.append("BEGIN (sent by psycopg)")

    def _end(self, conn, what: str):
        if _in_transaction(conn.connection.dbapi_connection):
            self.log.append(what)

    def _pool_reset(self, dbapi_connection, _record, reset_state):
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
