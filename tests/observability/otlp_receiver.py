"""A real OTLP/HTTP trace receiver on a loopback port: what an OpenTelemetry collector's
``otlphttp`` receiver does for ``POST /v1/traces``, keeping each body as it came and decoding it
with OpenTelemetry's own protobuf classes."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..support.loopback_http import LoopbackHTTPServer, QuietHandler

DEADLINE_SECONDS = 30


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: str  # "SERVER", "CLIENT", ...
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict
    scope: str
    resource: dict
    status_code: str
    status_message: str
    events: tuple


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind) if kind else None


def _attributes(key_values) -> dict:
    return {item.key: _value(item.value) for item in key_values}


class _Handler(QuietHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        receiver = self.server.receiver
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest.FromString(body)
        with receiver.lock:
            receiver.bodies.append(body)
            receiver.requests.append(request)
            receiver.content_types.append(self.headers.get("Content-Type", ""))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class OTLPReceiver(LoopbackHTTPServer):
    """``traces_url`` is where an exporter POSTs; ``spans()`` decodes all it has received."""

    def __init__(self):
        super().__init__(_Handler)
        self.server.receiver = self
        self.bodies: list[bytes] = []
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        self.traces_url = self.url + "/v1/traces"

    def raw(self) -> bytes:
        """Every body received, concatenated: what a search for a leaked secret reads."""
        with self.lock:
            return b"".join(self.bodies)

    def spans(self) -> list[ReceivedSpan]:
        with self.lock:
            requests = list(self.requests)
        found = []
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(ReceivedSpan(
                            name=span.name,
                            kind=span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                            trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=_attributes(span.attributes),
                            scope=scope_spans.scope.name, resource=resource,
                            status_code=span.status.StatusCode.Name(span.status.code),
                            status_message=span.status.message,
                            events=tuple((event.name, _attributes(event.attributes))
                                         for event in span.events)))
        return found

    def wait_for(self, predicate, what: str, seconds: float = DEADLINE_SECONDS):
        """Poll until ``predicate(spans)`` is true; its spans, or a failure naming ``what``."""
        deadline = time.monotonic() + seconds
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {seconds}s; received: "
                                     f"{[(span.kind, span.name) for span in spans]}")
            time.sleep(0.05)


def server_spans(spans, route: str, method: str) -> list[ReceivedSpan]:
    """The server spans of ``method route`` (old or new HTTP semantic conventions)."""
    return [span for span in spans if span.kind == "SERVER"
            and span.attributes.get("http.route") == route
            and (span.attributes.get("http.method")
                 or span.attributes.get("http.request.method")) == method]


def status_of(span: ReceivedSpan):
    return (span.attributes.get("http.status_code")
            or span.attributes.get("http.response.status_code"))


def children(spans, parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [span for span in spans
            if span.trace_id == parent.trace_id and span.parent_span_id == parent.span_id]
