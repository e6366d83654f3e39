"""GOTRUE_LOG_FILE: the JSON log lines go to that file instead of stdout and stderr, in the app
and under gunicorn (where the start-up warnings are logged once, by the master)."""

from __future__ import annotations

import json
import logging
import subprocess

import httpx
import pytest

from gotrue_web.observability import logs

from ..live.conftest import (
    GUNICORN,
    REPO_ROOT,
    GunicornServer,
    _wait_until_healthy,
    loopback_listener,
    server_environment,
)


@pytest.fixture
def restore_log_handlers():
    yield
    logs.configure(logging.INFO)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_and_request_lines_go_to_the_file(make_app, tmp_path, capsys,
                                                   restore_log_handlers):
    path = tmp_path / "gotrue.log"
    app = make_app(log_file=str(path))
    assert app.test_client().get("/health").status_code == 200
    logging.getLogger("gotrue_web.test").warning("a record for the log file")

    lines = _lines(path)
    assert [line for line in lines if line["component"] == "api"][0]["path"] == "/health"
    assert any(line["msg"] == "a record for the log file" and line["level"] == "warning"
               for line in lines)
    captured = capsys.readouterr()
    assert "request completed" not in captured.out
    assert "a record for the log file" not in captured.err


def test_without_the_setting_records_go_to_stderr_again(make_app, tmp_path, capsys,
                                                         restore_log_handlers):
    path = tmp_path / "gotrue.log"
    make_app(log_file=str(path))
    make_app()
    logging.getLogger("gotrue_web.test").warning("back on stderr")
    assert "back on stderr" in capsys.readouterr().err
    assert "back on stderr" not in path.read_text()


def test_a_log_file_that_cannot_be_opened_names_the_variable(tmp_path):
    with pytest.raises(OSError, match="GOTRUE_LOG_FILE: cannot open"):
        logs.LogFile(str(tmp_path / "missing-folder" / "gotrue.log"))


@pytest.mark.live
def test_gunicorn_writes_every_line_to_the_file_and_warns_once(test_database, tmp_path):
    path = tmp_path / "gotrue.log"
    listener, port = loopback_listener()
    env = server_environment(
        test_database, WEB_CONCURRENCY="2", GOTRUE_LOG_LEVEL="info", LOG_FILE=str(path),
        GOTRUE_SMTP_PROT="2525",
        GOTRUE_RATE_LIMIT_STORAGE_URL=f"sqlite://{tmp_path}/ratelimits.sqlite3")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", str(REPO_ROOT / "gunicorn.conf.py"),
             "--pythonpath", str(REPO_ROOT), "--bind", f"fd://{listener.fileno()}",
             "--graceful-timeout", "5", "wsgi:app"],
            cwd=workdir, env=env, stdout=out, stderr=err, pass_fds=(listener.fileno(),))
    listener.close()
    server = GunicornServer(url=f"http://127.0.0.1:{port}", process=process, log_path=path)
    try:
        _wait_until_healthy(server)
        for _ in range(4):
            assert httpx.get(server.url + "/settings", timeout=30).status_code == 200
    finally:
        server.stop()

    lines = _lines(path)
    warnings = [line for line in lines if line["component"] == "gotrue_web.configuration"]
    assert [line["msg"] for line in warnings] == [
        "GOTRUE_SMTP_PROT: unknown variable, did you mean GOTRUE_SMTP_PORT?"]
    assert sum(line["component"] == "api" and line["path"] == "/settings" for line in lines) == 4
    assert any(line["component"] == "gunicorn.error" and "Booting worker" in line["msg"]
               for line in lines)
    assert out_path.read_text() == ""
    assert err_path.read_text() == ""
