"""Live configuration under real gunicorn workers: a setting changed on the console's
Configuration page (over HTTP, so one worker takes the POST) reaches both workers within
GOTRUE_CONSOLE_LIVE_SETTINGS_INTERVAL, and so does its revert. Which worker answered each
request is read from gunicorn's access log (its process id)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gotrue_web.console.operations import operators
from gotrue_web.extensions import db

from ..factories import unique_email

pytestmark = pytest.mark.live

HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}
OPERATOR, PASSWORD = "live-config@example.com", "operator-password-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECONDS = 10


def _served(server) -> list[tuple[str, str, str]]:
    """(worker pid, status, path) of every request so far."""
    return [tuple(line.split()[1:4]) for line in server.log_tail(100_000).splitlines()
            if line.startswith("served-by ")]


def _burst(server, send, count: int = 12) -> list:
    """``count`` requests, four at a time, each on a new connection (so both sync workers
    take some)."""
    def one(_):
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
            return send(client)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(count)))


def _until_both_workers(server, path: str, send, expected) -> None:
    """Bursts of ``send`` until every answer is ``expected`` and both workers have given it
    (requests to ``path``); fails after SECONDS."""
    deadline = time.monotonic() + SECONDS
    workers: set[str] = set()
    while len(workers) < 2:
        before = len(_served(server))
        answers = _burst(server, send)
        if all(answer == expected for answer in answers):
            workers |= {pid for pid, _, served in _served(server)[before:] if served == path}
        else:
            workers = set()
        assert time.monotonic() < deadline, f"{answers} ({workers}):\n{server.log_tail()}"


def _disable_signup(client: httpx.Client) -> bool:
    return client.get("/settings").json()["disable_signup"]


def _signup_code(client: httpx.Client) -> str:
    response = client.post("/signup", json={"email": unique_email("live-config"),
                                            "password": "Pass-word-123"})
    return "ok" if response.status_code == 200 else response.json()["code"]


def _signed_in_console(server) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.url, timeout=30, trust_env=False)
    token = _CSRF.search(client.get("/console/login").text).group(1)
    signed_in = client.post("/console/login", data={"email": OPERATOR, "password": PASSWORD,
                                                    "totp_code": "", "csrf_token": token})
    assert signed_in.status_code == 303, signed_in.text
    page = client.get("/console/configuration")
    assert page.status_code == 200
    return client, _CSRF.search(page.text).group(1)


def test_a_change_reaches_both_workers_within_the_interval(start_gunicorn, make_app):
    app = make_app()
    with app.app_context():
        operators.create(app.extensions["gotrue"], OPERATOR, PASSWORD)
        db.session.commit()
    server = start_gunicorn(
        workers=2, threads=1,
        extra_args=("--worker-class", "sync", "--access-logfile", "-",
                    "--access-logformat", "served-by %(p)s %(s)s %(U)s"),
        GOTRUE_CONSOLE_LIVE_SETTINGS_INTERVAL="300ms", GOTRUE_RATE_LIMIT_OTP="1000")
    # Both workers have loaded the settings (and run their refresher) before the change.
    _until_both_workers(server, "/settings", _disable_signup, False)

    console, token = _signed_in_console(server)
    changed = console.post("/console/configuration/disable_signup",
                           data={"value": "true", "csrf_token": token})
    assert changed.status_code == 303, changed.text
    # One worker took the POST; the other learns of it within 300 ms (SECONDS at most here,
    # for a loaded machine).
    _until_both_workers(server, "/settings", _disable_signup, True)
    _until_both_workers(server, "/signup", _signup_code, "signup_disabled")

    reverted = console.post("/console/configuration/disable_signup/revert",
                            data={"csrf_token": token})
    assert reverted.status_code == 303, reverted.text
    _until_both_workers(server, "/settings", _disable_signup, False)
    _until_both_workers(server, "/signup", _signup_code, "ok")
