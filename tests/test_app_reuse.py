"""The test process's apps share an engine (tests/support/app_reuse.py): the next test's app
gets the same one unless this test left it faulty or with a connection checked out."""

from __future__ import annotations

from gotrue_web import driver_sql
from gotrue_web.extensions import db

from .support.app_reuse import shared_engines


def _engine(app):
    with app.app_context():
        return db.engine


def test_apps_of_the_run_database_share_one_engine(make_app):
    first, second = _engine(make_app()), _engine(make_app(**{"mailer.autoconfirm": True}))
    assert first is second
    shared_engines.release(first)
    assert _engine(make_app()) is first


def test_another_database_gets_an_engine_of_its_own(make_app, tmp_path):
    shared = _engine(make_app())
    assert _engine(make_app(**{"db.url": f"sqlite:///{tmp_path / 'other.db'}"})) is not shared


def test_a_traced_app_gets_an_engine_of_its_own(make_app, monkeypatch):
    # Its instrumentation must not reach later tests' apps (nor its hot-path span hook).
    monkeypatch.setattr(driver_sql, "statement_span", driver_sql.statement_span)
    shared = _engine(make_app())
    traced = make_app(**{"tracing.enabled": True})
    try:
        assert _engine(traced) is not shared
    finally:
        traced.extensions["tracing"].shutdown()


def test_an_engine_that_met_a_fault_is_replaced(make_app):
    engine = _engine(make_app())
    connection = engine.raw_connection()
    connection.invalidate(RuntimeError("the server went away"))
    shared_engines.release(engine)
    assert _engine(make_app()) is not engine


def test_an_engine_with_a_connection_still_out_is_replaced(make_app):
    engine = _engine(make_app())
    connection = engine.raw_connection()
    try:
        shared_engines.release(engine)
        assert _engine(make_app()) is not engine
    finally:
        connection.close()
