"""GOTRUE_LOG_LEVEL and GOTRUE_API_REQUEST_ID_HEADER as the settings reader and gunicorn.conf.py
take them, and the JSON formatter that gunicorn's error log shares with the app."""

from __future__ import annotations

import json
import logging
import runpy
import sys

import pytest

from gotrue_web.observability.logs import JSONFormatter, gunicorn_level, python_level, redact
from gotrue_web.settings import SettingsError

from ..live.conftest import REPO_ROOT
from ..test_settings import REQUIRED, load


def test_the_request_id_header_is_gotrues_variable_and_unset_by_default():
    assert load().api.request_id_header == ""
    assert load(GOTRUE_API_REQUEST_ID_HEADER="X-Request-Id").api.request_id_header == \
        "X-Request-Id"


@pytest.mark.parametrize("value", ["X Request Id", "X-Request-Id:", "X-Ré"])
def test_a_request_id_header_that_is_no_header_name_stops_start_up(value):
    with pytest.raises(SettingsError, match="GOTRUE_API_REQUEST_ID_HEADER"):
        load(GOTRUE_API_REQUEST_ID_HEADER=value)


def test_the_log_level_falls_back_to_the_unprefixed_variable():
    assert load().log_level == "info"
    assert load(LOG_LEVEL="DEBUG").log_level == "debug"
    assert load(LOG_LEVEL="debug", GOTRUE_LOG_LEVEL="error").log_level == "error"


@pytest.mark.parametrize("name, python, gunicorn", [
    ("trace", logging.DEBUG, "debug"), ("debug", logging.DEBUG, "debug"),
    ("info", logging.INFO, "info"), ("warn", logging.WARNING, "warning"),
    ("warning", logging.WARNING, "warning"), ("error", logging.ERROR, "error"),
    ("fatal", logging.CRITICAL, "critical"), ("panic", logging.CRITICAL, "critical"),
    ("nonsense", logging.INFO, "info"),
])
def test_logrus_level_names_map_to_python_and_gunicorn(name, python, gunicorn):
    assert python_level(name) == python
    assert gunicorn_level(name) == gunicorn


@pytest.mark.parametrize("level, expected", [("warn", "warning"), (None, "info")])
def test_gunicorn_conf_turns_its_access_log_off_and_takes_the_level(
        monkeypatch, tmp_path, level, expected):
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GOTRUE_LOG_LEVEL", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    if level:
        monkeypatch.setenv("GOTRUE_LOG_LEVEL", level)
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setattr(sys, "path", [str(REPO_ROOT), *sys.path])
    conf = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))
    assert conf["accesslog"] is None
    assert conf["errorlog"] == "-"
    assert conf["loglevel"] == expected


def _record(message: str, *args, level=logging.ERROR, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("gunicorn.error", level, __file__, 1, message, args, exc_info)


def test_a_record_is_one_json_line_with_gotrue_field_names():
    line = JSONFormatter().format(_record("Worker (pid:%s) was sent SIGKILL!", 42))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {"component": "gunicorn.error", "level": "error",
                     "msg": "Worker (pid:42) was sent SIGKILL!", "time": entry["time"]}
    assert JSONFormatter().format(_record("x", level=logging.CRITICAL)).count('"fatal"') == 1


def test_query_strings_and_bound_parameters_never_reach_a_line():
    try:
        raise ValueError("(psycopg.errors.X) boom\n[SQL: SELECT 1 WHERE token = %(token)s]\n"
                         "[parameters: {'token': 'pkce-secret-789'}]")
    except ValueError:
        exc_info = sys.exc_info()
    entry = json.loads(JSONFormatter().format(_record(
        "Error handling request %s", "/verify?token=abc-secret&type=signup",
        exc_info=exc_info)))
    assert entry["msg"] == "Error handling request /verify?[redacted]"
    assert "pkce-secret-789" not in entry["error"]
    assert "[parameters hidden]" in entry["error"]
    assert "SELECT 1 WHERE token = %(token)s" in entry["error"]


@pytest.mark.parametrize("text", [
    "is this a question? yes", "WHERE id = ? AND aud = ?", "ratio 3?",
])
def test_text_that_only_looks_like_a_query_is_left_alone(text):
    assert redact(text) == text
