"""Tracing: OpenTelemetry spans sent over OTLP/HTTP to a collector (GOTRUE_TRACING_*, the seed's
unprefixed TRACING_* and SERVICE_NAME, and the OpenTelemetry variables that combine with them).

GoTrue's own variables predate OpenTelemetry's and map onto it as follows (strongest first):

- where spans go: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL, as is),
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL: ``/v1/traces`` is added), the seed's
  ``GOTRUE_TRACING_HOST``/``_PORT`` (``http://HOST:PORT/v1/traces``; host ``localhost``, port
  4318 when one is missing), else ``http://localhost:4318/v1/traces``;
- the service name: ``OTEL_SERVICE_NAME``, ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``,
  ``GOTRUE_TRACING_SERVICE_NAME`` (``GOTRUE_SERVICE_NAME``, ``SERVICE_NAME``), else ``gotrue``;
- resource attributes: ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value,...``), then the seed's
  ``GOTRUE_TRACING_TAGS`` (``key:value,...``, GoTrue's map syntax) for keys it does not set.

Those OTEL_* variables are read here, from the environment and the .env file alike, because
they decide together with GoTrue's. Every other OTEL_* variable (exporter headers, timeout,
compression, certificates, sampler, batch sizes) belongs to the OpenTelemetry SDK, which reads
it from the process environment itself. Only ``http/protobuf`` is exported: another
``OTEL_EXPORTER_OTLP_PROTOCOL`` is refused rather than ignored.

With tracing off nothing else is read (a stray OTEL_* variable meant for another program in the
same environment cannot stop the server).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from .env import PREFIX, EnvReader, SettingsError, check_url

# GoTrue's TracingExporter values: only OpenTelemetry is served (GoTrue's older "opentracing"
# sent to a Datadog/Jaeger agent, which speaks no OTLP).
EXPORTERS = ("opentelemetry",)
DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
DEFAULT_SERVICE_NAME = "gotrue"
OTLP_HTTP_PORT = 4318
PROTOCOL = "http/protobuf"
TRUE_WORDS = ("1", "t", "true", "yes", "on")
FALSE_WORDS = ("0", "f", "false", "no", "off")


@dataclass(frozen=True)
class TracingSettings:
    enabled: bool = False
    exporter: str = "opentelemetry"
    service_name: str = DEFAULT_SERVICE_NAME
    # The OTLP/HTTP traces URL spans are POSTed to.
    endpoint: str = DEFAULT_ENDPOINT
    # Resource attributes besides service.name, each "key=value".
    resource_attributes: tuple[str, ...] = ()

    @property
    def attributes(self) -> dict[str, str]:
        """The resource's attributes, service.name included."""
        pairs = dict(item.partition("=")[::2] for item in self.resource_attributes)
        return {**pairs, "service.name": self.service_name}


def read(env: EnvReader) -> TracingSettings:
    if not _flag(env, "TRACING_ENABLED"):
        return TracingSettings()
    tags = _tags(env)
    otel_attributes = _otel_attributes(env)
    attributes = {**tags, **otel_attributes}
    service_name = (_otel(env, "OTEL_SERVICE_NAME")
                    or otel_attributes.get("service.name")
                    or env.str("TRACING_SERVICE_NAME", "", PREFIX + "SERVICE_NAME",
                               "SERVICE_NAME")
                    or tags.get("service.name") or DEFAULT_SERVICE_NAME)
    attributes.pop("service.name", None)
    _check_protocol(env)
    return TracingSettings(
        enabled=True,
        exporter=env.str("TRACING_EXPORTER", "opentelemetry").lower(),
        service_name=service_name,
        endpoint=_endpoint(env),
        resource_attributes=tuple(f"{key}={value}" for key, value in attributes.items()),
    )


def check(tracing: TracingSettings) -> None:
    if not tracing.enabled:
        return
    if tracing.exporter not in EXPORTERS:
        raise SettingsError(
            f"GOTRUE_TRACING_EXPORTER: {tracing.exporter!r} is not served by this server; use "
            "opentelemetry (OTLP over HTTP to a collector)")
    check_url("GOTRUE_TRACING_HOST/PORT or OTEL_EXPORTER_OTLP_ENDPOINT", tracing.endpoint,
              http_only=True)
    if not tracing.service_name:
        raise SettingsError("GOTRUE_TRACING_SERVICE_NAME: must not be empty")
    for item in tracing.resource_attributes:
        if not item.partition("=")[0].strip():
            raise SettingsError(f"OTEL_RESOURCE_ATTRIBUTES: an attribute without a name: {item!r}")


# --- reading ------------------------------------------------------------------------------------


def _otel(env: EnvReader, name: str) -> str:
    """An OpenTelemetry variable: its own name only, no GOTRUE_ prefix."""
    return env.plain(name).strip()


def _flag(env: EnvReader, name: str) -> bool:
    found = env.raw(name, name)  # GOTRUE_TRACING_ENABLED, then the seed's TRACING_ENABLED
    if not found:
        return False
    key, value = found
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(f"{key}: expected true or false, got {value!r}")


def _tags(env: EnvReader) -> dict[str, str]:
    """GOTRUE_TRACING_TAGS (or the seed's TRACING_TAGS): ``key:value`` pairs, comma separated,
    as GoTrue's envconfig reads a map."""
    found = env.raw("TRACING_TAGS", "TRACING_TAGS")
    if not found:
        return {}
    key, value = found
    tags = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, colon, tag = item.partition(":")
        if not colon or not name.strip() or "=" in name:
            raise SettingsError(f"{key}: expected key:value pairs separated by commas, "
                                f"got {item.strip()!r}")
        tags[name.strip()] = tag.strip()
    return tags


def _otel_attributes(env: EnvReader) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES: ``key=value`` pairs, comma separated, values percent-encoded
    (the OpenTelemetry specification's form)."""
    value = _otel(env, "OTEL_RESOURCE_ATTRIBUTES")
    attributes = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, equals, attribute = item.partition("=")
        if not equals or not name.strip():
            raise SettingsError("OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs separated "
                                f"by commas, got {item.strip()!r}")
        name = unquote(name.strip())
        if "=" in name:
            raise SettingsError(f"OTEL_RESOURCE_ATTRIBUTES: a name with '=': {name!r}")
        attributes[name] = unquote(attribute.strip())
    return attributes


def _check_protocol(env: EnvReader) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = _otel(env, name)
        if protocol:
            if protocol != PROTOCOL:
                raise SettingsError(
                    f"{name}: {protocol!r} is not served; this server exports OTLP over HTTP "
                    f"({PROTOCOL}): point it at the collector's HTTP port ({OTLP_HTTP_PORT})")
            return


def _endpoint(env: EnvReader) -> str:
    traces = _otel(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        check_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces, http_only=True)
        return traces
    base = _otel(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        check_url("OTEL_EXPORTER_OTLP_ENDPOINT", base, http_only=True)
        return base.rstrip("/") + "/v1/traces"
    host_found = env.raw("TRACING_HOST", "TRACING_HOST")
    port_found = env.raw("TRACING_PORT", "TRACING_PORT")
    if not host_found and not port_found:
        return DEFAULT_ENDPOINT
    port = OTLP_HTTP_PORT
    if port_found:
        key, value = port_found
        try:
            port = int(value.strip())
        except ValueError:
            raise SettingsError(f"{key}: expected a port number, got {value!r}") from None
        if not 0 < port < 65536:
            raise SettingsError(f"{key}: expected a port number from 1 to 65535, got {port}")
    host = host_found[1].strip() if host_found else "localhost"
    if "/" in host:
        raise SettingsError(f"{host_found[0]}: expected a host name or address, got {host!r} "
                            "(a URL goes in OTEL_EXPORTER_OTLP_ENDPOINT)")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    endpoint = f"http://{host}:{port}/v1/traces"
    check_url(host_found[0] if host_found else port_found[0], endpoint, http_only=True)
    return endpoint
