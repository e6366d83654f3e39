"""A database that cannot serve, in process, on the run's database: every request that needs it
answers 503 JSON in GoTrue's error shape (unexpected_failure, Retry-After: 1), the console a 503
page, /health stays 200 and /ready names the database; once it is back the same app serves
again, without a restart, on new connections.

PostgreSQL and MariaDB are reached through a loopback TCP proxy (tcp_proxy.py) that refuses
connections and drops the open ones. SQLite's file lives in a directory that is not there until
the database comes back ("unable to open database file"). Which driver errors count is
db.database_unavailable; its cases are checked here on real errors of each driver.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid

import psycopg
import pymysql
import pytest
import sqlalchemy as sa

from gotrue_web import db as database_module
from gotrue_web.api.errors import DATABASE_UNAVAILABLE_MESSAGE
from gotrue_web.db import database_unavailable, is_lock_contention
from gotrue_web.extensions import db

from ..conftest import api_for, make_jwt
from ..factories import unique_email
from .tcp_proxy import TCPProxy

LEGACY_BODY = {"code": 503, "error_code": "unexpected_failure", "msg": DATABASE_UNAVAILABLE_MESSAGE}
VERSIONED_BODY = {"code": "unexpected_failure", "message": DATABASE_UNAVAILABLE_MESSAGE}


class ProxiedServer:
    """The run's PostgreSQL or MariaDB behind a proxy: cut() refuses and drops connections."""

    reason = database_module.UNREACHABLE

    def __init__(self, test_database):
        url = sa.engine.make_url(test_database.url)
        self.proxy = TCPProxy(url.host, url.port).start()
        self.url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
            hide_password=False)

    def cut(self) -> None:
        self.proxy.refuse()
        self.proxy.drop()

    def restore(self) -> None:
        self.proxy.accept()

    def drop_connections(self) -> None:
        self.proxy.drop()

    def close(self) -> None:
        self.proxy.stop()


class SQLiteFileNotThereYet:
    """A copy of the run's migrated SQLite database, in a directory that appears on restore():
    until then every connection fails with "unable to open database file"."""

    reason = database_module.CANNOT_OPEN

    def __init__(self, test_database, directory):
        self.seed = directory / "seed.db"
        _copy_sqlite(sa.engine.make_url(test_database.url).database, self.seed)
        self.folder = directory / "data"
        self.url = f"sqlite:///{self.folder / 'gotrue.db'}"

    def cut(self) -> None:
        assert not self.folder.exists(), "a SQLite file once open cannot be taken away"

    def restore(self) -> None:
        if not self.folder.exists():
            self.folder.mkdir()
            _copy_sqlite(str(self.seed), self.folder / "gotrue.db")

    def close(self) -> None:
        pass


def _copy_sqlite(source: str, target) -> None:
    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
    origin.close()
    copy.close()


@pytest.fixture
def outage(test_database, tmp_path):
    database = (SQLiteFileNotThereYet(test_database, tmp_path)
                if test_database.backend == "sqlite" else ProxiedServer(test_database))
    yield database
    database.close()


@pytest.fixture
def app(outage, make_app):
    app = make_app(**{"db.url": outage.url, "mailer.autoconfirm": True})
    yield app
    outage.restore()  # make_app's teardown deletes the test's rows through it


def _assert_unavailable(response, body=LEGACY_BODY) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    answer = response.get_json()
    error_id = answer.pop("error_id", None)
    assert answer == body
    assert error_id or body is VERSIONED_BODY
    assert response.headers["Retry-After"] == "1"
    assert response.headers["x-sb-error-code"] == "unexpected_failure"


def _user_token(user_id: str | None = None) -> str:
    return make_jwt({"sub": user_id or str(uuid.uuid4()), "aud": "authenticated",
                     "role": "authenticated", "exp": 4102444800, "session_id": str(uuid.uuid4()),
                     "email": "someone@example.com"})


def _unavailable_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "database unavailable" in record.getMessage()]


def test_requests_answer_503_while_the_database_is_gone_and_succeed_once_it_is_back(
        app, outage, caplog):
    client = app.test_client()
    email = unique_email("outage")
    outage.cut()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        signup = client.post("/signup", json={"email": email, "password": "password-123"})
        _assert_unavailable(signup)
        _assert_unavailable(client.post("/token?grant_type=password",
                                        json={"email": email, "password": "password-123"}))
        _assert_unavailable(client.get("/user",
                                       headers={"Authorization": f"Bearer {_user_token()}"}))
        # The API version's body shape, under the /auth/v1 prefix too.
        _assert_unavailable(client.post("/auth/v1/token?grant_type=refresh_token",
                                        json={"refresh_token": "a" * 40},
                                        headers={"X-Supabase-Api-Version": "2024-01-01"}),
                            VERSIONED_BODY)
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == "unreachable"

    # One warning per failed request, naming the reason; no traceback, no error record.
    logged = _unavailable_records(caplog)
    assert len(logged) == 4
    assert all(record.levelno == logging.WARNING and not record.exc_info for record in logged)
    assert all(f"({outage.reason}, " in record.getMessage() for record in logged)
    assert [record.getMessage() for record in caplog.records
            if record.levelno >= logging.ERROR] == []

    outage.restore()
    assert client.get("/ready").status_code == 200
    signed_up = client.post("/signup", json={"email": email, "password": "password-123"})
    assert signed_up.status_code == 200, signed_up.get_data(as_text=True)
    session = signed_up.get_json()
    me = client.get("/user", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == email
    refreshed = client.post("/token?grant_type=refresh_token",
                            json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


def test_the_console_shows_a_503_page_while_the_database_is_gone(app, outage):
    from ..console.conftest import ConsoleClient

    console = ConsoleClient(app.test_client())
    login_page = console.get("/console/login")
    assert login_page.status_code == 200
    outage.cut()
    response = console.post("/console/login", {"email": "operator@example.com",
                                               "password": "operator-password-1"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "The database is unavailable" in page
    assert "Traceback" not in page


@pytest.fixture
def server_outage(outage):
    if not isinstance(outage, ProxiedServer):
        pytest.skip("dropped connections are a matter of database servers (PostgreSQL, MariaDB)")
    return outage


def test_dropped_connections_are_replaced_by_new_ones(app, server_outage):
    """The pool tests its connections before handing them out (pre-ping); a read on a thread's
    own autocommit connection (driver_sql.read_rows) that the server dropped while it sat
    idle runs again on a new one: no request fails for it."""
    api = api_for(app)
    session = api.session(unique_email("dropped"))
    token = session["access_token"]
    assert api.get("/user", token=token).status_code == 200  # this thread's own connection
    assert api.login(session["user"]["email"]).status_code == 200  # a pooled connection

    server_outage.drop_connections()
    assert api.get("/user", token=token).status_code == 200
    assert api.get("/user", token=token).status_code == 200
    # The pooled connection died too; pre-ping replaces it before the request sees it.
    login = api.login(session["user"]["email"])
    assert login.status_code == 200, login.get_data(as_text=True)
    refreshed = api.refresh(login.get_json()["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


# --- which errors mean "unavailable": real errors of each driver ---------------------------------


def test_refused_connections_of_each_server_driver_are_unavailable(closed_port):
    with pytest.raises(psycopg.OperationalError) as postgres:
        psycopg.connect(host="127.0.0.1", port=closed_port, dbname="x", connect_timeout=5)
    with pytest.raises(pymysql.err.OperationalError) as mariadb:
        pymysql.connect(host="127.0.0.1", port=closed_port, connect_timeout=5)
    assert mariadb.value.args[0] == 2003
    for error in (postgres.value, mariadb.value):
        assert database_unavailable(error) == database_module.UNREACHABLE
        wrapped = sa.exc.DBAPIError.instance("SELECT 1", None, error, type(error))
        assert database_unavailable(wrapped) == database_module.UNREACHABLE


def test_sqlite_files_that_cannot_be_opened_written_or_grown_are_unavailable(tmp_path):
    def error_of(run) -> sqlite3.Error:
        with pytest.raises(sqlite3.Error) as raised:
            run()
        return raised.value

    missing = error_of(lambda: sqlite3.connect(tmp_path / "missing" / "x.db").execute("SELECT 1"))
    assert database_unavailable(missing) == database_module.CANNOT_OPEN

    path = tmp_path / "x.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (v BLOB)")
    setup.close()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert database_unavailable(error_of(
        lambda: read_only.execute("INSERT INTO t VALUES (1)"))) == database_module.READ_ONLY
    read_only.close()

    # SQLite's own "database or disk is full", from a page limit no larger than the file.
    full = sqlite3.connect(path)
    full.execute("PRAGMA max_page_count = 1")
    assert database_unavailable(error_of(
        lambda: full.execute("INSERT INTO t VALUES (zeroblob(100000))"))) == database_module.FULL
    full.close()

    # What is wrong with the request or another transaction is not the database being away.
    locked = sqlite3.connect(path, timeout=0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    busy = error_of(lambda: locked.execute("INSERT INTO t VALUES (1)"))
    holder.execute("ROLLBACK")
    assert is_lock_contention(sa.exc.DBAPIError.instance("", None, busy, sqlite3.Error))
    assert database_unavailable(busy) is None
    assert database_unavailable(error_of(lambda: locked.execute("SELEC 1"))) is None
    assert database_unavailable(ValueError("unavailable")) is None
    locked.close()
    holder.close()


def test_errors_of_the_run_database_server_are_told_apart(app, test_database):
    """A killed session is unavailable; a constraint or a syntax error is not."""
    if test_database.backend == "sqlite":
        pytest.skip("killing a session is a matter of database servers (PostgreSQL, MariaDB)")
    with app.app_context():
        engine = db.engine
        with engine.connect() as victim, engine.connect() as killer:
            if test_database.backend == "postgresql":
                pid = victim.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            else:
                connection_id = victim.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
                killer.execute(sa.text(f"KILL CONNECTION {int(connection_id)}"))
            with pytest.raises(sa.exc.DBAPIError) as killed:
                victim.execute(sa.text("SELECT 1"))
            assert database_unavailable(killed.value) == database_module.UNREACHABLE

            with pytest.raises(sa.exc.DBAPIError) as syntax:
                killer.execute(sa.text("SELEC 1"))
            assert database_unavailable(syntax.value) is None
            killer.rollback()
            with pytest.raises(sa.exc.IntegrityError) as duplicate:
                killer.execute(sa.text("INSERT INTO users (instance_id, id, aud, role) "
                                       "VALUES (:n, :id, '', ''), (:n, :id, '', '')"),
                               {"n": str(uuid.UUID(int=0)), "id": str(uuid.uuid4())})
            assert database_unavailable(duplicate.value) is None
