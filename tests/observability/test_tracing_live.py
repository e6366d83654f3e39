"""Traces from the server as it runs in production: ``gunicorn wsgi:app`` with two workers, the
app not preloaded, so each worker builds its own tracer provider after the fork. The batch is
held back (OTEL_BSP_SCHEDULE_DELAY of ten minutes), so the spans reach the receiver only
because each worker sends what it holds as it shuts down."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from ..live.conftest import start_gunicorn  # noqa: F401 - the fixture
from .otlp_receiver import OTLPReceiver, children, server_spans, status_of

pytestmark = pytest.mark.live

HEADERS = {"X-Supabase-Api-Version": "2024-01-01", "apikey": "live-apikey-value-0042"}
PASSWORD = "Live-tracing-password-0042"
VERIFY_TOKEN = "live-verify-token-0042"


@pytest.fixture
def receiver():
    server = OTLPReceiver()
    server.start()
    yield server
    server.stop()


def _worker_pids(master_pid: int, count: int) -> set[int]:
    """The pids of the master's ``count`` workers, once it has forked them all."""
    children_file = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    deadline = time.monotonic() + 30
    while True:
        pids = {int(pid) for pid in children_file.read_text().split()}
        if len(pids) >= count or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def test_worker_spans_reach_the_collector_when_the_server_stops(start_gunicorn,  # noqa: F811
                                                                receiver):
    server = start_gunicorn(
        workers=2, GOTRUE_TRACING_ENABLED="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME="auth-live",
        GOTRUE_TRACING_TAGS="deployment.environment:live",
        OTEL_BSP_SCHEDULE_DELAY="600000")
    master_pid = server.process.pid
    workers = _worker_pids(master_pid, 2)
    assert len(workers) == 2
    email = f"live-traced-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        signed_up = client.post("/signup", json={"email": email, "password": PASSWORD})
        assert signed_up.status_code == 200, signed_up.text
        session = signed_up.json()
        assert client.get("/user", headers={
            "Authorization": f"Bearer {session['access_token']}"}).status_code == 200
        refreshed = client.post("/token?grant_type=refresh_token",
                                json={"refresh_token": session["refresh_token"]})
        assert refreshed.status_code == 200
        assert client.get(f"/verify?token={VERIFY_TOKEN}&type=magiclink").status_code == 303

    server.stop()
    assert server.process.returncode == 0, server.log_tail()
    expected = {("/signup", "POST"): 200, ("/user", "GET"): 200, ("/token", "POST"): 200,
                ("/verify", "GET"): 303}
    spans = receiver.wait_for(
        lambda spans: all(server_spans(spans, *key) for key in expected),
        "server span of each request")
    for key, status in expected.items():
        (span,) = server_spans(spans, *key)
        assert status_of(span) == status
        assert children(spans, span), f"{key}: no database span under the request's span"
        assert span.resource["service.name"] == "auth-live"
        assert span.resource["deployment.environment"] == "live"
        # Made in a worker, not in the master before the fork.
        assert span.resource["process.pid"] in workers
    exported = receiver.raw()
    for secret in (PASSWORD, VERIFY_TOKEN, HEADERS["apikey"], session["access_token"],
                   session["refresh_token"], refreshed.json()["refresh_token"], email):
        assert secret.encode() not in exported, secret
