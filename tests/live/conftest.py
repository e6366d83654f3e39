"""Fixtures for tests that drive the server over real HTTP: gunicorn processes on loopback.

``start_gunicorn(**env)`` runs ``gunicorn wsgi:app`` as a separate process against the run's
database (the same file, schema or database the in-process app uses), configured only through
GoTrue's environment variables, on a socket bound here so no port is guessed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ..conftest import JWT_SECRET

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
STARTUP_SECONDS = 30


def server_environment(test_database, **overrides: str) -> dict[str, str]:
    """GoTrue's variables for a server process on the run's database (same secret as tests)."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("GOTRUE_") and key not in ("DATABASE_URL", "API_EXTERNAL_URL")
    }
    env.update({
        "GOTRUE_SITE_URL": "http://localhost:3000",
        "API_EXTERNAL_URL": "http://localhost:9999",
        "GOTRUE_JWT_SECRET": JWT_SECRET,
        "GOTRUE_JWT_AUD": "authenticated",
        "GOTRUE_JWT_DEFAULT_GROUP_NAME": "authenticated",
        "GOTRUE_MAILER_AUTOCONFIRM": "true",
        "GOTRUE_DB_DATABASE_URL": test_database.url,
        "GOTRUE_DB_NAMESPACE": test_database.namespace,
        "GOTRUE_LOG_LEVEL": "warning",
        # No cleanup thread: it would judge the rows of tests that date them in the past by
        # the real clock and delete them from under those tests.
        "GOTRUE_DB_CLEANUP_INTERVAL": "0",
    })
    env.update(overrides)
    return env


@dataclass
class GunicornServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_until_healthy(server: GunicornServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"gunicorn did not answer /health in {STARTUP_SECONDS}s:\n{server.log_tail()}")


def loopback_listener(backlog: int = 64) -> tuple[socket.socket, int]:
    """A listening socket on a free loopback port, handed to gunicorn as ``--bind fd://N`` so
    no port is guessed; close it here once gunicorn has started."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    return listener, listener.getsockname()[1]


@pytest.fixture
def start_gunicorn(test_database, tmp_path):
    """Start ``gunicorn wsgi:app`` processes; each is stopped after the test."""
    servers: list[GunicornServer] = []

    def start(*, threads: int = 4, workers: int = 1, extra_args: tuple[str, ...] = (),
              **env_overrides: str) -> GunicornServer:
        listener, port = loopback_listener()
        log_path = tmp_path / f"gunicorn-{port}.log"
        # The working directory is empty so that no developer's .env file leaks in.
        workdir = tmp_path / f"cwd-{port}"
        workdir.mkdir()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(GUNICORN), "--bind", f"fd://{listener.fileno()}", "--workers", str(workers),
                 "--worker-class", "gthread", "--threads", str(threads),
                 "--pythonpath", str(REPO_ROOT), "--graceful-timeout", "5",
                 # The default control socket lives in $HOME and two servers would share it.
                 "--no-control-socket", "--log-level", "warning", *extra_args, "wsgi:app"],
                cwd=workdir, env=server_environment(test_database, **{
                    # Each test's servers count requests apart from other tests'.
                    "GOTRUE_RATE_LIMIT_STORAGE_URL": f"sqlite://{tmp_path}/ratelimits.sqlite3",
                    **env_overrides}),
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),),
            )
        listener.close()
        server = GunicornServer(url=f"http://127.0.0.1:{port}", process=process,
                                log_path=log_path)
        servers.append(server)
        _wait_until_healthy(server)
        return server

    yield start
    for server in servers:
        server.stop()


JS_DIR = Path(__file__).resolve().parent / "js"
NPM_SECONDS = 300


@pytest.fixture(scope="session")
def auth_js() -> Path:
    """tests/live/js with its node_modules installed (npm skips the work when up to date).

    A missing node/npm or an unreachable registry fails the test; it never skips."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        pytest.fail("node and npm are needed to test @supabase/auth-js")
    # xdist workers share the folder: one npm at a time, the others then find it up to date.
    lock_path = Path(tempfile.gettempdir()) / (
        "gotrue-web-npm-" + hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:16] + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            installed = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=JS_DIR,
                                       capture_output=True, text=True, timeout=NPM_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm install did not finish in {NPM_SECONDS}s")
    if installed.returncode != 0:
        pytest.fail(f"npm install failed ({installed.returncode}):\n{installed.stderr[-3000:]}")
    return JS_DIR
