"""The console's substring search index on PostgreSQL, built after the fact.

Migration 0012 builds pg_trgm GIN indexes on users when the database has pg_trgm or the role
may create it; otherwise it logs a warning and the search scans users (under the search's time
limit). Once an administrator has made the extension available, ``build_trigram_indexes``
builds what is missing without stopping sign-ups: CREATE INDEX CONCURRENTLY, outside any
transaction, after dropping an index a failed concurrent build left invalid. SQLite and MariaDB
keep their substring index in tables the migration creates, so there is nothing to build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..extensions import db
from ..models.search_indexes import TRIGRAM_INDEXES

# The indexes the models declare (the migration's), by name: the indexed expression.
EXPRESSIONS = {index.name: str(index.expressions[0]) for index in TRIGRAM_INDEXES}


class ExtensionMissing(Exception):
    """pg_trgm is not in the database and this role may not create it."""


class BuildFailed(Exception):
    """The database refused or stopped a build (its reason is the message)."""


@dataclass
class TrigramIndexes:
    # What the database is: only PostgreSQL has anything to build.
    dialect: str
    built: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.dialect != "postgresql":
            return ("nothing to build: on this database the substring search index comes with "
                    "migration 0012")
        parts = [f"built {name}" for name in self.built]
        parts += [f"rebuilt {name} (an earlier build had failed)" for name in self.rebuilt]
        parts += [f"{name} already there" for name in self.present]
        return "; ".join(parts)


def _extension_schema(connection: sa.Connection) -> str | None:
    return connection.execute(sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'")).scalar()


def _index_states(connection: sa.Connection) -> dict[str, bool]:
    """Our trigram indexes on the users table of this search_path: name -> valid."""
    rows = connection.execute(sa.text(
        "SELECT c.relname, i.indisvalid FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'users'::regclass AND c.relname = ANY(:names)"),
        {"names": list(EXPRESSIONS)}).all()
    return {name: valid for name, valid in rows}


def trigram_indexes_missing(connection: sa.Connection) -> bool:
    """Whether this PostgreSQL schema lacks a usable trigram index (both are needed: a search
    looks in the email and the name)."""
    return sum(_index_states(connection).values()) < len(EXPRESSIONS)


def build_trigram_indexes() -> TrigramIndexes:
    """Build the pg_trgm indexes migration 0012 could not (needs an app context). Creates the
    extension in public when it is missing and the role may; raises ExtensionMissing when it
    may not, BuildFailed when a build fails (an index it left invalid is rebuilt by the next
    call). Takes as long as the index builds (minutes at millions of users); sign-ups and
    profile updates go on meanwhile."""
    engine = db.engine
    result = TrigramIndexes(engine.dialect.name)
    if result.dialect != "postgresql":
        return result
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        schema = _extension_schema(connection)
        if schema is None:
            try:
                connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
            except sa.exc.DBAPIError as error:
                # Unless another session created it at the same moment (a duplicate error).
                if _extension_schema(connection) is None:
                    raise ExtensionMissing(str(error.orig).splitlines()[0]) from error
            schema = _extension_schema(connection)
        # A concurrent build waits for the transactions already running to end; the
        # connection's 5 s lock_timeout (pg_session) would give up on a long one.
        lock_timeout = connection.execute(sa.text("SHOW lock_timeout")).scalar()
        connection.execute(sa.text("SET lock_timeout = 0"))
        try:
            _build_missing(connection, schema, result)
        except sa.exc.DBAPIError as error:
            raise BuildFailed(str(error.orig).splitlines()[0]) from error
        finally:
            connection.execute(sa.text("SELECT set_config('lock_timeout', :value, false)"),
                               {"value": lock_timeout})
    return result


def _build_missing(connection: sa.Connection, schema: str, result: TrigramIndexes) -> None:
    states = _index_states(connection)
    for name, expression in EXPRESSIONS.items():
        valid = states.get(name)
        if valid:
            result.present.append(name)
            continue
        if valid is False:
            connection.execute(sa.text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        connection.execute(sa.text(
            f'CREATE INDEX CONCURRENTLY "{name}" ON users '
            f'USING gin (({expression}) "{schema}".gin_trgm_ops)'))
        (result.built if valid is None else result.rebuilt).append(name)
