"""The server as shipped (gunicorn with the repository's gunicorn.conf.py): every line it writes,
on stdout and stderr, is a JSON object; each request gives exactly one line; and nothing secret
is in any of them."""

from __future__ import annotations

import subprocess
import uuid
from collections import Counter

import httpx
import pytest

from ..live.conftest import (
    GUNICORN,
    REPO_ROOT,
    GunicornServer,
    _wait_until_healthy,
    loopback_listener,
    server_environment,
)
from .support import REQUEST_FIELDS, json_lines, parse_time, request_lines

pytestmark = pytest.mark.live

HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}


@pytest.fixture
def shipped_server(test_database, tmp_path):
    """gunicorn --config gunicorn.conf.py, one worker, GOTRUE_LOG_LEVEL=info, stdout and stderr
    in files of their own."""
    listener, port = loopback_listener()
    env = server_environment(
        test_database, WEB_CONCURRENCY="1", GOTRUE_LOG_LEVEL="info",
        GOTRUE_API_REQUEST_ID_HEADER="X-Request-Id",
        GOTRUE_RATE_LIMIT_STORAGE_URL=f"sqlite://{tmp_path}/ratelimits.sqlite3")
    workdir = tmp_path / "cwd"  # empty: no developer's .env
    workdir.mkdir()
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", str(REPO_ROOT / "gunicorn.conf.py"),
             "--pythonpath", str(REPO_ROOT), "--bind", f"fd://{listener.fileno()}",
             "--graceful-timeout", "5", "wsgi:app"],
            cwd=workdir, env=env, stdout=out, stderr=err, pass_fds=(listener.fileno(),))
    listener.close()
    server = GunicornServer(url=f"http://127.0.0.1:{port}", process=process, log_path=err_path)
    _wait_until_healthy(server)
    yield server, out_path, err_path
    server.stop()


def test_every_line_is_json_and_each_request_writes_one(shipped_server):
    server, out_path, err_path = shipped_server
    email = f"live-logs-{uuid.uuid4().hex[:8]}@example.com"
    password = "Live-logs-password-42"
    ids = [f"live-{uuid.uuid4().hex[:8]}-{n}" for n in range(6)]

    def call(n: int, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {**HEADERS, "X-Request-Id": ids[n], **kwargs.pop("headers", {})}
        response = httpx.request(method, server.url + path, headers=headers, timeout=30,
                                 **kwargs)
        assert response.headers["X-Request-Id"] == ids[n]
        return response

    session = call(0, "POST", "/signup", json={"email": email, "password": password}).json()
    signed_in = call(1, "POST", "/token?grant_type=password",
                     json={"email": email, "password": password})
    assert signed_in.status_code == 200
    refreshed = call(2, "POST", "/token?grant_type=refresh_token",
                     json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200
    verify = call(3, "GET", "/verify?token=not-a-real-token-0042&type=magiclink"
                  "&redirect_to=http://localhost:3000/")
    assert verify.status_code == 303
    assert call(4, "GET", "/user",
                headers={"Authorization": f"Bearer {session['access_token']}"}).status_code == 200
    assert call(5, "GET", "/no-such-page?code=query-code-0042").status_code == 404
    server.stop()  # flushes and closes both streams

    out, err = out_path.read_text(), err_path.read_text()
    stdout_entries, stderr_entries = json_lines(out), json_lines(err)  # fail on any plain line
    requests = request_lines(out)
    assert len(requests) == len(stdout_entries), "stdout holds the request lines only"
    per_id = Counter(entry["request_id"] for entry in requests)
    assert [per_id[request_id] for request_id in ids] == [1] * len(ids)
    mine = {entry["request_id"]: entry for entry in requests if entry["request_id"] in ids}
    assert [(mine[i]["method"], mine[i]["path"], mine[i]["status"]) for i in ids] == [
        ("POST", "/signup", 200), ("POST", "/token", 200), ("POST", "/token", 200),
        ("GET", "/verify", 303), ("GET", "/user", 200), ("GET", "/no-such-page", 404)]
    for entry in requests:
        assert set(entry) == REQUEST_FIELDS
        assert entry["remote_addr"] == "127.0.0.1"
        parse_time(entry["time"])

    # gunicorn's own messages are JSON lines too, at the level GOTRUE_LOG_LEVEL gave it.
    gunicorn = [entry for entry in stderr_entries if entry["component"] == "gunicorn.error"]
    assert any(entry["msg"].startswith("Booting worker with pid") for entry in gunicorn)
    assert all(entry["level"] in ("info", "warning", "error", "fatal") for entry in gunicorn)
    for entry in stderr_entries:
        assert {"component", "level", "msg", "time"} <= set(entry)

    for secret in (password, session["access_token"], session["refresh_token"],
                   signed_in.json()["refresh_token"], refreshed.json()["refresh_token"],
                   "not-a-real-token-0042", "query-code-0042", "grant_type"):
        assert secret not in out and secret not in err
