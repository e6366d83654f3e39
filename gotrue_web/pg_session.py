"""A PostgreSQL connection's session settings, SET as the connection opens.

Sent as statements, not as the startup parameter "options": PgBouncer refuses that one
("unsupported startup parameter: options"), so the server could not connect through it.
"""

from __future__ import annotations

import functools

# The engine's execution option that names its schema (GOTRUE_DB_NAMESPACE): db.engine_options
# puts it there, db.configure_engine reads it.
NAMESPACE_OPTION = "gotrue_namespace"


@functools.lru_cache(maxsize=None)
def session_listener(namespace: str):
    """The engine's connect listener: one per namespace, so that configuring an engine twice
    adds nothing."""
    # search_path puts every unqualified name in the namespace; lock_timeout bounds row locks.
    # TimeZone UTC, whatever the server's default: psycopg then gives datetime's own UTC (from
    # Etc/UTC, say, each value would be converted twice), and SQL that turns a timestamptz into
    # GoTrue's zone-less columns yields the UTC they hold. In autocommit, so that the pool's
    # rollback on checkin does not undo them. The namespace is a checked identifier
    # (settings.db.check).
    statement = f"SET search_path TO {namespace}; SET lock_timeout = 5000; SET TimeZone = 'UTC'"

    def set_session(dbapi_connection, _record) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute(statement)
        finally:
            dbapi_connection.autocommit = autocommit

    return set_session
