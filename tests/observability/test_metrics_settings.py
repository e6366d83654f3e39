"""GOTRUE_METRICS_*: GoTrue's names and defaults, and the errors that stop start-up."""

from __future__ import annotations

import pytest

from gotrue_web.console.operations.settings_report import groups
from gotrue_web.settings import SettingsError

from ..test_settings import load


def test_defaults_are_gotrues():
    metrics = load().metrics
    assert metrics.enabled is False
    assert metrics.exporter == "opentelemetry"
    assert metrics.prometheus_listen_host == "0.0.0.0"
    assert metrics.prometheus_listen_port == 9100


def test_the_prometheus_exporter_on_a_chosen_address():
    metrics = load(GOTRUE_METRICS_ENABLED="true", GOTRUE_METRICS_EXPORTER="Prometheus",
                   GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST="127.0.0.1",
                   GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT="9464").metrics
    assert (metrics.enabled, metrics.exporter) == (True, "prometheus")
    assert (metrics.prometheus_listen_host, metrics.prometheus_listen_port) == ("127.0.0.1", 9464)


def test_an_existing_gotrue_env_with_metrics_off_starts_whatever_its_exporter():
    assert load(GOTRUE_METRICS_EXPORTER="opentelemetry").metrics.enabled is False
    assert load(GOTRUE_METRICS_EXPORTER="otlp").metrics.exporter == "otlp"


@pytest.mark.parametrize("exporter", ["", "opentelemetry"])
def test_enabled_opentelemetry_metrics_stop_start_up_naming_the_variable(exporter):
    # Unset means GoTrue's default, opentelemetry, which this server does not export.
    with pytest.raises(SettingsError, match="^GOTRUE_METRICS_EXPORTER: opentelemetry metrics "
                                            "are not exported by this server; set "
                                            "GOTRUE_METRICS_EXPORTER=prometheus"):
        load(GOTRUE_METRICS_ENABLED="true", GOTRUE_METRICS_EXPORTER=exporter)


def test_an_unknown_exporter_stops_start_up():
    with pytest.raises(SettingsError, match="^GOTRUE_METRICS_EXPORTER: expected prometheus or "
                                            "opentelemetry, got 'statsd'"):
        load(GOTRUE_METRICS_ENABLED="true", GOTRUE_METRICS_EXPORTER="statsd")


@pytest.mark.parametrize("variables, message", [
    ({"GOTRUE_METRICS_ENABLED": "sometimes"}, "GOTRUE_METRICS_ENABLED: expected true or false"),
    ({"GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT": "ninety"},
     "GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT: expected an integer"),
    ({"GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT": "0"},
     "GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT: must be at least 1"),
    ({"GOTRUE_METRICS_ENABLED": "true", "GOTRUE_METRICS_EXPORTER": "prometheus",
      "GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT": "65536"},
     "GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT: must be at most 65535"),
])
def test_malformed_values_name_their_variable(variables, message):
    with pytest.raises(SettingsError, match=f"^{message}"):
        load(**variables)


def test_the_console_settings_page_has_a_metrics_group():
    settings = load(GOTRUE_METRICS_ENABLED="true", GOTRUE_METRICS_EXPORTER="prometheus")
    group = next(group for group in groups(settings) if group.key == "metrics")
    assert group.title == "Metrics"
    rows = {row.name: row for row in group.rows}
    assert rows["metrics.enabled"].variable == "GOTRUE_METRICS_ENABLED"
    assert rows["metrics.prometheus_listen_port"].variable == \
        "GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT"
    assert rows["metrics.prometheus_listen_port"].value == "9100"
