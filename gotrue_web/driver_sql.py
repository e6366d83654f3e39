"""Prebuilt statements run straight on the driver's cursor, for the hot paths.

SQLAlchemy builds and compiles each statement once per dialect; the request then skips the
Connection, execution context and Result machinery (about 80 us of the ~100 us a one-row read
costs through Core on SQLite) and converts values with the same bind and result processors
SQLAlchemy would use, so a row reads back exactly as through the ORM.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from .db import (
    POOL_RECYCLE_SECONDS,
    SQLITE_LOCK_WAIT,
    UNREACHABLE,
    acquire_sqlite_write_lock,
    database_unavailable,
)
from .extensions import db
from .libpq_cursor import LibpqCursor

# A thread's own connection is replaced as often as the pool recycles its connections.
THREAD_CONNECTION_RECYCLE_SECONDS = POOL_RECYCLE_SECONDS

# Callables given each statement's SQL (and "BEGIN", "COMMIT", "ROLLBACK" where the driver
# sends them) before it runs: how tests and the benchmark count what these paths send, since
# SQLAlchemy's cursor events do not see them.
statement_listeners: list = []


def _tell(sql: str) -> None:
    for listener in statement_listeners:
        listener(sql)


# With tracing on (observability.tracing, set by the app factory): ``statement_span(engine,
# sql)`` gives the context manager that makes each statement run here a span. None, the
# default, leaves the hot paths as they are.
statement_span = None


_REQUIRED = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Positional drivers (sqlite3, PyMySQL): each placeholder's parameter name, in order.
    positions: tuple[str, ...] | None
    # Each parameter: its name, SQLAlchemy's bind processor (or None) and the value the
    # statement carries itself (a literal SQLAlchemy made a parameter of), else _REQUIRED.
    binds: tuple[tuple[str, Callable | None, object], ...]
    # (column index, SQLAlchemy's result processor) for the columns that have one.
    result_processors: tuple[tuple[int, Callable], ...]


class DriverStatement:
    """One statement, compiled per dialect on first use, run on a DBAPI cursor."""

    def __init__(self, statement: sa.sql.Executable):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: sa.engine.Dialect, numbered: bool = False) -> _Compiled:
        """``numbered``: PostgreSQL's own placeholders ($1), for a LibpqCursor."""
        key = (dialect.name, numbered)
        found = self._compiled.get(key)
        if found is None:
            # Only the SQL's placeholders differ; values convert as the engine's dialect says.
            compiled = self.statement.compile(
                dialect=_numbered_dialect(dialect) if numbered else dialect)
            columns = (self.statement.selected_columns
                       if isinstance(self.statement, sa.Select) else ())
            found = _Compiled(
                sql=compiled.string,
                positions=tuple(compiled.positiontup) if compiled.positional else None,
                binds=tuple(
                    (compiled.bind_names[bind],
                     bind.type.dialect_impl(dialect).bind_processor(dialect),
                     _REQUIRED if bind.required else bind.value)
                    for bind in compiled.binds.values()),
                result_processors=tuple(
                    (index, process) for index, process in enumerate(
                        column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in columns) if process),
            )
            self._compiled[key] = found
        return found

    def _execute(self, cursor, params: Mapping, engine: sa.engine.Engine | None = None
                 ) -> _Compiled:
        engine = engine or db.engine
        compiled = self._for(engine.dialect, isinstance(cursor, LibpqCursor))
        _tell(compiled.sql)
        values = {}
        for name, process, default in compiled.binds:
            value = params.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"no value for the parameter {name!r}")
            values[name] = process(value) if process else value
        arguments = (tuple(values[name] for name in compiled.positions)
                     if compiled.positions is not None else values)
        if statement_span is None:
            cursor.execute(compiled.sql, arguments)
        else:
            with statement_span(engine, compiled.sql):
                cursor.execute(compiled.sql, arguments)
        return compiled

    def rows(self, cursor, params: Mapping, engine: sa.engine.Engine | None = None
             ) -> list[list]:
        """The rows of a SELECT, each value converted as SQLAlchemy converts it."""
        processors = self._execute(cursor, params, engine).result_processors
        rows = [row if type(row) is list else list(row) for row in cursor.fetchall()]
        for values in rows:
            for index, process in processors:
                # NULL stays None under every processor; most of a joined row is NULL.
                if values[index] is not None:
                    values[index] = process(values[index])
        return rows

    def run(self, cursor, params: Mapping) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it matched."""
        self._execute(cursor, params)
        return cursor.rowcount


_numbered_dialects: dict[type, sa.engine.Dialect] = {}


def _numbered_dialect(dialect: sa.engine.Dialect) -> sa.engine.Dialect:
    """The dialect's class with PostgreSQL's numbered placeholders, for compiling only."""
    numbered = _numbered_dialects.get(type(dialect))
    if numbered is None:
        numbered = _numbered_dialects[type(dialect)] = type(dialect)(paramstyle="numeric_dollar")
    return numbered


def _wrapped(error: Exception, dbapi) -> sa.exc.DBAPIError:
    """Driver errors leave as SQLAlchemy's DBAPIError, as they would through a Connection, so
    that callers and error handlers (db.is_lock_contention, say) see one kind of error."""
    return sa.exc.DBAPIError.instance("", None, error, dbapi.Error, hide_parameters=True)


class _OwnConnection:
    """A thread's own connection in autocommit, outside the pool: reads (and single statements
    on PostgreSQL) need no transaction, so they skip the pool's checkout, the switch to
    autocommit and back, and the reset on return (on MariaDB a ROLLBACK round trip). A worker
    thread lives as long as its process: one more connection per thread. Closed when the
    thread ends (its thread-local goes, and this with it)."""

    __slots__ = ("__weakref__", "connection", "cursor", "detached", "engine", "opened_at")

    def __init__(self, engine: sa.engine.Engine):
        connection = engine.raw_connection()  # runs the engine's connect events (SQLite pragmas)
        driver = connection.driver_connection
        self.detached = not isinstance(engine.pool, _SHARED_CONNECTION_POOLS)
        if self.detached:
            connection.detach()  # the pool forgets it: close() closes the DBAPI connection
        if engine.dialect.name == "postgresql":
            driver.autocommit = True
        elif engine.dialect.name == "mysql":
            driver.autocommit(True)
        # SQLite: db.configure_engine already runs statements outside transactions until a write.
        self.engine, self.connection = engine, connection
        # PostgreSQL: libpq's prepared-statement calls, without psycopg's cursor (libpq_cursor).
        self.cursor = (LibpqCursor(driver) if engine.dialect.name == "postgresql"
                       else connection.cursor())
        self.opened_at = time.monotonic()
        _open_connections.add(self)

    def usable_for(self, engine: sa.engine.Engine) -> bool:
        return (self.engine is engine and self.connection is not None
                and time.monotonic() - self.opened_at < THREAD_CONNECTION_RECYCLE_SECONDS)

    def close(self) -> None:
        # getattr: __del__ also runs for an instance whose __init__ failed half-way.
        connection = getattr(self, "connection", None)
        self.connection = self.cursor = self.engine = None
        if connection is None:
            return
        if not self.detached:
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                connection.close()  # back to the shared pool
            return
        # Closed without the pool's reset: a ROLLBACK is pointless in autocommit, and on a
        # connection the server dropped it fails and the pool logs that with a traceback. The
        # driver's connection first and on its own: whatever the pool's bookkeeping below
        # raises (a warning made an error, a broken record), the server connection is closed.
        driver = connection.dbapi_connection
        if driver is not None:
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                driver.close()
        with contextlib.suppress(Exception):
            connection.invalidate()  # the fairy forgets it; no I/O once the driver is closed

    def __del__(self):
        self.close()


# An in-memory SQLite database lives in its one pooled connection: use that one, not another.
_SHARED_CONNECTION_POOLS = (sa.pool.StaticPool, sa.pool.SingletonThreadPool)
_thread = threading.local()
# Those still open at exit are closed while the drivers and logging still work (a thread-local
# of the main thread would otherwise go only at interpreter teardown).
_open_connections: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_connections() -> None:
    for own in list(_open_connections):
        own.close()


@contextlib.contextmanager
def autocommit_cursor() -> Iterator:
    """A cursor of this thread's autocommit connection (_OwnConnection): every statement
    commits by itself. A driver error closes the connection; the next call opens another."""
    engine = db.engine
    dbapi = engine.dialect.loaded_dbapi
    own = getattr(_thread, "own", None)
    try:
        if own is None or not own.usable_for(engine):
            if own is not None:
                own.close()
            own = _thread.own = _OwnConnection(engine)
        yield own.cursor
    except dbapi.Error as error:
        if own is not None:
            own.close()
        raise _wrapped(error, dbapi) from error


def read_cursor():
    """A cursor for reads outside any transaction (autocommit_cursor)."""
    return autocommit_cursor()


def read_rows(statement: DriverStatement, params: Mapping) -> list[list]:
    """The rows of one read outside any transaction. When this thread's connection was opened
    earlier and the server has dropped it since (a database restart while it sat idle), the
    read runs once more on a new one: a read can be repeated, and the first request after a
    restart need not fail for a connection nobody was using."""
    engine = db.engine
    own = getattr(_thread, "own", None)
    if own is not None and own.usable_for(engine):
        # The usual case, without autocommit_cursor's context manager (a hot path).
        dbapi = engine.dialect.loaded_dbapi
        try:
            return statement.rows(own.cursor, params, engine)
        except dbapi.Error as error:
            own.close()
            wrapped = _wrapped(error, dbapi)
            if database_unavailable(wrapped) != UNREACHABLE:
                raise wrapped from error
    with read_cursor() as cursor:
        return statement.rows(cursor, params, engine)


@contextlib.contextmanager
def write_cursor(*, single_statement: bool = False) -> Iterator:
    """A cursor in a transaction of its own on a pooled connection, committed when the block
    ends and rolled back if it raises. SQLite takes the write lock first (BEGIN IMMEDIATE).

    ``single_statement``: the block runs one statement, atomic by itself; PostgreSQL then runs
    it on the autocommit connection, sparing the BEGIN and COMMIT round trips.
    """
    engine = db.engine
    dialect = engine.dialect.name
    if single_statement and dialect == "postgresql":
        with autocommit_cursor() as cursor:
            yield cursor
        return
    if dialect == "sqlite":
        yield from _sqlite_write_cursor(engine)
        return
    yield from _write_cursor(engine, dialect)


def _sqlite_write_cursor(engine: sa.engine.Engine) -> Iterator:
    # One writer per process at a time: the others wait on a lock that wakes them the moment
    # it is free, instead of each polling SQLite's (CPU spent for nothing). The transaction
    # runs on this thread's own connection, whose page cache already holds what the request
    # read, with no pool checkout or reset. A driver error closes that connection
    # (autocommit_cursor): one opened while the file was read-only stays read-only.
    deadline = time.monotonic() + SQLITE_LOCK_WAIT  # both waits together, as one writer's
    writers = _sqlite_writer_lock(engine)
    if not writers.acquire(timeout=SQLITE_LOCK_WAIT):
        dbapi = engine.dialect.loaded_dbapi
        raise _wrapped(dbapi.OperationalError("database is locked"), dbapi)
    try:
        with autocommit_cursor() as cursor:
            _tell("BEGIN IMMEDIATE")
            acquire_sqlite_write_lock(cursor, deadline)
            try:
                yield cursor
            except BaseException:
                if cursor.connection.in_transaction:  # SQLite ends it itself after some errors
                    _tell("ROLLBACK")
                    cursor.execute("ROLLBACK")
                raise
            _tell("COMMIT")
            cursor.execute("COMMIT")
    finally:
        writers.release()


_sqlite_writer_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_sqlite_writer_locks_guard = threading.Lock()


def _sqlite_writer_lock(engine: sa.engine.Engine) -> threading.Lock:
    lock = _sqlite_writer_locks.get(engine)
    if lock is None:
        with _sqlite_writer_locks_guard:
            lock = _sqlite_writer_locks.setdefault(engine, threading.Lock())
    return lock


def _write_cursor(engine: sa.engine.Engine, dialect: str) -> Iterator:
    dbapi = engine.dialect.loaded_dbapi
    try:
        connection = engine.raw_connection()
    except dbapi.Error as error:
        raise _wrapped(error, dbapi) from error
    try:
        cursor = connection.cursor()
        try:
            if dialect == "sqlite":
                _tell("BEGIN IMMEDIATE")
                acquire_sqlite_write_lock(cursor)
            elif dialect == "postgresql":
                _tell("BEGIN (sent by psycopg)")
            yield cursor
            _tell("COMMIT")
            connection.commit()
        except BaseException as error:
            _tell("ROLLBACK")
            try:
                connection.rollback()
            except dbapi.Error:  # broken: the pool must not hand it out again
                connection.invalidate()
            else:
                if isinstance(error, dbapi.Error) and database_unavailable(error):
                    # A SQLite connection opened while the file was read-only stays so.
                    connection.invalidate()
            if isinstance(error, dbapi.Error):
                raise _wrapped(error, dbapi) from error
            raise
        finally:
            with contextlib.suppress(dbapi.Error):  # its connection may be invalidated: closed
                cursor.close()
    finally:
        connection.close()
