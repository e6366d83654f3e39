"""A SQLite database that turns read-only, and one whose disk fills up, under a real gunicorn.

What happens to a real disk, done without touching the machine's:
- read-only: the database file and its write-ahead log are made immutable (``chattr +i``),
  which even root cannot write through, open files included (on ext4 and the like): the
  server's connections get "disk I/O error" (EPERM), new ones open the file read-only ("attempt
  to write a readonly database");
- full: the server runs in a private mount namespace of its own, its database on a small tmpfs
  that the test fills to the last byte (through /proc/<pid>/root, the server's view of the
  filesystem), so the write-ahead log cannot grow: SQLite's own "database or disk is full".

While either lasts, writes (sign-up, sign-in, refresh) answer 503 JSON and reads (GET /user,
which reads the user's row, and GET /settings) keep answering 200; afterwards the database passes
PRAGMA integrity_check, the refused sign-up left no user behind, the refresh token that could
not be rotated still works, and writes succeed again without a restart.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gotrue_web.api.errors import DATABASE_UNAVAILABLE_MESSAGE

from ..factories import unique_email
from ..live.conftest import (
    GUNICORN,
    REPO_ROOT,
    GunicornServer,
    _wait_until_healthy,
    loopback_listener,
    server_environment,
)

pytestmark = pytest.mark.live

TMPFS_SIZE = "16m"
RECOVERY_SECONDS = 30
PASSWORD = "password-sqlite-1"
UNAVAILABLE = {"code": 503, "error_code": "unexpected_failure", "msg": DATABASE_UNAVAILABLE_MESSAGE}
# Mount the tmpfs over the (empty) data folder, put the database there, then become gunicorn.
_IN_NAMESPACE = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount -t tmpfs -o size="$1" tmpfs "$2" && cp "$3" "$2/gotrue.db" '
                 '&& shift 3 && exec "$@"', "sh", TMPFS_SIZE]


def _immutable_files_refuse_writes(folder: Path) -> str:
    """Why chattr +i cannot make a database read-only here ("" when it can): it must stop
    writes through a file that is already open, as ext4 does (tmpfs does not)."""
    if not shutil.which("chattr"):
        return "needs chattr (e2fsprogs)"
    probe = folder / "probe"
    descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode:
            return f"{folder}'s filesystem has no immutable files"
        try:
            os.write(descriptor, b"x")
        except PermissionError:
            return ""
        return f"{folder}'s filesystem lets an open immutable file be written (tmpfs does)"
    finally:
        os.close(descriptor)
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
        probe.unlink()


def _private_tmpfs_available(folder: Path) -> str:
    """Why no small tmpfs can be mounted for the server ("" when it can): it needs a private
    mount namespace (root with CAP_SYS_ADMIN, util-linux's unshare)."""
    if not shutil.which("unshare"):
        return "needs unshare (util-linux)"
    folder.mkdir()
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount -t tmpfs -o size=1m tmpfs "$0"', str(folder)],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode:
        return f"cannot mount a tmpfs in a private mount namespace: {probe.stderr.strip()}"
    return ""


class SQLiteServer:
    """gunicorn on a SQLite file of its own. ``path(name)`` reaches a file beside it from here;
    ``query`` and ``keep_open`` open the database where the server sees it: SQLite resolves
    /proc/<pid>/root to "/" and would open another file, so in the server's mount namespace
    they run in a Python process of their own (nsenter)."""

    def __init__(self, server: GunicornServer, data: Path, own_mounts: bool):
        self.server, self.url = server, server.url
        self.database = data / "gotrue.db"
        self._namespace = (["nsenter", "-t", str(server.process.pid), "-m"]
                           if own_mounts else [])
        self._view = (Path(f"/proc/{server.process.pid}/root") / data.relative_to("/")
                      if own_mounts else data)

    def path(self, name: str) -> Path:
        return self._view / name

    def query(self, sql: str, *params) -> list[tuple]:
        done = subprocess.run(
            [*self._namespace, sys.executable, "-c", _QUERY, str(self.database), sql,
             json.dumps(params)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return [tuple(row) for row in json.loads(done.stdout)]

    @contextlib.contextmanager
    def keep_open(self):
        """A connection of another process holds the database open for the block."""
        keeper = subprocess.Popen(
            [*self._namespace, sys.executable, "-c", _KEEP_OPEN, str(self.database)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert keeper.stdout.readline().strip() == "open"
            yield
        finally:
            keeper.communicate(timeout=30)  # closes its stdin: it ends


_QUERY = """
import json, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=10)
print(json.dumps(connection.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()))
"""
_KEEP_OPEN = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("SELECT count(*) FROM users").fetchall()
print("open", flush=True)
sys.stdin.read()
"""


def _serve(test_database, tmp_path: Path, *, on_tmpfs: bool):
    """Start gunicorn on a copy of the run's migrated database (on a tmpfs of its own when
    ``on_tmpfs``); yield its SQLiteServer, then stop it."""
    seed, data = tmp_path / "seed.db", tmp_path / "data"
    data.mkdir()
    # VACUUM INTO: a compact copy. The run's file keeps the pages of every row earlier tests
    # deleted, and could outgrow the small tmpfs before the test has written anything.
    origin = sqlite3.connect(test_database.url.removeprefix("sqlite:///"))
    try:
        origin.execute("VACUUM INTO ?", (str(seed if on_tmpfs else data / "gotrue.db"),))
    finally:
        origin.close()
    listener, port = loopback_listener()
    workdir = tmp_path / "cwd"  # empty: no .env, no gunicorn.conf.py
    workdir.mkdir()
    log_path = tmp_path / "gunicorn.log"
    prefix = [*_IN_NAMESPACE, str(data), str(seed)] if on_tmpfs else []
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*prefix, str(GUNICORN), "--bind", f"fd://{listener.fileno()}", "--workers", "1",
             "--worker-class", "gthread", "--threads", "4", "--pythonpath", str(REPO_ROOT),
             "--graceful-timeout", "5", "--no-control-socket", "--log-level", "warning",
             "wsgi:app"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),),
            env=server_environment(
                test_database, GOTRUE_DB_DATABASE_URL=f"sqlite:///{data}/gotrue.db",
                GOTRUE_RATE_LIMIT_STORAGE_URL=f"sqlite:///{tmp_path}/ratelimits.sqlite3",
                GOTRUE_RATE_LIMIT_TOKEN_REFRESH="100000"))
    listener.close()
    server = GunicornServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_until_healthy(server)
        yield SQLiteServer(server, data, own_mounts=on_tmpfs)
    finally:
        server.stop()


def _skip_unless_sqlite(test_database) -> None:
    if test_database.backend != "sqlite":
        pytest.skip("SQLite's read-only file and full disk: run on the SQLite run (the "
                    "server databases' faults are in test_database_restart.py)")


@pytest.fixture
def server_on_disk(test_database, tmp_path):
    _skip_unless_sqlite(test_database)
    reason = _immutable_files_refuse_writes(tmp_path)
    if reason:
        pytest.skip(reason)
    yield from _serve(test_database, tmp_path, on_tmpfs=False)


@pytest.fixture
def server_on_small_tmpfs(test_database, tmp_path):
    _skip_unless_sqlite(test_database)
    reason = _private_tmpfs_available(tmp_path / "probe")
    if reason:
        pytest.skip(reason)
    yield from _serve(test_database, tmp_path, on_tmpfs=True)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body.pop("error_id")
    assert body == UNAVAILABLE
    assert response.headers["Retry-After"] == "1"


def _signup(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/signup", json={"email": email, "password": PASSWORD})


def _signed_in(client: httpx.Client) -> dict:
    response = _signup(client, unique_email("sqlite"))
    assert response.status_code == 200, response.text
    return response.json()


def _check_writes_refused_and_reads_served(client: httpx.Client, session: dict,
                                           new_email: str) -> None:
    for _ in range(3):  # each of the server's threads and connections meets the condition
        _assert_unavailable(_signup(client, new_email))
        _assert_unavailable(client.post("/token?grant_type=refresh_token",
                                        json={"refresh_token": session["refresh_token"]}))
        _assert_unavailable(client.post("/token?grant_type=password", json={
            "email": session["user"]["email"], "password": PASSWORD}))
        me = client.get("/user", headers={"Authorization": f"Bearer {session['access_token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["id"] == session["user"]["id"]
        assert client.get("/settings").status_code == 200
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 200  # it only reads


def _check_recovered(server: SQLiteServer, client: httpx.Client, session: dict,
                     new_email: str) -> None:
    assert server.query("PRAGMA integrity_check") == [("ok",)]
    # The refused sign-up left nothing behind: no user, no identity.
    assert server.query("SELECT count(*) FROM users WHERE email = ?", new_email) == [(0,)]
    assert server.query("SELECT count(*) FROM identities WHERE email = ?", new_email) == [(0,)]
    # Writes succeed again; a connection opened during the condition may refuse once more
    # (503, Retry-After) before the pool replaces it: each thread of each worker has its own,
    # so the sign-up and the refresh may each meet one. A refused refresh rotated nothing: the
    # same refresh token works once a fresh connection serves it.
    signup = _once_recovered(server, lambda: _signup(client, new_email))
    assert signup.status_code == 200, signup.text
    refreshed = _once_recovered(server, lambda: client.post(
        "/token?grant_type=refresh_token", json={"refresh_token": session["refresh_token"]}))
    assert refreshed.status_code == 200, refreshed.text
    assert server.query("SELECT count(*) FROM users WHERE email = ?", new_email) == [(1,)]
    assert server.query("PRAGMA integrity_check") == [("ok",)]


def _once_recovered(server: SQLiteServer, send) -> httpx.Response:
    """The first answer of ``send()`` that is not the database-unavailable 503."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while (response := send()).status_code == 503:
        _assert_unavailable(response)
        assert time.monotonic() < deadline, f"writes still refused:\n{server.server.log_tail()}"
        time.sleep(0.1)
    return response


def _chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def test_a_read_only_database_refuses_writes_with_503_and_serves_reads(server_on_disk):
    sqlite_server = server_on_disk
    files = (sqlite_server.path("gotrue.db"), sqlite_server.path("gotrue.db-wal"))
    new_email = unique_email("readonly")
    with httpx.Client(base_url=sqlite_server.url, timeout=30) as client:
        session = _signed_in(client)
        _chattr("+i", *files)
        try:
            _check_writes_refused_and_reads_served(client, session, new_email)
        finally:
            _chattr("-i", *files)
        _check_recovered(sqlite_server, client, session, new_email)
    log = sqlite_server.server.log_tail(100_000)
    assert "database unavailable (read_only," in log or "database unavailable (io_error," in log
    assert "Traceback" not in log


def test_a_full_disk_refuses_writes_with_503_and_serves_reads(server_on_small_tmpfs):
    sqlite_server = server_on_small_tmpfs
    new_email = unique_email("full")
    filler = sqlite_server.path("filler")
    with httpx.Client(base_url=sqlite_server.url, timeout=30) as client:
        session = _signed_in(client)
        # The write-ahead log goes back to nothing, so the next write must take a new block.
        deadline = time.monotonic() + RECOVERY_SECONDS
        while sqlite_server.query("PRAGMA wal_checkpoint(TRUNCATE)")[0][0] != 0:
            assert time.monotonic() < deadline, "the write-ahead log stayed busy"
            time.sleep(0.05)
        # SQLite deletes the write-ahead log's index (-shm) when its last connection closes,
        # and the server drops its connections on such errors: that would free 32 KiB for the
        # next writes. Another process's connection keeps the index, as another worker would.
        with sqlite_server.keep_open():
            _fill(filler)
            try:
                _check_writes_refused_and_reads_served(client, session, new_email)
            finally:
                filler.unlink()
        _check_recovered(sqlite_server, client, session, new_email)
    log = sqlite_server.server.log_tail(100_000)
    assert "database unavailable (full," in log
    assert "Traceback" not in log


def _fill(path: Path) -> None:
    """Write zeros into ``path`` until the filesystem has not a byte left."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Large writes first; what one could not take, the smaller ones do.
        for size in (1 << 20, 4096, 1):
            zeros = bytes(size)
            try:
                while True:
                    os.write(descriptor, zeros)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(descriptor)
