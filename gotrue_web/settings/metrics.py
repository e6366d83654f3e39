"""Metrics (GoTrue's GOTRUE_METRICS_*): Prometheus text served on a port of its own.

GoTrue exports its metrics by OpenTelemetry (OTLP, its default) or as a Prometheus endpoint on
GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST:_PORT. This server serves the Prometheus endpoint only
(gotrue_web/observability/metrics.py); an enabled exporter of the other kind stops start-up
instead of silently exporting nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .env import EnvReader, SettingsError

PROMETHEUS = "prometheus"
# GoTrue's values for GOTRUE_METRICS_EXPORTER; its default is opentelemetry.
EXPORTERS = ("opentelemetry", PROMETHEUS)


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = False
    exporter: str = "opentelemetry"
    prometheus_listen_host: str = "0.0.0.0"
    prometheus_listen_port: int = 9100


def read(env: EnvReader) -> MetricsSettings:
    return MetricsSettings(
        enabled=env.bool("METRICS_ENABLED", False),
        exporter=env.str("METRICS_EXPORTER", "opentelemetry").lower(),
        prometheus_listen_host=env.str("METRICS_PROMETHEUS_LISTEN_HOST", "0.0.0.0"),
        prometheus_listen_port=env.int("METRICS_PROMETHEUS_LISTEN_PORT", 9100, minimum=1),
    )


def check(metrics: MetricsSettings) -> None:
    if not metrics.enabled:
        return
    if metrics.exporter not in EXPORTERS:
        raise SettingsError(f"GOTRUE_METRICS_EXPORTER: expected prometheus or opentelemetry, "
                            f"got {metrics.exporter!r}")
    if metrics.exporter != PROMETHEUS:
        raise SettingsError(
            f"GOTRUE_METRICS_EXPORTER: {metrics.exporter} metrics are not exported by this "
            "server; set GOTRUE_METRICS_EXPORTER=prometheus (served on "
            "GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST:GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT) or "
            "GOTRUE_METRICS_ENABLED=false")
    if metrics.prometheus_listen_port > 65535:
        raise SettingsError("GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT: must be at most 65535, got "
                            f"{metrics.prometheus_listen_port}")
