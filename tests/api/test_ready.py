"""GET /ready: each dependency's state, 503 when one the server needs is missing, and the mail
outbox's backlog (services/readiness)."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from gotrue_web import create_app
from gotrue_web.extensions import db

READY = {"database": "ok", "migrations": "ok", "rate_limit_storage": "ok"}


@pytest.mark.parametrize("prefix", ["", "/auth/v1"])
def test_a_migrated_server_is_ready_with_an_empty_outbox(client, prefix):
    response = client.get(f"{prefix}/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": READY,
                                   "outbox": {"pending": 0, "oldest_pending_seconds": None}}


def test_the_outbox_backlog_counts_mail_waiting_for_a_dispatcher(make_mail_app):
    app = make_mail_app(**{"mailer.outbox_dispatcher": "external"})
    client = app.test_client()
    for email in ("one@example.com", "two@example.com"):
        signup = client.post("/signup", json={"email": email, "password": "Strong-Pass-42"})
        assert signup.status_code == 200, signup.get_data(as_text=True)
    body = client.get("/ready").get_json()
    assert body["status"] == "ok"
    assert body["outbox"]["pending"] == 2
    assert 0 <= body["outbox"]["oldest_pending_seconds"] < 60


@contextlib.contextmanager
def schema_at(app, revision: str):
    """The database claims to be at ``revision`` inside the block; its real one after."""
    with app.app_context():
        applied = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = :revision"),
                           {"revision": revision})
        db.session.commit()
    try:
        yield
    finally:
        with app.app_context():
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = :applied"),
                               {"applied": applied})
            db.session.commit()


@pytest.mark.parametrize(("revision", "state"), [("0012_user_substring_search", "behind"),
                                                  ("9999_from_a_newer_release", "ahead")])
def test_a_schema_not_at_the_codes_newest_migration_is_not_ready(app, client, revision, state):
    with schema_at(app, revision):
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.get_json()["status"] == "unavailable"
        assert response.get_json()["checks"] == {**READY, "migrations": state}
    assert client.get("/ready").status_code == 200


def test_an_unreachable_rate_limit_storage_is_not_ready(make_app, closed_port):
    app = make_app(**{"rate_limit.storage_url": f"redis://127.0.0.1:{closed_port}/0"})
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"] == {**READY, "rate_limit_storage": "unreachable"}
    assert str(closed_port) not in response.get_data(as_text=True)


def test_redis_rate_limit_storage_that_answers_is_ready(make_app):
    app = make_app(**{"rate_limit.storage_url": "redis://127.0.0.1:6379/0"})
    response = app.test_client().get("/ready")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["checks"] == READY


def test_an_unreachable_database_is_not_ready(settings, tmp_path):
    # Not make_app: its teardown empties the test database, and this app has none.
    app = create_app(settings.replace(**{
        "db.url": f"sqlite:///{tmp_path / 'missing' / 'gotrue.db'}",
        "mailer.outbox_dispatcher": "external"}))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "checks": {"database": "unreachable", "migrations": "unknown",
                   "rate_limit_storage": "ok"}}
