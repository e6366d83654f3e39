"""Database plumbing: the declarative base, portable column types and per-dialect engine set-up.

The same models run on SQLite, PostgreSQL and MariaDB. On PostgreSQL the tables live in the
schema named by GOTRUE_DB_NAMESPACE, reached through the connection's search_path.
"""

from __future__ import annotations

import ipaddress
import random
import sqlite3
import time
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator):
    """A point in time, always an aware UTC datetime in Python.

    PostgreSQL keeps it as timestamptz; SQLite and MariaDB store naive UTC (MariaDB with
    microseconds).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class NaiveUTCDateTime(UTCDateTime):
    """GoTrue's "timestamp without time zone" columns: stored naive, read back as UTC."""

    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value


class IPAddress(sa.types.TypeDecorator):
    """inet on PostgreSQL, a short string elsewhere; always a str in Python."""

    impl = sa.String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.INET())
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value, dialect):
        if value in (None, ""):
            return None
        if dialect.name == "postgresql":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return None
        return str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else str(value)


# jsonb on PostgreSQL, JSON elsewhere.
JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Text that takes part in an index: MariaDB can only index bounded strings.
IndexedText = sa.Text().with_variant(sa.String(255), "mysql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- engine set-up ----------------------------------------------------------------------------


def engine_options(url: str, namespace: str, pool_size: int) -> dict:
    """SQLAlchemy engine options for the URL's dialect."""
    backend = sa.engine.make_url(url).get_backend_name()
    # Bound parameters (tokens, password hashes) never appear in error messages or logs.
    if backend == "sqlite":
        return {"connect_args": {"timeout": 5.0}, "hide_parameters": True}
    options: dict = {"pool_size": pool_size, "max_overflow": 10, "pool_recycle": 1800,
                     "hide_parameters": True}
    if backend == "postgresql":
        # search_path puts every unqualified name in the namespace; lock_timeout bounds row locks.
        options["connect_args"] = {
            "options": f"-c search_path={namespace} -c lock_timeout=5000",
        }
    elif backend in ("mysql", "mariadb"):
        # READ COMMITTED: a locking refresh must see rows committed while it waited.
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {"init_command": "SET SESSION innodb_lock_wait_timeout=5"}
    return options


# How long a SQLite writer waits for the database's write lock.
SQLITE_LOCK_WAIT = 5.0

# Statements that only read: on SQLite they run outside any transaction (see configure_engine).
_SQLITE_READS = ("SELECT", "PRAGMA", "EXPLAIN", "WITH")


def configure_engine(engine: sa.engine.Engine) -> None:
    """Per-connection settings that cannot go through connect_args.

    SQLite gets read-committed semantics like the other databases: statements that only read
    run in autocommit, holding no snapshot, and a transaction starts with BEGIN IMMEDIATE at its
    first write. A transaction therefore never has to upgrade a stale read snapshot to a write
    lock (which SQLite refuses at once, without waiting), and slow work between a read and a
    write (password hashing) cannot make a request fail with "database is locked".
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record):
        # Transactions are started here, not by pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _sqlite_begin_on_first_write(connection, cursor, statement, parameters, context,
                                     executemany):
        if cursor.connection.in_transaction:
            return
        # A refresh-token rotation asks for the write lock before its first (locking) read:
        # SQLite's equivalent of SELECT ... FOR UPDATE.
        if (statement.lstrip()[:7].upper().startswith(_SQLITE_READS)
                and not connection.get_execution_options().get("write_lock")):
            return
        acquire_sqlite_write_lock(cursor)


def acquire_sqlite_write_lock(cursor) -> None:
    """BEGIN IMMEDIATE, waiting for the lock in short steps.

    SQLite's own busy handler backs off to sleeps of tens of milliseconds, far longer than a
    typical write transaction here holds the lock; polling every millisecond or so keeps
    writers moving. Gives up with SQLite's "database is locked" after SQLITE_LOCK_WAIT.
    """
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + SQLITE_LOCK_WAIT
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(random.uniform(0.0003, 0.0015))
    finally:
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT * 1000)}")


# Lock waits that ran out or were broken up, per driver: worth retrying the transaction.
_PG_LOCK_STATES = {"55P03", "40P01", "40001"}  # lock_not_available, deadlock, serialization
_MYSQL_LOCK_ERRORS = {1205, 1213}  # lock wait timeout, deadlock
_SQLITE_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (extended codes keep them in the low byte)


def is_lock_contention(error: BaseException) -> bool:
    """True if ``error`` says another transaction held the rows or the database too long.

    Covers PostgreSQL lock_timeout and deadlocks, MariaDB lock wait timeouts and deadlocks, and
    SQLite's "database is locked" (busy_timeout expired).
    """
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    original = error.orig
    module = type(original).__module__
    if module.startswith(("pymysql", "MySQLdb")):
        return bool(original.args) and original.args[0] in _MYSQL_LOCK_ERRORS
    if module.startswith("psycopg"):
        return getattr(original, "sqlstate", None) in _PG_LOCK_STATES
    if module.startswith("sqlite3"):
        code = getattr(original, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_BUSY_CODES
        message = str(original).lower()
        return "database is locked" in message or "database table is locked" in message
    return False


def begin_write_locked(session) -> None:
    """Start the session's transaction so that later SELECT ... FOR UPDATE rows stay consistent.

    On SQLite this takes the database write lock with the first statement; elsewhere row locks
    do the job. Must be called before the session has issued any statement in this transaction.
    """
    session.connection(execution_options={"write_lock": True})

