"""Database plumbing: the declarative base, portable column types and per-dialect engine set-up.

The same models run on SQLite, PostgreSQL and MariaDB. On PostgreSQL the tables live in the
schema named by GOTRUE_DB_NAMESPACE, reached through the connection's search_path.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import random
import sqlite3
import time
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import DeclarativeBase

from .pg_session import NAMESPACE_OPTION, session_listener
from .sqlite_wal import enable_wal

log = logging.getLogger(__name__)

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
        return _as_utc(value)

    def result_processor(self, dialect, coltype):
        # The driver's value goes straight to _as_utc (no driver-level processor applies to
        # these types), without TypeDecorator's wrapper: a user read carries a dozen of them.
        if self.impl_instance.result_processor(dialect, coltype) is None:
            return _as_utc
        return super().result_processor(dialect, coltype)


def _as_utc(value):
    """An aware UTC datetime: naive values are UTC already (SQLite, MariaDB, GoTrue's columns
    without a time zone); PostgreSQL's are in the session's time zone."""
    if value is None or value.tzinfo is timezone.utc:
        return value
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
        if dialect.name == "postgresql" and not _is_ip_address(value):
            return None
        return str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else str(value)


@functools.lru_cache(maxsize=4096)
def _is_ip_address(value) -> bool:
    """Whether inet takes ``value``. Remembered: a client's address comes back on each of its
    writes (sessions, refresh tokens, audit entries), and ipaddress parses in Python."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# jsonb on PostgreSQL, JSON elsewhere.
JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Text that takes part in an index: MariaDB can only index bounded strings.
IndexedText = sa.Text().with_variant(sa.String(255), "mysql")
# The same, compared with letter case on MariaDB too (binary collation), as text is compared
# on PostgreSQL and SQLite: identifiers that other systems issue.
ExactIndexedText = sa.Text().with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- engine set-up ----------------------------------------------------------------------------


# Server connections are replaced after this long (idle timeouts of proxies and servers).
POOL_RECYCLE_SECONDS = 1800
# How long opening a connection to PostgreSQL or MariaDB may take (unless the URL says).
CONNECT_TIMEOUT_SECONDS = 5


def engine_options(url: str, namespace: str, pool_size: int) -> dict:
    """SQLAlchemy engine options for the URL's dialect."""
    backend = sa.engine.make_url(url).get_backend_name()
    # Bound parameters (tokens, password hashes) never appear in error messages or logs.
    if backend == "sqlite":
        return {"connect_args": {"timeout": 5.0}, "hide_parameters": True}
    # pool_pre_ping: a pooled connection the server dropped (a restart, a killed session) is
    # replaced before a request gets it, not discovered by the request's first statement.
    options: dict = {"pool_size": pool_size, "max_overflow": 10,
                     "pool_recycle": POOL_RECYCLE_SECONDS, "pool_pre_ping": True,
                     "hide_parameters": True}
    # A server that does not answer at all fails the connection well within a request's time.
    timeout = ({} if "connect_timeout" in sa.engine.make_url(url).query
               else {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    if backend == "postgresql":
        # The session is SET as each connection opens (pg_session), for the engine's namespace.
        options["connect_args"] = dict(timeout)
        options["execution_options"] = {NAMESPACE_OPTION: namespace}
    elif backend in ("mysql", "mariadb"):
        # READ COMMITTED: a locking refresh must see rows committed while it waited.
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {"init_command": "SET SESSION innodb_lock_wait_timeout=5",
                                   **timeout}
    return options


class _LostConnectionLog(logging.Filter):
    """The pool logs a connection that fails its reset (a ROLLBACK) on the way back as an error
    with a traceback. When the database dropped it meanwhile (database_unavailable), that is
    part of an outage the request's own answer already reported: one warning line instead,
    without the driver's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        reason = database_unavailable(error) if error is not None else None
        if reason:
            record.msg = "a pooled connection was lost before it was returned (%s, %s)"
            record.args = (reason, type(error).__name__)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_lost_connections(pool: sa.pool.Pool) -> None:
    # The pool logs through its class's logger (sqlalchemy.pool.impl.QueuePool, say).
    logger = logging.getLogger(f"{type(pool).__module__}.{type(pool).__name__}")
    if not any(isinstance(found, _LostConnectionLog) for found in logger.filters):
        logger.addFilter(_LostConnectionLog())


# How long a SQLite writer waits for the database's write lock.
SQLITE_LOCK_WAIT = 5.0
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000

# Statements that only read: on SQLite they run outside any transaction (see configure_engine).
_SQLITE_READS = ("SELECT", "PRAGMA", "EXPLAIN", "WITH")


def _drop_connections_of_an_unavailable_database(context) -> None:
    # Such a connection is not pooled again, nor are its elders: a SQLite connection opened
    # while the file was read-only stays read-only for good, and a server that went away
    # dropped all of them. SQLAlchemy detects most server disconnects by itself.
    if not context.is_disconnect and database_unavailable(context.original_exception):
        context.is_disconnect = True


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Transactions are started here, not by pysqlite.
    dbapi_connection.isolation_level = None
    enable_wal(dbapi_connection, SQLITE_LOCK_WAIT)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoints copy each changed page once per run; spaced out (a WAL of up to ~40 MB),
    # the pages every write touches (index roots, the newest rows) are copied far less
    # often. The refresh grant under load: about 5 % less CPU than at SQLite's 1000.
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
    cursor.close()


def _sqlite_begin_on_first_write(connection, cursor, statement, parameters, context,
                                 executemany) -> None:
    if cursor.connection.in_transaction:
        return
    # A refresh-token rotation asks for the write lock before its first (locking) read:
    # SQLite's equivalent of SELECT ... FOR UPDATE.
    if (statement.lstrip()[:7].upper().startswith(_SQLITE_READS)
            and not connection.get_execution_options().get("write_lock")):
        return
    acquire_sqlite_write_lock(cursor)


def configure_engine(engine: sa.engine.Engine) -> None:
    """Per-connection settings that cannot go through connect_args. Calling it again on the
    same engine changes nothing (the test suite shares one engine among many apps).

    On every database, a connection that met an unavailable database (database_unavailable) is
    not pooled again, and one lost on its way back to the pool is logged as a warning.

    SQLite gets read-committed semantics like the other databases: statements that only read
    run in autocommit, holding no snapshot, and a transaction starts with BEGIN IMMEDIATE at its
    first write. A transaction therefore never has to upgrade a stale read snapshot to a write
    lock (which SQLite refuses at once, without waiting), and slow work between a read and a
    write (password hashing) cannot make a request fail with "database is locked".
    """
    _quiet_lost_connections(engine.pool)
    listeners = [("handle_error", _drop_connections_of_an_unavailable_database)]
    if engine.dialect.name == "sqlite":
        listeners += [("connect", _sqlite_connect),
                      ("before_cursor_execute", _sqlite_begin_on_first_write)]
    elif engine.dialect.name == "postgresql":  # search_path, lock_timeout, TimeZone (pg_session)
        namespace = engine.get_execution_options().get(NAMESPACE_OPTION, "auth")
        listeners.append(("connect", session_listener(namespace)))
    for name, listener in listeners:
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)


def acquire_sqlite_write_lock(cursor, deadline: float | None = None) -> None:
    """BEGIN IMMEDIATE, waiting for the lock in short steps.

    SQLite's own busy handler backs off to sleeps of tens of milliseconds, far longer than a
    typical write transaction here holds the lock (a refresh: a few tenths of a millisecond);
    polling every 50-250 microseconds hands the lock from one process to the next with little
    idle time between (at 0.3-1.5 ms, two workers refreshing managed a fifth fewer grants).
    Gives up with SQLite's "database is locked" after SQLITE_LOCK_WAIT, or at ``deadline`` (a
    time.monotonic() value) when given.
    """
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        if deadline is None:
            deadline = time.monotonic() + SQLITE_LOCK_WAIT
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(random.uniform(0.00005, 0.00025))
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


# A database that cannot serve at the moment, per driver, with the reason it is named by. The
# request may succeed once the database is back: worth a 503 with Retry-After, not a 500.
UNREACHABLE, READ_ONLY, FULL, CANNOT_OPEN, IO_ERROR = (
    "unreachable", "read_only", "full", "cannot_open", "io_error")
_PG_UNAVAILABLE_STATES = {
    "57P01": UNREACHABLE,  # admin_shutdown: the server is stopping, or the backend was killed
    "57P02": UNREACHABLE,  # crash_shutdown
    "57P03": UNREACHABLE,  # cannot_connect_now: starting up or shutting down
    "53300": UNREACHABLE,  # too_many_connections
    "25006": READ_ONLY,  # read_only_sql_transaction: a hot standby, or default read-only
    "53100": FULL,  # disk_full
    "58030": IO_ERROR,  # io_error
}
_MYSQL_UNAVAILABLE_ERRORS = {
    2002: UNREACHABLE, 2003: UNREACHABLE,  # cannot connect (socket, TCP)
    2006: UNREACHABLE, 2013: UNREACHABLE, 2055: UNREACHABLE,  # gone away, lost connection
    1040: UNREACHABLE,  # too many connections
    1053: UNREACHABLE,  # server shutdown in progress
    1927: UNREACHABLE,  # connection was killed (MariaDB)
    4031: UNREACHABLE,  # disconnected by the server (inactivity)
    1290: READ_ONLY, 1836: READ_ONLY,  # --read-only server, read-only mode
    1021: FULL, 1114: FULL,  # disk full, table full
}
_SQLITE_UNAVAILABLE_CODES = {14: CANNOT_OPEN, 8: READ_ONLY, 13: FULL, 10: IO_ERROR}
_SQLITE_UNAVAILABLE_MESSAGES = (
    ("unable to open database", CANNOT_OPEN), ("readonly database", READ_ONLY),
    ("database or disk is full", FULL), ("disk i/o error", IO_ERROR))


def database_unavailable(error: BaseException) -> str | None:
    """Why the database cannot serve now, if that is what ``error`` (or an error it was raised
    from) says: UNREACHABLE, READ_ONLY, FULL, CANNOT_OPEN or IO_ERROR; None for any other error.

    Covers a PostgreSQL or MariaDB server that refuses connections, dropped or killed the
    connection, is shutting down or starting, has no connection slot left, is read-only or out
    of disk; and a SQLite file that cannot be opened, is read-only, or whose disk is full or
    failing. Lock waits (is_lock_contention), constraint violations and faulty SQL are not.
    """
    seen = 0
    while error is not None and seen < 5:
        reason = _unavailable_reason(error)
        if reason:
            return reason
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def _unavailable_reason(error: BaseException) -> str | None:
    if isinstance(error, sa.exc.DBAPIError):
        # The driver's error names the reason; failing that, SQLAlchemy saw the connection die.
        return _driver_reason(error.orig) or (UNREACHABLE if error.connection_invalidated
                                              else None)
    return _driver_reason(error)


def _driver_reason(error: BaseException) -> str | None:
    module = type(error).__module__
    if module.startswith(("pymysql", "MySQLdb")):
        if type(error).__name__ == "InterfaceError":  # used a connection already closed
            return UNREACHABLE
        code = error.args[0] if error.args else None
        return _MYSQL_UNAVAILABLE_ERRORS.get(code) if isinstance(code, int) else None
    if module.startswith("psycopg"):
        import psycopg

        state = getattr(error, "sqlstate", None)
        if state is None:
            # Refused, timed out, closed or lost: libpq's own errors carry no SQLSTATE.
            return UNREACHABLE if isinstance(error, psycopg.OperationalError) else None
        if state.startswith("08"):  # connection_exception
            return UNREACHABLE
        return _PG_UNAVAILABLE_STATES.get(state)
    if module.startswith("sqlite3"):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return _SQLITE_UNAVAILABLE_CODES.get(code & 0xFF)
        message = str(error).lower()
        return next((reason for text, reason in _SQLITE_UNAVAILABLE_MESSAGES
                     if text in message), None)
    return None


def begin_write_locked(session) -> None:
    """Start the session's transaction so that later SELECT ... FOR UPDATE rows stay consistent.

    On SQLite this takes the database write lock with the first statement; elsewhere row locks
    do the job. Must be called before the session has issued any statement in this transaction.
    """
    session.connection(execution_options={"write_lock": True})


def release_session(session) -> None:
    """End a request's (scoped) session: its teardown. The connection may have been lost after
    the request's last statement (the database restarted meanwhile), and the rollback then
    fails; that must not turn the answer already made into a 500. The session and its
    connection are discarded (SQLAlchemy invalidates a lost connection) and one warning line
    says so, without a traceback."""
    try:
        session.remove()
    except sa.exc.SQLAlchemyError as error:
        log.warning("a request's database connection was lost before it was released (%s, %s)",
                    database_unavailable(error) or "error", type(error).__name__)
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            session.close()
        session.registry.clear()


def discard_session(session) -> None:
    """Roll ``session`` back; if its connection is broken (the database went away), close it
    instead: SQLAlchemy then invalidates the connection rather than pooling it again."""
    try:
        session.rollback()
    except sa.exc.SQLAlchemyError:
        session.close()
