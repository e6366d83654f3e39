"""OpenTelemetry traces, in process: the app, with tracing on, POSTs its spans over OTLP/HTTP to
a real receiver on loopback. Each request is one server span (route, method, status) whose
children are its database statements, those SQLAlchemy sends and those the hot paths run on raw
driver cursors; the resource carries the configured service name and attributes; and nothing
secret (query strings, tokens, passwords, credential headers, SQL values) is in the bytes that
leave the process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from gotrue_web import driver_sql
from gotrue_web.settings import tracing as tracing_settings
from gotrue_web.settings.env import EnvReader

from ..conftest import api_for
from ..live.conftest import REPO_ROOT
from .otlp_receiver import OTLPReceiver, children, server_spans, status_of

PASSWORD = "Tracing-password-0042"
VERIFY_TOKEN = "verify-token-in-query-0042"
APIKEY = "apikey-header-value-0042"
COOKIE = "cookie-value-0042"
DRIVER_SCOPE = "gotrue_web"  # the spans of driver_sql's statements (observability.tracing)


@pytest.fixture
def receiver():
    server = OTLPReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def traced_app(make_app, receiver, monkeypatch):
    """An app with tracing on, configured as an operator with a seed-era environment would:
    the collector's address in GOTRUE_TRACING_HOST/_PORT, tags and SERVICE_NAME. The hot
    paths' span hook it sets is put back as it was afterwards."""
    monkeypatch.setattr(driver_sql, "statement_span", driver_sql.statement_span)
    port = receiver.server.server_port
    group = tracing_settings.read(EnvReader({
        "GOTRUE_TRACING_ENABLED": "true",
        "GOTRUE_TRACING_HOST": "127.0.0.1",
        "GOTRUE_TRACING_PORT": str(port),
        "GOTRUE_TRACING_TAGS": "deployment.environment:test,region:eu-1",
        "SERVICE_NAME": "auth-under-test",
    }))
    assert group.endpoint == receiver.traces_url
    app = make_app(**{"mailer.autoconfirm": True, "tracing": group})
    yield app
    app.extensions["tracing"].shutdown()


def flush(app) -> None:
    assert app.extensions["tracing"].force_flush()


def test_each_request_is_a_server_span_with_its_statements_as_children(
        traced_app, receiver, service_role_token, monkeypatch):
    # Even with every header captured (an OTEL_* variable the instrumentation reads itself),
    # the credential headers do not leave the process.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", ".*")
    api = api_for(traced_app, service_role_token)
    email = f"traced-{uuid.uuid4().hex[:8]}@example.com"
    extra = {"apikey": APIKEY, "Cookie": f"sb-session={COOKIE}", "X-Client-Info": "tracing-test"}

    signed_up = api.post("/signup", headers=extra, json={"email": email, "password": PASSWORD})
    assert signed_up.status_code == 200, signed_up.get_json()
    signed_in = api.post("/token?grant_type=password", headers=extra,
                         json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200
    session = signed_in.get_json()
    refreshed = api.post("/token?grant_type=refresh_token", headers=extra,
                         json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200
    verified = api.get(f"/verify?token={VERIFY_TOKEN}&type=magiclink"
                       "&redirect_to=http://localhost:3000/", headers=extra)
    assert verified.status_code == 303
    user = api.get("/user", token=session["access_token"], headers=extra)
    assert user.status_code == 200
    flush(traced_app)

    expected = {("/signup", "POST"): 1, ("/token", "POST"): 2, ("/verify", "GET"): 1,
                ("/user", "GET"): 1}
    spans = receiver.wait_for(
        lambda spans: all(len(server_spans(spans, *key)) == count
                          for key, count in expected.items()), "server span of each request")
    assert sum(1 for span in spans if span.kind == "SERVER") == 5
    statuses = {key: sorted(status_of(span) for span in server_spans(spans, *key))
                for key in expected}
    assert statuses == {("/signup", "POST"): [200], ("/token", "POST"): [200, 200],
                        ("/verify", "GET"): [303], ("/user", "GET"): [200]}

    for key in expected:
        for server in server_spans(spans, *key):
            assert server.name == f"{key[1]} {key[0]}"
            assert server.attributes.get("http.target", "/") == key[0]
            statements = children(spans, server)
            assert statements, f"{key}: no database span under the request's span"
            assert all(span.kind == "CLIENT" and span.attributes.get("db.statement")
                       for span in statements), statements
    # The hot paths' statements on raw driver cursors are there as well: reading the profile
    # (GET /user) and rotating the refresh token.
    (user_span,) = server_spans(spans, "/user", "GET")
    # The request id of the request's log line (and X-Request-Id) ties the two together.
    assert user_span.attributes["request_id"] == user.headers["X-Request-Id"]
    assert any(span.scope == DRIVER_SCOPE for span in children(spans, user_span))
    assert any(span.scope == DRIVER_SCOPE for server in server_spans(spans, "/token", "POST")
               for span in children(spans, server))

    # A harmless header was captured, so the credential headers were there to leak.
    assert any(key.startswith("http.request.header.x_client_info")
               for span in spans for key in span.attributes)
    exported = receiver.raw()
    secrets = [PASSWORD, VERIFY_TOKEN, APIKEY, COOKIE, session["access_token"],
               session["refresh_token"], refreshed.get_json()["refresh_token"],
               signed_up.get_json()["access_token"],
               # A bound value of the statements: SQL parameters are never recorded.
               email, "?token", "redirect_to", "localhost:3000"]
    for secret in secrets:
        assert secret.encode() not in exported, secret
    for span in spans:
        for key, value in span.attributes.items():
            assert "authorization" not in key and "cookie" not in key and "apikey" not in key
            assert "?" not in str(value) or key in ("db.statement", "db.query.text"), (key, value)


def test_resource_carries_the_service_name_and_tags(traced_app, receiver):
    assert traced_app.test_client().get("/health").status_code == 200
    flush(traced_app)
    (span,) = receiver.wait_for(
        lambda spans: server_spans(spans, "/health", "GET"), "server span of /health")
    assert span.resource["service.name"] == "auth-under-test"
    assert span.resource["deployment.environment"] == "test"
    assert span.resource["region"] == "eu-1"
    # Built in this process (under gunicorn: in the worker, after the fork).
    assert span.resource["process.pid"] == os.getpid()
    assert receiver.content_types == ["application/x-protobuf"]


def test_nothing_global_is_installed(traced_app, receiver, make_app):
    """Each app has its own provider: an untraced app beside a traced one sends nothing, and
    OpenTelemetry's global tracer provider stays the default for everything else."""
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
    plain = make_app(**{"mailer.autoconfirm": True})
    assert "tracing" not in plain.extensions
    session = api_for(plain).session()
    assert api_for(plain).get("/user", token=session["access_token"]).status_code == 200
    assert traced_app.test_client().get("/health").status_code == 200
    flush(traced_app)
    spans = receiver.wait_for(
        lambda spans: server_spans(spans, "/health", "GET"), "server span of /health")
    assert [span.name for span in spans] == ["GET /health"]


def test_spans_leave_scrubbed(settings):
    """What the exporter is handed, whatever was recorded: URLs as paths, no query string, no
    credential header, exceptions and error descriptions reduced to the exception's type."""
    received = InMemorySpanExporter()
    from gotrue_web.observability.tracing import Tracing

    tracing = Tracing(tracing_settings.TracingSettings(enabled=True), exporter=received)
    try:
        with tracing.tracer.start_as_current_span("GET /verify", kind=SpanKind.SERVER, attributes={
                "http.target": "/verify?token=t0k3n&type=signup",
                "http.url": "http://auth.example.com/verify?token=t0k3n",
                "url.full": "https://auth.example.com/callback?code=c0d3#frag",
                "url.query": "code=c0d3",
                "http.request.header.authorization": ("Bearer t0k3n",),
                "http.request.header.apikey": ("k3y",),
                "http.request.header.cookie": ("s=c00kie",),
                "http.response.header.set_cookie": ("s=c00kie",),
                "http.request.header.x_client_info": ("supabase-js/2",),
                "http.route": "/verify"}) as span:
            span.record_exception(ValueError("duplicate key (token)=(t0k3n)"))
            span.set_status(Status(StatusCode.ERROR, "IntegrityError: (token)=(t0k3n)"))
        assert tracing.force_flush()
    finally:
        tracing.shutdown()
    (span,) = received.get_finished_spans()
    assert dict(span.attributes) == {
        "http.target": "/verify", "http.url": "/verify", "url.full": "/callback",
        "http.request.header.x_client_info": ("supabase-js/2",), "http.route": "/verify"}
    assert span.status.status_code == StatusCode.ERROR and not span.status.description
    (event,) = span.events
    assert event.name == "exception"
    assert dict(event.attributes) == {"exception.type": "ValueError",
                                      "exception.escaped": "False"}


def test_with_tracing_off_opentelemetry_is_never_loaded(tmp_path):
    """Zero cost when off: no OpenTelemetry module is imported, the hot paths' hook stays
    unset, and no request handler of the instrumentation is registered."""
    code = f"""
import sys
from gotrue_web import create_app, driver_sql
from gotrue_web.settings import Settings
settings = Settings(site_url="http://localhost:3000").replace(**{{
    "api.external_url": "http://localhost:9999", "jwt.secret": "s" * 40,
    "db.url": "sqlite:///{tmp_path}/off.db", "rate_limit.storage_url": "memory://"}})
app = create_app(settings)
assert app.test_client().get("/health").status_code == 200
loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
print(loaded, driver_sql.statement_span, "tracing" in app.extensions)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[] None False"
