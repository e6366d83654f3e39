"""One JSON line per request on stdout (GoTrue's field names), and request ids: taken from
GOTRUE_API_REQUEST_ID_HEADER when configured, generated otherwise, echoed on the answer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ..conftest import api_for
from .support import REQUEST_FIELDS, UUID4, json_lines, parse_time, request_lines

HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}


def test_a_request_writes_one_json_line_with_gotrue_field_names(app, capsys):
    before = datetime.now(timezone.utc)
    response = app.test_client().get("/health", headers=HEADERS)
    after = datetime.now(timezone.utc)
    assert response.status_code == 200

    out = capsys.readouterr().out
    [line] = out.splitlines()
    entry = json.loads(line)
    assert set(entry) == REQUEST_FIELDS
    assert list(entry) == sorted(entry), "keys in alphabetical order, as logrus writes them"
    assert entry["component"] == "api"
    assert entry["level"] == "info"
    assert entry["msg"] == "request completed"
    assert entry["method"] == "GET"
    assert entry["path"] == "/health"
    assert entry["status"] == 200
    assert entry["remote_addr"] == "127.0.0.1"
    # Nanoseconds, as GoTrue writes a duration: more than nothing, less than the test took.
    assert isinstance(entry["duration"], int)
    assert 0 < entry["duration"] < (after - before) / timedelta(microseconds=1) * 1000 + 1
    logged_at = parse_time(entry["time"])
    assert before - timedelta(seconds=1) <= logged_at <= after + timedelta(seconds=1)
    assert UUID4.fullmatch(entry["request_id"])
    assert response.headers["X-Request-Id"] == entry["request_id"]


def test_errors_console_pages_and_prefixed_routes_are_logged_with_their_status(app, capsys):
    client = app.test_client()
    assert client.get("/auth/v1/user", headers=HEADERS).status_code == 401
    assert client.post("/token?grant_type=nonsense", headers=HEADERS, json={}).status_code == 400
    assert client.get("/no-such-route", headers=HEADERS).status_code == 404
    assert client.get("/console/login").status_code == 200

    lines = request_lines(capsys.readouterr().out)
    assert [(e["method"], e["path"], e["status"]) for e in lines] == [
        ("GET", "/auth/v1/user", 401), ("POST", "/token", 400), ("GET", "/no-such-route", 404),
        ("GET", "/console/login", 200)]
    assert len({e["request_id"] for e in lines}) == 4


def test_an_unexpected_failure_is_logged_as_a_500_with_the_traceback_apart(make_app, capsys):
    app = make_app()

    def broken():
        raise RuntimeError("fetching https://hooks.example.com/cb?token=hook-secret-123 failed")

    app.add_url_rule("/broken-for-test", view_func=broken)
    response = app.test_client().get("/broken-for-test?code=query-code-456", headers=HEADERS)
    assert response.status_code == 500
    assert response.get_json()["code"] == "unexpected_failure"

    captured = capsys.readouterr()
    [line] = request_lines(captured.out)
    assert (line["path"], line["status"]) == ("/broken-for-test", 500)
    [record] = [e for e in json_lines(captured.err) if e["component"] == "gotrue_web.api"]
    assert record["level"] == "error"
    assert record["msg"] == "unexpected failure while handling GET /broken-for-test"
    assert "RuntimeError" in record["error"] and "Traceback" in record["error"]
    # The record carries the request's id, so the two lines can be joined.
    assert record["request_id"] == line["request_id"] == response.headers["X-Request-Id"]
    for secret in ("hook-secret-123", "query-code-456"):
        assert secret not in captured.out and secret not in captured.err
    assert "https://hooks.example.com/cb?[redacted]" in record["error"]


def test_a_non_ascii_path_is_logged_as_the_client_sent_it(app, capsys):
    assert app.test_client().get("/caf%C3%A9", headers=HEADERS).status_code == 404
    [line] = request_lines(capsys.readouterr().out)
    assert line["path"] == "/café"


# --- request ids ------------------------------------------------------------------------------


def test_the_configured_header_gives_the_request_id_and_carries_it_back(make_app, capsys):
    app = make_app(**{"api.request_id_header": "X-Trace-Id"})
    client = app.test_client()
    response = client.get("/health", headers={**HEADERS, "X-Trace-Id": "proxy-7f3a/req:42"})
    assert response.headers["X-Trace-Id"] == "proxy-7f3a/req:42"
    assert "X-Request-Id" not in response.headers

    # Without the header the server makes one, and answers in the configured header.
    generated = client.get("/health", headers=HEADERS).headers["X-Trace-Id"]
    assert UUID4.fullmatch(generated)

    first, second = request_lines(capsys.readouterr().out)
    assert first["request_id"] == "proxy-7f3a/req:42"
    assert second["request_id"] == generated


def test_without_a_configured_header_a_client_cannot_choose_the_id(app, capsys):
    # GoTrue reads an incoming id only from the header GOTRUE_API_REQUEST_ID_HEADER names.
    response = app.test_client().get("/health", headers={**HEADERS, "X-Request-Id": "chosen"})
    request_id = response.headers["X-Request-Id"]
    assert request_id != "chosen" and UUID4.fullmatch(request_id)
    [line] = request_lines(capsys.readouterr().out)
    assert line["request_id"] == request_id


@pytest.mark.parametrize("incoming", ["x" * 129, "line\tbreak", "ünïcode"])
def test_an_id_unfit_for_logs_or_headers_is_replaced(make_app, capsys, incoming):
    app = make_app(**{"api.request_id_header": "X-Request-Id"})
    response = app.test_client().get(
        "/health", headers={**HEADERS, "X-Request-Id": incoming.encode().decode("latin-1")})
    request_id = response.headers["X-Request-Id"]
    assert UUID4.fullmatch(request_id)
    [line] = request_lines(capsys.readouterr().out)
    assert line["request_id"] == request_id


def test_a_quote_in_an_incoming_id_keeps_the_line_valid_json(make_app, capsys):
    app = make_app(**{"api.request_id_header": "X-Request-Id"})
    incoming = 'a"b\\c'
    response = app.test_client().get("/health", headers={**HEADERS, "X-Request-Id": incoming})
    assert response.headers["X-Request-Id"] == incoming
    [line] = request_lines(capsys.readouterr().out)
    assert line["request_id"] == incoming


def test_generated_ids_differ(app):
    client = app.test_client()
    ids = {client.get("/health", headers=HEADERS).headers["X-Request-Id"] for _ in range(50)}
    assert len(ids) == 50 and all(UUID4.fullmatch(i) for i in ids)


def test_remote_addr_is_the_client_behind_a_trusted_proxy(app, capsys):
    app.test_client().get("/health", headers={**HEADERS, "X-Forwarded-For": "203.0.113.9"},
                          environ_base={"REMOTE_ADDR": "127.0.0.1"})
    app.test_client().get("/health", headers={**HEADERS, "X-Forwarded-For": "203.0.113.9"},
                          environ_base={"REMOTE_ADDR": "198.51.100.4"})
    proxied, direct = request_lines(capsys.readouterr().out)
    assert proxied["remote_addr"] == "203.0.113.9"
    assert direct["remote_addr"] == "198.51.100.4"


# --- log level --------------------------------------------------------------------------------


def test_above_info_no_request_lines_are_written_but_ids_are_still_echoed(make_app, capsys):
    app = make_app(log_level="warning")
    response = app.test_client().get("/health", headers=HEADERS)
    assert UUID4.fullmatch(response.headers["X-Request-Id"])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("level, written", [
    ("debug", {"debug", "info", "warning", "error"}),
    ("info", {"info", "warning", "error"}),
    ("warn", {"warning", "error"}),
    ("error", {"error"}),
    ("fatal", set()),
])
def test_application_records_honour_the_level(make_app, capsys, level, written):
    import logging

    make_app(log_level=level)
    capsys.readouterr()
    logger = logging.getLogger("gotrue_web.services.level_probe")
    logger.debug("probe")
    logger.info("probe")
    logger.warning("probe")
    logger.error("probe")
    entries = [e for e in json_lines(capsys.readouterr().err)
               if e["component"] == "gotrue_web.services.level_probe"]
    assert {e["level"] for e in entries} == written
    assert len(entries) == len(written)
    for entry in entries:
        assert set(entry) == {"component", "level", "msg", "time"}  # no request, no id
        parse_time(entry["time"])


# --- nothing secret ---------------------------------------------------------------------------


def test_no_password_token_or_code_reaches_any_line(make_app, service_role_token, capsys):
    app = make_app(**{"mailer.autoconfirm": True}, log_level="debug")
    api = api_for(app, service_role_token)
    password = "Sekr1t-password-for-logs"
    session = api.session("logs@example.com", password)
    signed_in = api.login("logs@example.com", password)
    assert signed_in.status_code == 200
    wrong = api.login("logs@example.com", password + "-wrong")
    assert wrong.status_code == 400
    refreshed = api.refresh(session["refresh_token"])
    assert refreshed.status_code == 200
    assert api.get("/user", token=refreshed.get_json()["access_token"]).status_code == 200
    link = api.admin("POST", "/admin/generate_link",
                     json={"type": "magiclink", "email": "logs@example.com"}).get_json()
    verified = api.get(f"/verify?token={link['hashed_token']}&type=magiclink"
                       "&redirect_to=http://localhost:3000/welcome")
    assert verified.status_code == 303
    code = api.post("/verify", json={"type": "magiclink", "email": "logs@example.com",
                                     "token": "000000"})
    assert code.status_code in (400, 403)

    captured = capsys.readouterr()
    lines = json_lines(captured.out)
    json_lines(captured.err)  # every line on stderr is JSON too
    assert [(e["method"], e["path"]) for e in request_lines(captured.out)] == [
        ("POST", "/signup"), ("POST", "/token"), ("POST", "/token"), ("POST", "/token"),
        ("GET", "/user"), ("POST", "/admin/generate_link"), ("GET", "/verify"),
        ("POST", "/verify")]
    assert len(lines) == 8
    secrets = [password, session["access_token"], session["refresh_token"],
               signed_in.get_json()["refresh_token"], refreshed.get_json()["refresh_token"],
               refreshed.get_json()["access_token"], link["hashed_token"], link["email_otp"],
               service_role_token, "grant_type", "redirect_to"]
    everything = captured.out + captured.err
    for secret in secrets:
        assert secret not in everything
    assert "?" not in "".join(e["path"] for e in lines)
