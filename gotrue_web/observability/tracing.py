"""OpenTelemetry traces (GOTRUE_TRACING_ENABLED): a server span per request, from the maintained
Flask instrumentation, with the database statements as its children (the maintained SQLAlchemy
instrumentation on the app's engine, and ``statement_span`` for the statements the hot paths run
on raw driver cursors), batched and POSTed over OTLP/HTTP to a collector.

Imported only when tracing is on. Nothing here is global: each app gets its own TracerProvider
(passed to the instrumentations, never installed as OpenTelemetry's global one), so tests can
build traced and untraced apps side by side. Under gunicorn the app is built in each worker
after the fork (``preload_app = False``), so the batch thread belongs to the worker; the
provider is shut down, and what it holds sent, when the process exits.

What leaves the process is scrubbed on the way out (ScrubbingExporter), whatever an
instrumentation or an OTEL_* variable made it record: URLs keep only their path (tokens and
codes travel in query strings), credential-bearing headers are dropped, and exception texts and
error descriptions (which can quote SQL values) are reduced to the exception's type. Bodies and
SQL parameters are never recorded in the first place.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from .request_ids import ENVIRON_KEY as REQUEST_ID_KEY

SCOPE = "gotrue_web"
# Attributes that hold a URL or a request target: exported as the path alone.
URL_ATTRIBUTES = frozenset({"http.target", "http.url", "url.full"})
# Attributes never exported: the query string on its own.
DROPPED_ATTRIBUTES = frozenset({"url.query"})
HEADER_ATTRIBUTE = re.compile(r"^http\.(request|response)\.header\.(?P<name>.+)$")
# Headers that carry credentials (Authorization, apikey, cookies, CSRF and session tokens), and
# URLs that can (a redirect's Location holds the session's tokens, a Referer a query string).
SECRET_HEADER = re.compile(
    r"auth|cookie|key|token|secret|pass|session|signature|csrf|location|referer", re.I)
# Of an exception event, only what names the exception: its message (and the traceback's last
# line) can quote a value, such as the row a unique constraint refused.
EXCEPTION_ATTRIBUTES = frozenset({"exception.type", "exception.escaped"})
NO_METRICS = NoOpMeterProvider()


class Tracing:
    """One app's TracerProvider, exporter and instrumentations."""

    def __init__(self, settings, exporter: SpanExporter | None = None):
        resource = Resource.create({**settings.attributes,
                                    # Set here, in the worker: tells the workers' spans apart.
                                    "process.pid": os.getpid()})
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=True)
        self.provider.add_span_processor(BatchSpanProcessor(ScrubbingExporter(
            exporter or OTLPSpanExporter(endpoint=settings.endpoint))))
        self.tracer = self.provider.get_tracer(SCOPE)
        self.engines: list = []
        self._lock = threading.Lock()
        self._closed = False

    def instrument_app(self, app) -> None:
        """The server span of every request (OTEL_PYTHON_FLASK_EXCLUDED_URLS still applies),
        carrying the request id of the request's log line."""
        FlaskInstrumentor.instrument_app(app, tracer_provider=self.provider,
                                         meter_provider=NO_METRICS, enable_commenter=False,
                                         request_hook=_note_request_id)

    def instrument_engine(self, engine) -> None:
        """A client span for every statement SQLAlchemy sends on ``engine`` (statement text,
        never its parameters), and for those run on its raw driver connections."""
        unused_pool_counter = NO_METRICS.get_meter(SCOPE).create_up_down_counter("db.pool")
        EngineTracer(self.tracer, engine, unused_pool_counter)
        with self._lock:
            self.engines.append(weakref.ref(engine))
            _traced_engines[engine] = self

    def shutdown(self) -> None:
        """Send what is still batched and stop; the engines' raw statements are traced no more.
        The instrumentations' listeners stay, recording nothing (a shut-down provider's spans
        are not exported)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for ref in self.engines:
                engine = ref()
                if engine is not None:
                    _traced_engines.pop(engine, None)
        self.provider.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.provider.force_flush(timeout_millis)


def _note_request_id(span, environ) -> None:
    request_id = environ.get(REQUEST_ID_KEY)  # set by RequestLog, which runs first
    if request_id and span.is_recording():
        span.set_attribute("request_id", request_id)


# Engines with tracing on, and whose Tracing they report to (several apps in one process: tests).
_traced_engines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def statement_span(engine, sql: str) -> Iterator[None]:
    """A client span around one statement run on a raw driver cursor (gotrue_web.driver_sql),
    shaped as the SQLAlchemy instrumentation shapes its own: the statement's first word and the
    database as its name, the statement text (with placeholders, never values) as db.statement."""
    tracing = _traced_engines.get(engine)
    if tracing is None:
        yield
        return
    url = engine.url
    system = engine.dialect.name
    operation = sql.split(None, 1)[0] if sql.strip() else system
    attributes = {"db.system": system, "db.statement": sql}
    if url.database:
        attributes["db.name"] = url.database
    if url.host:
        attributes["net.peer.name"] = url.host
    if url.port:
        attributes["net.peer.port"] = url.port
    # SQLite's database is a file path: the operation alone names its spans.
    name = f"{operation} {url.database}" if url.database and system != "sqlite" else operation
    with tracing.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False,
            set_status_on_exception=False) as span:
        try:
            yield
        except Exception as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


def trace_app(app, settings) -> Tracing:
    """Traces for ``app`` (kept as ``app.extensions["tracing"]``); its engine is added with
    ``instrument_engine`` once it exists."""
    tracing = Tracing(settings.tracing)
    tracing.instrument_app(app)
    app.extensions["tracing"] = tracing
    return tracing


# --- scrubbing ----------------------------------------------------------------------------------


def path_only(value: str) -> str:
    """A URL or request target without scheme, host, query string or fragment."""
    if "://" in value:
        try:
            return urlsplit(value).path or "/"
        except ValueError:
            return ""
    return value.split("?", 1)[0].split("#", 1)[0]


def scrub_attributes(attributes) -> dict:
    scrubbed = {}
    for key, value in (attributes or {}).items():
        if key in DROPPED_ATTRIBUTES:
            continue
        header = HEADER_ATTRIBUTE.match(key)
        if header and SECRET_HEADER.search(header.group("name")):
            continue
        if key in URL_ATTRIBUTES and isinstance(value, str):
            value = path_only(value)
        scrubbed[key] = value
    return scrubbed


def _scrub_event(event: Event) -> Event:
    attributes = event.attributes or {}
    if event.name == "exception":
        attributes = {key: value for key, value in attributes.items()
                      if key in EXCEPTION_ATTRIBUTES}
    return Event(event.name, scrub_attributes(attributes), event.timestamp)


def scrub(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` fit to leave the process (the module's docstring says what goes)."""
    status = span.status
    return ReadableSpan(
        name=path_only(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrub_attributes(span.attributes),
        events=tuple(_scrub_event(event) for event in span.events),
        links=span.links,
        kind=span.kind,
        # The code stays; a description can quote a database error's values.
        status=Status(status.status_code) if status.description else status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingExporter(SpanExporter):
    """Hands ``exporter`` scrubbed copies of the spans (runs in the batch thread, off the
    request path)."""

    def __init__(self, exporter: SpanExporter):
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([scrub(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
