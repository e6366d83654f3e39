"""A new SQLite file switched to WAL by a connection that meets another's write lock (SQLite
refuses the switch at once there): the app's database (db.configure_engine) and the rate
limit counters (ratelimit.sqlite_storage) wait for it instead of failing, as two gunicorn
workers booting on a new file would."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from limits import RateLimitItemPerMinute

from gotrue_web.db import configure_engine
from gotrue_web.ratelimit import RateLimiter


@pytest.fixture
def held_new_file(tmp_path):
    """A new file (not in WAL mode) whose write lock another connection holds for 0.3 s."""
    path = tmp_path / "new.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE setup (a)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO setup VALUES (1)")
    released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    released.start()
    yield path
    released.join()
    other.close()


def _journal_mode(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as fresh:
        return fresh.execute("PRAGMA journal_mode").fetchone()[0]


def test_the_app_database_waits_for_the_writer(held_new_file):
    engine = sa.create_engine(f"sqlite:///{held_new_file}")
    configure_engine(engine)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM setup").scalar_one() == 1
    finally:
        engine.dispose()
    assert _journal_mode(held_new_file) == "wal"


def test_the_rate_limit_counters_wait_for_the_writer(held_new_file):
    limiter = RateLimiter({"otp": RateLimitItemPerMinute(1, 5)}, f"sqlite://{held_new_file}")
    assert _journal_mode(held_new_file) == "wal"
    assert limiter.hit("otp", "client") is None
    assert limiter.hit("otp", "client") is not None


def test_configuring_an_engine_twice_sends_each_statement_once(tmp_path):
    """The test suite's apps share an engine, so each configures it again: no setting or
    write lock may be sent twice."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'twice.sqlite3'}")
    sent: list[str] = []

    @sa.event.listens_for(engine, "connect")
    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(sent.append)

    configure_engine(engine)
    configure_engine(engine)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (a)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        engine.dispose()
    assert sent.count("PRAGMA foreign_keys=ON") == 1, sent
    assert sent.count("BEGIN IMMEDIATE") == 1, sent
    assert "CREATE TABLE t (a)" in sent
