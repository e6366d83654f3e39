"""Prebuilt statements run straight on the driver's cursor, for the hot paths.

SQLAlchemy builds and compiles each statement once per dialect; the request then skips the
Connection, execution context and Result machinery (about 80 us of the ~100 us a one-row read
costs through Core on SQLite) and converts values with the same bind and result processors
SQLAlchemy would use, so a row reads back exactly as through the ORM.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from .db import acquire_sqlite_write_lock
from .extensions import db

# Callables given each statement's SQL (and "BEGIN", "COMMIT", "ROLLBACK" where the driver
# sends them) before it runs: how tests and the benchmark count what these paths send, since
# SQLAlchemy's cursor events do not see them.
statement_listeners: list = []


def _tell(sql: str) -> None:
    for listener in statement_listeners:
        listener(sql)


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

    def _for(self, dialect: sa.engine.Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            columns = (self.statement.selected_columns
                       if isinstance(self.statement, sa.Select) else ())
            found = _Compiled(
                sql=compiled.string,
                positions=tuple(compiled.positiontup) if compiled.positional else None,
                binds=tuple(
                    (name, bind.type.dialect_impl(dialect).bind_processor(dialect),
                     _REQUIRED if bind.required else bind.value)
                    for name, bind in compiled.binds.items()),
                result_processors=tuple(
                    (index, process) for index, process in enumerate(
                        column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in columns) if process),
            )
            self._compiled[dialect.name] = found
        return found

    def _execute(self, cursor, params: Mapping) -> _Compiled:
        compiled = self._for(db.engine.dialect)
        _tell(compiled.sql)
        values = {}
        for name, process, default in compiled.binds:
            value = params.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"no value for the parameter {name!r}")
            values[name] = process(value) if process else value
        if compiled.positions is not None:
            cursor.execute(compiled.sql, tuple(values[name] for name in compiled.positions))
        else:
            cursor.execute(compiled.sql, values)
        return compiled

    def rows(self, cursor, params: Mapping) -> list[list]:
        """The rows of a SELECT, each value converted as SQLAlchemy converts it."""
        processors = self._execute(cursor, params).result_processors
        rows = []
        for row in cursor.fetchall():
            values = list(row)
            for index, process in processors:
                # NULL stays None under every processor; most of a joined row is NULL.
                if values[index] is not None:
                    values[index] = process(values[index])
            rows.append(values)
        return rows

    def run(self, cursor, params: Mapping) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it matched."""
        self._execute(cursor, params)
        return cursor.rowcount


@contextlib.contextmanager
def _as_sqlalchemy_errors() -> Iterator:
    """Driver errors leave as SQLAlchemy's DBAPIError, as they would through a Connection, so
    that callers and error handlers (db.is_lock_contention, say) see one kind of error."""
    dbapi = db.engine.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(
            "", None, error, dbapi.Error, hide_parameters=True) from error


@contextlib.contextmanager
def read_cursor() -> Iterator:
    """A cursor on a pooled connection for reads outside any transaction.

    PostgreSQL reads in autocommit (psycopg sends no BEGIN, and the pool's reset sends no
    ROLLBACK); SQLite reads outside a transaction already (db.configure_engine).
    """
    with _as_sqlalchemy_errors():
        connection = db.engine.raw_connection()
    driver = connection.driver_connection
    postgres = db.engine.dialect.name == "postgresql"
    try:
        if postgres:
            driver.autocommit = True
        cursor = connection.cursor()
        try:
            with _as_sqlalchemy_errors():
                yield cursor
        finally:
            cursor.close()
    finally:
        _release(connection, restore_transactions=postgres)


@contextlib.contextmanager
def write_cursor(*, single_statement: bool = False) -> Iterator:
    """A cursor in a transaction of its own on a pooled connection, committed when the block
    ends and rolled back if it raises. SQLite takes the write lock first (BEGIN IMMEDIATE).

    ``single_statement``: the block runs one statement, atomic by itself; PostgreSQL then runs
    it in autocommit, sparing the BEGIN and COMMIT round trips.
    """
    dialect = db.engine.dialect.name
    autocommit = single_statement and dialect == "postgresql"
    with _as_sqlalchemy_errors():
        connection = db.engine.raw_connection()
    driver = connection.driver_connection
    try:
        if autocommit:
            driver.autocommit = True
        cursor = connection.cursor()
        try:
            with _as_sqlalchemy_errors():
                if dialect == "sqlite":
                    _tell("BEGIN IMMEDIATE")
                    acquire_sqlite_write_lock(cursor)
                elif dialect == "postgresql" and not autocommit:
                    _tell("BEGIN (sent by psycopg)")
                yield cursor
                if not autocommit:
                    _tell("COMMIT")
                    connection.commit()
        except BaseException:
            if not autocommit:
                _tell("ROLLBACK")
                connection.rollback()
            raise
        finally:
            cursor.close()
    finally:
        _release(connection, restore_transactions=autocommit)


def _release(connection, *, restore_transactions: bool) -> None:
    """Back to the pool; a connection switched to autocommit is switched back first (the next
    user expects transactions), or dropped if it cannot be."""
    try:
        if restore_transactions:
            connection.driver_connection.autocommit = False
    except db.engine.dialect.loaded_dbapi.Error:  # broken: the pool must not hand it out again
        connection.invalidate()
    connection.close()
