"""Test fixtures: a real database per run (SQLite by default, or the server TEST_DATABASE_URL
names), migrated once with Alembic; a fresh app per test; rows deleted after each test.

PostgreSQL runs get their own schema (GOTRUE_DB_NAMESPACE) and MariaDB runs their own database,
so concurrent runs on one server do not collide. A database that cannot be reached fails the run.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from gotrue_web import create_app
from gotrue_web.db import Base
from gotrue_web.extensions import db
from gotrue_web.settings import Settings, normalize_database_url

from .support import app_reuse
from .support import smtp as smtp_support
from .support.mail_servers import TemplateServer

JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"


app_reuse.install()

BASE_SETTINGS = Settings(site_url="http://localhost:3000").replace(**{
    "api.external_url": "http://localhost:9999",
    "jwt.secret": JWT_SECRET,
    "jwt.aud": "authenticated",
    "jwt.default_group_name": "authenticated",
    "password.bcrypt_cost": 4,
    # A fresh counter store per app, so one test's requests never limit another's.
    "rate_limit.storage_url": "memory://",
    # One attempt per outbox email, as mail was sent before the outbox: a failure is final at
    # once (tests/services/test_mail_outbox*.py turn retries on).
    "mailer.outbox_max_attempts": 1,
    # No cleanup thread: tests move the clock by days (tests/services/test_db_cleanup.py
    # turns it on).
    "db.cleanup_interval": timedelta(0),
})


def pytest_addoption(parser):
    parser.addoption("--database-url", default=os.environ.get("TEST_DATABASE_URL", ""),
                     help="PostgreSQL or MariaDB URL to run against (default: SQLite)")


@dataclass
class TestDatabase:
    url: str
    namespace: str = "auth"
    backend: str = "sqlite"
    admin_url: str = ""
    cleanup: list = field(default_factory=list)


def _provision(raw_url: str, tmp_path_factory) -> TestDatabase:
    suffix = f"t{os.getpid()}_{secrets.token_hex(3)}"
    if not raw_url:
        path = tmp_path_factory.mktemp("db") / "gotrue.db"
        return TestDatabase(url=f"sqlite:///{path}")
    url = normalize_database_url(raw_url)
    backend = sa.engine.make_url(url).get_backend_name()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.exit(f"test database {raw_url!r} is unreachable: {exc.orig}", returncode=3)
    if backend == "postgresql":
        namespace = f"auth_{suffix}"
        database = TestDatabase(url=url, namespace=namespace, backend=backend, admin_url=url)

        def drop_schema():
            with engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE'))
            engine.dispose()

        database.cleanup.append(drop_schema)
        return database
    if backend in ("mysql", "mariadb"):
        name = f"gotrue_{suffix}"
        with engine.begin() as connection:
            connection.execute(sa.text(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        test_url = sa.engine.make_url(url).set(database=name)
        if not any(key.startswith(("ssl", "tls")) for key in test_url.query):
            # Unless the URL asks for TLS, the run's connections go without it (as tls=false
            # says): PyMySQL otherwise tries it on every connection, loading the system's CA
            # store each time (~20 ms), and every test's app connects anew.
            test_url = test_url.update_query_dict({"ssl_disabled": "true"})
        test_url = test_url.render_as_string(hide_password=False)

        def drop_database():
            with engine.begin() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
            engine.dispose()

        database = TestDatabase(url=test_url, backend="mysql", admin_url=url)
        database.cleanup.append(drop_database)
        return database
    pytest.exit(f"unsupported test database backend {backend!r}", returncode=3)


@pytest.fixture(scope="session")
def test_database(request, tmp_path_factory) -> TestDatabase:
    """The run's database, migrated to head with Alembic (the same path as flask db upgrade)."""
    database = _provision(request.config.getoption("--database-url"), tmp_path_factory)
    app = create_app(_settings_for(database))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    app_reuse.shared_engines.database_url = sa.engine.make_url(database.url).render_as_string(
        hide_password=False)
    yield database
    for step in database.cleanup:
        step()


def _settings_for(database: TestDatabase, base: Settings = BASE_SETTINGS) -> Settings:
    return base.replace(**{"db.url": database.url, "db.namespace": database.namespace})


@pytest.fixture
def settings(test_database) -> Settings:
    """Settings for this test's app; tests derive variants with settings.replace(...)."""
    return _settings_for(test_database)


def _delete_all_rows(app) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


class SettledClient(FlaskClient):
    """Flask's test client, returning once the emails the request queued to send after its
    answer (services/mail/outbox.py) have been tried, so a test reads the mail log and the
    SMTP sink as the request left them. Tests of the timing itself use real HTTP (``serve``)."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert self.application.extensions["gotrue"].outbox.wait_until_sent(timeout=30)
        return response


@pytest.fixture
def make_app(settings):
    """Build an app with settings overrides (``make_app(**{"mailer.autoconfirm": True})``)."""
    apps = []

    def build(**overrides):
        app = create_app(settings.replace(**overrides) if overrides else settings)
        app.config["TESTING"] = True
        app.test_client_class = SettledClient
        apps.append(app)
        return app

    yield build
    for app in apps:
        # Emails still being sent after a served answer must not write into the next test, and
        # no outbox thread of this test may take the next test's emails.
        app.extensions["gotrue"].outbox.wait_until_sent(timeout=30)
        app.extensions["gotrue"].outbox.stop()
        # Nor may its live-settings thread keep asking a database the test is done with.
        app.extensions["gotrue"].live_settings.stop()
        app.extensions["gotrue"].cleaner.stop()
    if apps:
        _delete_all_rows(apps[0])
    for app in apps:
        with app.app_context():
            app_reuse.shared_engines.release(db.engine)


@pytest.fixture(autouse=True)
def _search_time_limit_for_a_busy_machine(monkeypatch):
    """The console's 1 s search limit is the product's; a test machine running two workers
    can pause a process past it on a search of a few rows (CI once did: an empty page). The
    tests of the limit set their own."""
    from gotrue_web.console.operations import user_text_search

    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 30_000)


@pytest.fixture(scope="module", autouse=True)
def _live_rows_deleted(request):
    """Servers of live tests write to the run's database from their own processes, where no
    test's teardown sees them: after a module of live tests, every row is deleted (as after
    each in-process test), so that no later test finds its users. After the module, not each
    test: live modules share servers and the rows they set up across their tests."""
    if request.node.get_closest_marker("live") is None:
        yield
        return
    database = request.getfixturevalue("test_database")
    yield
    app = create_app(_settings_for(database))
    _delete_all_rows(app)
    with app.app_context():
        app_reuse.shared_engines.release(db.engine)


@pytest.fixture
def app(make_app):
    return make_app(**{"mailer.autoconfirm": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def rt(app):
    return app.extensions["gotrue"]


def make_jwt(claims: dict, secret: str = JWT_SECRET, algorithm: str = "HS256",
             headers: dict | None = None) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


@pytest.fixture
def service_role_token() -> str:
    """Supabase's service key shape: role service_role, no sub."""
    return make_jwt({"iss": "supabase", "role": "service_role", "iat": 1700000000})


class ApiClient:
    """Drives the JSON API like the official clients do (API version 2024-01-01)."""

    def __init__(self, client, service_role_token: str, prefix: str = ""):
        self.client = client
        self.service_role_token = service_role_token
        self.prefix = prefix

    def headers(self, token: str | None = None, **extra) -> dict:
        headers = {"X-Supabase-Api-Version": "2024-01-01"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra)
        return headers

    def request(self, method: str, path: str, *, token: str | None = None,
                headers: dict | None = None, **kwargs):
        return self.client.open(self.prefix + path, method=method,
                                headers={**self.headers(token), **(headers or {})}, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def admin(self, method: str, path: str, **kw):
        return self.request(method, path, token=self.service_role_token, **kw)

    def signup(self, email: str, password: str = "password-123", **body):
        return self.post("/signup", json={"email": email, "password": password, **body})

    def login(self, email: str, password: str = "password-123"):
        return self.post("/token?grant_type=password",
                         json={"email": email, "password": password})

    def refresh(self, refresh_token: str):
        return self.post("/token?grant_type=refresh_token",
                         json={"refresh_token": refresh_token})

    def session(self, email: str | None = None, password: str = "password-123") -> dict:
        """Sign up (autoconfirm) and return the session JSON."""
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = self.signup(email, password)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert "access_token" in body, body
        return body


@pytest.fixture
def api(client, service_role_token) -> ApiClient:
    return ApiClient(client, service_role_token)


def api_for(app, service_role_token: str = "") -> ApiClient:
    """An ApiClient on ``app`` (admin calls need ``service_role_token``)."""
    return ApiClient(app.test_client(), service_role_token)


def table_rows(app, statement):
    """Run a read query against the app's database and return the rows."""
    with app.app_context():
        return db.session.execute(statement).all()


@dataclass
class LiveServer:
    url: str
    app: object


class _RequestsInFlight:
    """WSGI middleware counting the requests being answered, so that a served app's test ends
    only once they are done: a request thread still running when make_app disposes the engine
    would return its connection to the discarded pool, and the connection would be closed by
    the garbage collector in some later test (psycopg warns: "deleted while still open").

    A request counts until the app returns its answer: Flask has ended the request's app
    context (and given back its connection) by then. Not until the answer's close(): werkzeug's
    server calls that only after reading whatever else the client sent, which can wait for the
    browser to drop the connection."""

    def __init__(self, app):
        self.app = app
        self._count = 0
        self._idle = threading.Condition()

    def __call__(self, environ, start_response):
        with self._idle:
            self._count += 1
        try:
            # The body is read here and the app's iterable closed at once. werkzeug's server
            # closes it only after reading what the client left unsent, and that read raises
            # when the client (a browser leaving a page) has reset the connection: a static
            # file's handle then stays open, and its ResourceWarning fails whichever later test
            # the garbage collector runs in.
            answer = self.app(environ, start_response)
            try:
                return [b"".join(answer)]
            finally:
                if hasattr(answer, "close"):
                    answer.close()
        finally:
            with self._idle:
                self._count -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


class ServedApp:
    """A WSGI app served over HTTP on a loopback port (a free one unless ``port`` is given), a
    thread per request. ``stop()`` returns once the requests it was answering are done, so a
    test's app (and its connection pool) is never torn down under a running request."""

    def __init__(self, app, port: int = 0):
        self._requests = _RequestsInFlight(app)
        self.server = make_server("127.0.0.1", port, self._requests, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll: shutdown() waits for the loop's next look (0.5 s by default).
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=5)
        self.server.server_close()
        # A slow request (a stalled fake's caller, a browser's last click) gets a while.
        self._requests.wait_idle(timeout=15)


@pytest.fixture
def live_server(app):
    """The test app served over HTTP on a free loopback port, in a thread."""
    served = ServedApp(app)
    yield LiveServer(url=served.url, app=app)
    served.stop()


@pytest.fixture
def serve():
    """Serve apps over real HTTP: ``serve(app)`` runs it on a free loopback port, in threads
    (a thread per request), and returns its LiveServer; each is stopped after the test."""
    started = []

    def start(app) -> LiveServer:
        served = ServedApp(app)
        started.append(served)
        return LiveServer(url=served.url, app=app)

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""
    server = smtp_support.SMTPSink()
    server.start()
    yield server
    server.stop()


# --- mail ----------------------------------------------------------------------------------------

MAIL_SENDER = "auth@example.com"


def smtp_settings(port: int | None, **overrides) -> dict:
    """Overrides for an app that mails the SMTP server on ``port`` (None: no SMTP host, so
    nothing is sent) from MAIL_SENDER, with autoconfirm off so users confirm by link or code."""
    smtp = {"smtp.host": "127.0.0.1", "smtp.port": port} if port else {}
    return {**smtp, "smtp.admin_email": MAIL_SENDER, "mailer.autoconfirm": False, **overrides}


def email_provider(settings: Settings, **changes) -> dict:
    """The ``external.email`` override with ``changes`` (enabled, magic_link_enabled...)."""
    return {"external.email": dataclasses.replace(settings.external.email, **changes)}


@pytest.fixture
def make_mail_app(make_app, smtp_server):
    """Build an app that mails ``smtp_server``: ``make_mail_app(**overrides)``, autoconfirm off
    unless the overrides turn it on."""

    def build(**overrides):
        return make_app(**smtp_settings(smtp_server.port, **overrides))

    return build


@pytest.fixture
def mail_app(make_mail_app):
    """An app that mails the SMTP sink; new users confirm by link or code."""
    return make_mail_app()


@pytest.fixture
def mail_api(mail_app, service_role_token) -> ApiClient:
    """The API of ``mail_app``, with the service role for admin calls."""
    return api_for(mail_app, service_role_token)


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections for the whole test: bound here and never
    listening, so no other server (of this or another pytest-xdist worker) can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def servers():
    """Start mail servers (``servers(SecureSMTPSink(...))``); each is stopped after the test."""
    started = []

    def start(server):
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def template_server():
    """An HTTP server on a free loopback port serving the pages a test puts in ``.pages``."""
    server = TemplateServer()
    server.start()
    yield server
    server.stop()
