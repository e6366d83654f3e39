"""create_app: builds the app without touching the database or the network, serves the API at
/ and /auth/v1, answers errors with GoTrue's JSON outside /console, and defaults to SQLite in the
instance folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gotrue_web import create_app
from gotrue_web.extensions import db

from .conftest import BASE_SETTINGS


@pytest.fixture
def listeners():
    """Loopback TCP listeners that only record whether anything connected to them."""
    sockets: list[socket.socket] = []

    def listen() -> socket.socket:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        sockets.append(server)
        return server

    yield listen
    for server in sockets:
        server.close()


def was_contacted(server: socket.socket) -> bool:
    # A finished TCP handshake sits in the accept queue even if nobody called accept yet.
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_create_app_touches_neither_the_database_nor_the_network(listeners, scheme):
    database, smtp, templates = listeners(), listeners(), listeners()
    settings = BASE_SETTINGS.replace(**{
        "db.url": f"{scheme}://nobody:pw@127.0.0.1:{database.getsockname()[1]}/gotrue",
        "smtp.host": "127.0.0.1",
        "smtp.admin_email": "auth@example.com",
        "smtp.port": smtp.getsockname()[1],
        "mailer.templates": {
            "confirmation": f"http://127.0.0.1:{templates.getsockname()[1]}/confirm.html"},
    })
    app = create_app(settings)
    # Liveness needs neither: it answers although the "database" never speaks.
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["name"] == "GoTrue"
    assert not was_contacted(database)
    assert not was_contacted(smtp)
    assert not was_contacted(templates)


def test_the_listener_check_notices_a_connection(listeners):
    # Guards the test above: a real connection attempt must be seen.
    server = listeners()
    client = socket.create_connection(server.getsockname(), timeout=5)
    try:
        assert was_contacted(server)
    finally:
        client.close()


def test_create_app_does_not_create_the_sqlite_file(tmp_path):
    path = tmp_path / "never-opened.db"
    app = create_app(BASE_SETTINGS.replace(**{"db.url": f"sqlite:///{path}"}))
    assert app.test_client().get("/health").status_code == 200
    assert not path.exists()


def test_without_database_url_the_instance_sqlite_file_is_used(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env file
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GOTRUE_DB_DATABASE_URL", raising=False)
    monkeypatch.setenv("GOTRUE_SITE_URL", "http://localhost:3000")
    monkeypatch.setenv("API_EXTERNAL_URL", "http://localhost:9999")
    monkeypatch.setenv("GOTRUE_JWT_SECRET", "a-secret-of-at-least-thirty-two-characters")
    app = create_app()
    database = Path(app.instance_path) / "gotrue.db"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database}"

    # A real connection to that file; clean up only what this test created.
    created = [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm"))
               if not p.exists()]
    try:
        with app.app_context():
            with db.engine.connect() as connection:
                journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
                busy_timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
                foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            db.engine.dispose()
    finally:
        for path in created:
            path.unlink(missing_ok=True)
    assert journal_mode == "wal"
    assert busy_timeout >= 5000
    assert foreign_keys == 1


def test_sqlite_connections_are_configured_on_any_sqlite_url(tmp_path):
    app = create_app(BASE_SETTINGS.replace(**{"db.url": f"sqlite:///{tmp_path / 'x.db'}"}))
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        db.engine.dispose()


def test_invalid_settings_are_refused_by_the_factory():
    from gotrue_web.settings import SettingsError

    with pytest.raises(SettingsError, match="^GOTRUE_SITE_URL: required"):
        create_app(BASE_SETTINGS.replace(site_url=""))


# --- routes and errors ------------------------------------------------------------------------


@pytest.fixture
def standalone_client(tmp_path):
    """An app on an empty SQLite file: these requests must not need the schema."""
    app = create_app(BASE_SETTINGS.replace(**{"db.url": f"sqlite:///{tmp_path / 'x.db'}"}))
    return app.test_client()


def test_the_api_is_served_at_the_root_and_under_auth_v1(standalone_client):
    app = standalone_client.application
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    root_rules = {rule for rule, endpoint in rules.items() if endpoint.startswith("api.")}
    assert {"/health", "/settings", "/signup", "/token", "/user", "/admin/users"} <= root_rules
    for rule in root_rules:
        assert rules.get("/auth/v1" + rule, "").startswith("api_v1."), rule

    for path in ("/health", "/settings"):
        at_root = standalone_client.get(path)
        under_prefix = standalone_client.get("/auth/v1" + path)
        assert at_root.status_code == under_prefix.status_code == 200
        assert at_root.get_json() == under_prefix.get_json()
    assert standalone_client.get("/auth/v1/settings").get_json()["disable_signup"] is False


@pytest.mark.parametrize("path", ["/nope", "/auth/v1/nope", "/auth/v1/admin/nope"])
def test_unknown_routes_give_gotrue_json(standalone_client, path):
    legacy = standalone_client.get(path)
    assert legacy.status_code == 404
    assert legacy.mimetype == "application/json"
    assert legacy.headers["x-sb-error-code"] == "not_found"
    assert legacy.get_json()["code"] == 404
    assert legacy.get_json()["error_code"] == "not_found"

    current = standalone_client.get(path, headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert current.status_code == 404
    assert current.get_json()["code"] == "not_found"
    assert current.headers["X-Supabase-Api-Version"] == "2024-01-01"


@pytest.mark.parametrize("path", ["/signup", "/auth/v1/signup"])
def test_wrong_method_gives_gotrue_json(standalone_client, path):
    response = standalone_client.get(path, headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.get_json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/console/nope", "/static/nope.css"])
def test_console_and_static_errors_are_not_json(standalone_client, path):
    response = standalone_client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "x-sb-error-code" not in response.headers
