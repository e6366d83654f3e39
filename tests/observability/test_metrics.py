"""Prometheus metrics served by the app's own process (``flask run``, one process): real requests
through the app, a real scrape of GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST:_PORT over HTTP, parsed
with prometheus_client's parser, and each counter moved by exactly what the requests did.

The families are the process's, shared by every app a test builds, so each test compares a
scrape before with one after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import httpx
import pytest

from gotrue_web.observability import metrics, metrics_server

from ..conftest import api_for
from ..support.fake_sms import FakeTwilio, sms_settings
from .metrics_support import free_port, scrape

PASSWORD = "Metrics-password-41"


@pytest.fixture(scope="module")
def metrics_port():
    """The exporter's port for this module's apps; closed after the module."""
    port = free_port()
    yield port
    metrics_server.stop_in_process()


def metrics_on(port: int, **overrides) -> dict:
    return {"metrics.enabled": True, "metrics.exporter": "prometheus",
            "metrics.prometheus_listen_host": "127.0.0.1",
            "metrics.prometheus_listen_port": port, **overrides}


def _address() -> str:
    return f"metrics-{uuid.uuid4().hex[:10]}@example.com"


def test_requests_sign_ups_sign_ins_and_refresh_grants_are_counted(make_app, metrics_port):
    app = make_app(**metrics_on(metrics_port, **{"mailer.autoconfirm": True}))
    api = api_for(app)
    before = scrape(metrics_port)

    email = _address()
    first = api.session(email, PASSWORD)
    assert api.login(email, "not-the-password").status_code == 400
    assert api.login(email, PASSWORD).status_code == 200
    second = api.refresh(first["refresh_token"]).get_json()
    api.refresh(second["refresh_token"])
    reused = api.refresh(first["refresh_token"])
    assert reused.get_json()["code"] == "refresh_token_already_used"
    unknown = api.refresh("nosuchrefreshtoken")
    assert unknown.get_json()["code"] == "refresh_token_not_found"
    link = api.post("/verify", json={"type": "magiclink", "token_hash": "0" * 56})
    assert link.status_code == 403

    after = scrape(metrics_port)
    assert after.minus(before, "gotrue_sign_ups_total", method="email", provider="email") == 1
    sign_ins = "gotrue_sign_ins_total"
    assert after.minus(before, sign_ins, method="password", provider="email",
                       result="failure") == 1
    assert after.minus(before, sign_ins, method="password", provider="email",
                       result="success") == 1
    assert after.minus(before, sign_ins, method="magiclink", provider="email",
                       result="failure") == 1
    grants = "gotrue_refresh_grants_total"
    assert after.minus(before, grants, result="rotated") == 2
    assert after.minus(before, grants, result="reuse_detected") == 1
    assert after.minus(before, grants, result="refused") == 1

    requests = "gotrue_http_requests_total"
    assert after.minus(before, requests, method="POST", route="/signup", status="200") == 1
    assert after.minus(before, requests, method="POST", route="/token", status="200") == 3
    assert after.minus(before, requests, method="POST", route="/token", status="400") == 3
    assert after.minus(before, requests, method="POST", route="/verify", status="403") == 1
    durations = "gotrue_http_request_duration_seconds"
    assert after.minus(before, durations + "_count", method="POST", route="/token") == 6
    assert after.minus(before, durations + "_bucket", method="POST", route="/token",
                       le="+Inf") == 6
    assert after.minus(before, durations + "_sum", method="POST", route="/token") > 0
    # Every worker process samples its pool; this one's engine keeps connections.
    assert after.value("gotrue_db_pool_size_connections") >= 1


def test_routes_are_templates_and_methods_a_closed_set(make_app, metrics_port):
    app = make_app(**metrics_on(metrics_port))
    client = app.test_client()
    before = scrape(metrics_port)
    user_id = uuid.uuid4()
    assert client.get(f"/admin/users/{user_id}").status_code == 401
    assert client.get(f"/auth/v1/admin/users/{user_id}").status_code == 401
    assert client.get(f"/no/such/path/{user_id}").status_code == 404
    assert client.open("/health", method="BREW").status_code == 405

    after = scrape(metrics_port)
    requests = "gotrue_http_requests_total"
    assert after.minus(before, requests, method="GET", route="/admin/users/<user_id>",
                       status="401") == 1
    assert after.minus(before, requests, method="GET", route="/auth/v1/admin/users/<user_id>",
                       status="401") == 1
    assert after.minus(before, requests, method="GET", route="unmatched", status="404") == 1
    assert after.minus(before, requests, method="OTHER", route="unmatched", status="405") == 1
    # No id, path or client-chosen method ever becomes a label value.
    assert str(user_id) not in after.text
    assert "BREW" not in after.text and "/no/such/path" not in after.text


def test_a_rate_limit_refusal_is_counted_by_its_limit(make_app, metrics_port):
    app = make_app(**metrics_on(metrics_port, **{"mailer.autoconfirm": True,
                                                 "rate_limit.otp": 1}))
    api = api_for(app)
    before = scrape(metrics_port)
    assert api.signup(_address(), PASSWORD).status_code == 200
    refused = api.signup(_address(), PASSWORD)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "over_request_rate_limit"

    after = scrape(metrics_port)
    assert after.minus(before, "gotrue_rate_limit_refusals_total", limit="otp") == 1
    assert after.minus(before, "gotrue_rate_limit_refusals_total", limit="token") == 0
    assert after.minus(before, "gotrue_http_requests_total", method="POST", route="/signup",
                       status="429") == 1


def test_emails_sent_and_failed_through_a_real_smtp_server(make_mail_app, smtp_server,
                                                           metrics_port):
    app = make_mail_app(**metrics_on(metrics_port))
    api = api_for(app)
    before = scrape(metrics_port)
    assert api.signup(_address(), PASSWORD).status_code == 200
    assert len(smtp_server.messages) == 1
    smtp_server.reject_with = "554 Transaction failed"
    # The answer does not wait for the email; the test client waits for its one attempt.
    assert api.signup(_address(), PASSWORD).status_code == 200
    assert len(smtp_server.messages) == 1

    after = scrape(metrics_port)
    emails = "gotrue_emails_total"
    assert after.minus(before, emails, kind="confirmation", result="sent") == 1
    assert after.minus(before, emails, kind="confirmation", result="failed") == 1
    assert after.minus(before, "gotrue_sign_ups_total", method="email", provider="email") == 2


def test_text_messages_sent_and_failed_through_a_real_provider(make_app, servers,
                                                               metrics_port):
    twilio = servers(FakeTwilio())
    app = make_app(**metrics_on(metrics_port, **{"external.phone_enabled": True,
                                                 **sms_settings(twilio)}))
    api = api_for(app)
    before = scrape(metrics_port)
    assert api.post("/signup", json={"phone": "15551230001", "password": PASSWORD}) \
        .status_code == 200
    twilio.script(500, {"code": 20500, "message": "Internal error", "status": 500})
    failed = api.post("/signup", json={"phone": "15551230002", "password": PASSWORD})
    assert failed.get_json()["code"] == "sms_send_failed"

    after = scrape(metrics_port)
    texts = "gotrue_sms_total"
    assert after.minus(before, texts, kind="confirmation", channel="sms", result="sent") == 1
    assert after.minus(before, texts, kind="confirmation", channel="sms", result="failed") == 1
    # The failed sign-up rolled back with its text: only the first user was created.
    assert after.minus(before, "gotrue_sign_ups_total", method="phone", provider="phone") == 1


def test_the_outbox_depth_is_what_the_dispatcher_counted_at_its_poll(make_mail_app, smtp_server,
                                                                     metrics_port):
    smtp_server.reject_with = "451 Try again later"
    app = make_mail_app(**metrics_on(metrics_port, **{
        "mailer.outbox_max_attempts": 3,
        "mailer.outbox_poll_interval": timedelta(milliseconds=100)}))
    api = api_for(app)
    assert api.signup(_address(), PASSWORD).status_code == 200
    # The first attempt failed; the email waits for its retry (30 s away) in the outbox.
    assert _eventually(lambda: scrape(metrics_port).value("gotrue_mail_outbox_pending")) == 1
    smtp_server.reject_with = None


def test_the_database_cleanup_counts_its_rows_by_job(make_app, metrics_port):
    from datetime import datetime, timezone

    from gotrue_web.services import cleanup

    app = make_app(**metrics_on(metrics_port, **{"mailer.autoconfirm": True}))
    rt, api = app.extensions["gotrue"], api_for(app)
    start = datetime.now(timezone.utc)
    first = api.session(_address(), PASSWORD)
    second = api.refresh(first["refresh_token"]).get_json()
    api.refresh(second["refresh_token"])
    before = scrape(metrics_port)
    rt.clock = lambda: start + timedelta(hours=25)
    with app.app_context():
        assert cleanup.run(rt) == {"revoked_refresh_tokens": 2}
    after = scrape(metrics_port)
    assert after.minus(before, "gotrue_db_cleanup_rows_total", job="revoked_refresh_tokens") == 2
    assert after.minus(before, "gotrue_db_cleanup_rows_total", job="ended_sessions") == 0


def _eventually(read, want=1.0, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    value = read()
    while value != want and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


# --- metrics off ------------------------------------------------------------------------------


def test_metrics_off_serve_nothing_and_install_nothing(make_app):
    port = free_port()
    app = make_app(**{"metrics.prometheus_listen_host": "127.0.0.1",
                      "metrics.prometheus_listen_port": port})
    assert app.test_client().get("/health").status_code == 200
    assert app.extensions["gotrue"].metrics is metrics.NO_METRICS
    layer = app.wsgi_app
    while layer is not None:
        assert not isinstance(layer, metrics.RequestMetrics)
        layer = getattr(layer, "app", None)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_metrics_off_never_import_prometheus_client(tmp_path):
    """In a fresh interpreter: building and using an app with metrics off loads no
    prometheus_client at all."""
    program = f"""
import sys
from gotrue_web import create_app
from tests.conftest import BASE_SETTINGS
app = create_app(BASE_SETTINGS.replace(**{{"db.url": "sqlite:///{tmp_path}/off.db"}}))
assert app.test_client().get("/health").status_code == 200
loaded = sorted(name for name in sys.modules if name.startswith("prometheus_client"))
assert not loaded, loaded
"""
    from ..live.conftest import REPO_ROOT

    done = subprocess.run([sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]



# --- the multiprocess directory (gunicorn.conf.py calls these in the master) -----------------


@pytest.fixture
def master_state(monkeypatch):
    """metrics_server's master state and variables as a fresh master has them; restored."""
    monkeypatch.setattr(metrics_server, "_multiprocess_dir", None)
    monkeypatch.setattr(metrics_server, "_made_here", False)
    monkeypatch.delenv(metrics_server.MULTIPROC_VARIABLE, raising=False)
    monkeypatch.delenv(metrics_server.MADE_VARIABLE, raising=False)
    return monkeypatch


def test_an_operators_multiprocess_directory_is_emptied_at_start_and_kept(master_state,
                                                                           tmp_path):
    chosen = tmp_path / "metrics"
    chosen.mkdir()
    (chosen / "counter_4242.db").write_bytes(b"values of an earlier run")
    (chosen / "notes.txt").write_text("not ours")
    master_state.setenv(metrics_server.MULTIPROC_VARIABLE, str(chosen))
    assert metrics_server.prepare_multiprocess() == str(chosen)
    assert sorted(path.name for path in chosen.iterdir()) == ["notes.txt"]
    assert metrics_server.served_by_master()
    # A reload (HUP) runs gunicorn.conf.py again: same directory, nothing emptied.
    (chosen / "counter_4243.db").write_bytes(b"this run's")
    assert metrics_server.prepare_multiprocess() == str(chosen)
    assert (chosen / "counter_4243.db").exists()
    metrics_server.remove_multiprocess_dir()
    assert chosen.is_dir()


def test_a_master_makes_a_private_directory_of_its_own(master_state, tmp_path):
    # As after gunicorn's USR2 upgrade: the old master's directory is in the environment.
    old = tmp_path / "gotrue-metrics-old"
    old.mkdir()
    master_state.setenv(metrics_server.MULTIPROC_VARIABLE, str(old))
    master_state.setenv(metrics_server.MADE_VARIABLE, str(old))
    made = metrics_server.prepare_multiprocess()
    try:
        assert made != str(old) and os.path.basename(made).startswith("gotrue-metrics-")
        assert os.stat(made).st_mode & 0o077 == 0 and os.listdir(made) == []
        assert os.environ[metrics_server.MULTIPROC_VARIABLE] == made
    finally:
        metrics_server.remove_multiprocess_dir()
    assert not os.path.exists(made) and old.is_dir()
