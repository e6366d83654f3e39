"""PostgreSQL behind PgBouncer: a real pgbouncer (session pooling) between the server and the
run's PostgreSQL. PgBouncer refuses the startup parameter "options" (its FATAL "unsupported
startup parameter: options"), so each connection's search_path, lock_timeout and TimeZone are
SET once it is open (db.configure_engine), and the server works through it: sign-up, GET /user
and the refresh grant on the thread's own prepared-statement connection as on the pool."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db

from ..conftest import api_for
from ..support.smtp import free_port

STARTUP_SECONDS = 15


def _session_settings(app) -> tuple[str, str, str]:
    with app.app_context(), db.engine.connect() as connection:
        return tuple(connection.execute(sa.text(f"SHOW {name}")).scalar_one()
                     for name in ("search_path", "lock_timeout", "TimeZone"))


def _require_postgresql(test_database) -> None:
    if test_database.backend != "postgresql":
        pytest.skip("search_path, lock_timeout and PgBouncer are PostgreSQL's")


@pytest.fixture
def pgbouncer(test_database):
    """The run's database through a pgbouncer of this test; its SQLAlchemy URL."""
    _require_postgresql(test_database)
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(binary):
        pytest.fail("pgbouncer is not installed (Debian's package pgbouncer; .ci/run installs it)")
    url = sa.engine.make_url(test_database.url)
    port = free_port()
    # Readable by the user pgbouncer switches to when started as root (it refuses to run so).
    folder = tempfile.mkdtemp(prefix="gotrue-pgbouncer-")
    os.chmod(folder, 0o755)
    users = os.path.join(folder, "users.txt")
    config = os.path.join(folder, "pgbouncer.ini")
    with open(users, "w") as file:
        file.write(f'"{url.username}" ""\n')
    with open(config, "w") as file:
        file.write(
            f"[databases]\n{url.database} = host={url.host} port={url.port or 5432} "
            f"dbname={url.database}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
            f"auth_type = trust\nauth_file = {users}\npool_mode = session\n"
            "unix_socket_dir =\n")
    for path in (users, config):
        os.chmod(path, 0o644)
    command = [binary, *(["-u", "postgres"] if os.geteuid() == 0 else []), config]
    log = open(os.path.join(folder, "pgbouncer.log"), "w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"pgbouncer did not start: {log.read()}")
                time.sleep(0.05)
        yield url.set(port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_server_works_through_pgbouncer(pgbouncer, make_app, test_database):
    # pgbouncer first: it must outlive make_app's teardown, which deletes the rows through it.
    app = make_app(**{"mailer.autoconfirm": True, "db.url": pgbouncer})
    api = api_for(app)
    body = api.session()
    user = api.get("/user", token=body["access_token"])
    assert user.status_code == 200, user.get_data(as_text=True)
    assert user.get_json()["id"] == body["user"]["id"]
    refreshed = api.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert api.get("/user", token=refreshed.get_json()["access_token"]).status_code == 200
    assert _session_settings(app) == (test_database.namespace, "5s", "UTC")


def test_connections_carry_no_startup_options_and_set_their_session(app, api, test_database):
    _require_postgresql(test_database)
    with app.app_context(), db.engine.connect() as connection:
        parameters = connection.connection.dbapi_connection.info.get_parameters()
    assert "options" not in parameters
    assert _session_settings(app) == (test_database.namespace, "5s", "UTC")
    # GET /user runs on the worker thread's own connection: the same session there.
    body = api.session()
    assert api.get("/user", token=body["access_token"]).status_code == 200
