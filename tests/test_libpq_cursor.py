"""libpq_cursor.LibpqCursor, the hot paths' statements on PostgreSQL: values read back as
psycopg's cursor reads them, one prepared statement per parameter types, psycopg's errors (a
lost connection an OperationalError that db.database_unavailable knows). PostgreSQL only."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.types.json import Jsonb, JsonbLoader

from gotrue_web import driver_sql
from gotrue_web.db import UNREACHABLE, database_unavailable
from gotrue_web.extensions import db
from gotrue_web.libpq_cursor import LibpqCursor

from .conftest import api_for
from .factories import unique_email


@pytest.fixture
def server_url(test_database) -> str:
    if test_database.backend != "postgresql":
        pytest.skip("LibpqCursor is PostgreSQL's")
    return sa.engine.make_url(test_database.url).set(drivername="postgresql").render_as_string(
        hide_password=False)


@pytest.fixture
def connection(server_url):
    with psycopg.connect(server_url, autocommit=True) as connection:
        yield connection


def _prepared_names(connection) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


VALUES = (uuid.uuid4(), datetime(2026, 12, 6, 17, 1, 2, 345678, tzinfo=timezone.utc),
          Jsonb({"b": [1, "two"], "a": None}), "naïve text", True, None)


def test_rows_read_back_as_through_psycopgs_cursor(connection):
    placeholders = ("$1::uuid", "$2::timestamptz", "$3::jsonb", "$4::text", "$5::bool",
                    "$6::int")
    libpq = LibpqCursor(connection)
    libpq.execute(f"SELECT {', '.join(placeholders)}, 'x' UNION ALL SELECT NULL, NULL, NULL, "
                  "NULL, NULL, 7, 'y'", VALUES)
    rows = libpq.fetchall()
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::uuid, %s::timestamptz, %s::jsonb, %s::text, %s::bool, "
                       "%s::int, 'x' UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, 7, 'y'",
                       VALUES)
        expected = [list(row) for row in cursor.fetchall()]
    assert rows == expected
    assert rows[0][2] == {"b": [1, "two"], "a": None}
    assert libpq.rowcount == 2


JSON_TEXTS = ('{"n": 12345678901234567890123, "f": 1.5e-7, "s": "na\\u00efve \u2028", '
              '"l": [true, null, {"x": -0.0}]}', '"text"', "3", "null", "[]")


def test_json_reads_as_json_loads_reads_it(connection):
    """Big integers stay exact; a json column keeps the text's whitespace (the scanner hands
    that to json.loads); the connection's own adapters are left alone."""
    libpq = LibpqCursor(connection)
    for text in JSON_TEXTS:
        libpq.execute("SELECT $1::text::jsonb, $1::text::json, "
                      "('  ' || $1::text || E'\\n')::json", (text,))
        assert libpq.fetchall() == [[json.loads(text)] * 3]
    libpq.execute("SELECT NULL::jsonb", ())
    assert libpq.fetchall() == [[None]]
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        libpq.execute("SELECT '{\"a\": '::jsonb", ())
    with connection.cursor() as cursor:
        cursor.execute("SELECT '12345678901234567890123'::jsonb")
        assert cursor.fetchone() == (12345678901234567890123,)
        assert connection.adapters.get_loader(connection.adapters.types["jsonb"].oid,
                                              psycopg.pq.Format.TEXT) is JsonbLoader


def test_a_statement_is_prepared_once_per_parameter_types(connection):
    libpq = LibpqCursor(connection)
    for number in (1, 2, 3):
        libpq.execute("SELECT $1::int", (number,))
        assert libpq.fetchall() == [[number]]
    assert _prepared_names(connection) == ["gotrue_web_0"]
    # NULL has no type of its own: another prepared statement, as psycopg's cursor makes.
    libpq.execute("SELECT $1::int", (None,))
    assert libpq.fetchall() == [[None]]
    assert _prepared_names(connection) == ["gotrue_web_0", "gotrue_web_1"]


def test_without_prepared_statements_nothing_is_prepared(server_url):
    with psycopg.connect(server_url, autocommit=True, prepare_threshold=None) as connection:
        libpq = LibpqCursor(connection)
        libpq.execute("SELECT $1::int + 1", (41,))
        assert libpq.fetchall() == [[42]]
        assert _prepared_names(connection) == []


def test_writes_give_their_row_count_and_server_errors_are_psycopgs(connection):
    libpq = LibpqCursor(connection)
    libpq.execute("CREATE TEMPORARY TABLE t (id int PRIMARY KEY)", ())
    libpq.execute("INSERT INTO t SELECT generate_series(1, $1::int)", (3,))
    assert libpq.rowcount == 3
    with pytest.raises(psycopg.errors.ProgrammingError):
        libpq.fetchall()  # an INSERT without RETURNING has no rows
    with pytest.raises(psycopg.errors.UniqueViolation):
        libpq.execute("INSERT INTO t VALUES ($1::int)", (2,))
    # Autocommit: the error ended nothing but its own statement.
    libpq.execute("UPDATE t SET id = id + 10 WHERE id > $1::int", (1,))
    assert libpq.rowcount == 2


def test_a_lost_connection_is_an_operational_error(connection, server_url):
    libpq = LibpqCursor(connection)
    libpq.execute("SELECT pg_backend_pid()", ())
    [[backend]] = libpq.fetchall()
    with psycopg.connect(server_url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(psycopg.OperationalError) as raised:
        libpq.execute("SELECT $1::int", (1,))
    assert database_unavailable(raised.value) == UNREACHABLE


def test_the_hot_paths_read_through_it(app, server_url):
    """GET /user and the refresh grant run their statements on a LibpqCursor (and the answer is
    the user's)."""
    api = api_for(app)
    session = api.session(unique_email("libpq"))
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 200
    assert response.get_json()["email"] == session["user"]["email"]
    assert isinstance(driver_sql._thread.own.cursor, LibpqCursor)
    refreshed = api.post("/token?grant_type=refresh_token",
                         json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200
    assert refreshed.get_json()["user"]["id"] == session["user"]["id"]


def test_the_apps_connections_run_in_utc(app, server_url):
    """Whatever the server's default zone (Etc/UTC here, which psycopg would map to a ZoneInfo
    and convert every value into), the app's connections say UTC: psycopg then gives datetime's
    own UTC, and SQL that drops a timestamptz's zone for GoTrue's zone-less columns yields UTC."""
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
        read = connection.exec_driver_sql(
            "SELECT '2026-12-06 12:00:00+01'::timestamptz, "
            "'2026-12-06 12:00:00+01'::timestamptz::timestamp").one()
    assert read[0] == datetime(2026, 12, 6, 11, tzinfo=timezone.utc)
    assert read[0].tzinfo is timezone.utc
    assert read[1] == datetime(2026, 12, 6, 11)
