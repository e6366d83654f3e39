"""The tracing settings: GoTrue's GOTRUE_TRACING_* variables, the seed's unprefixed TRACING_*
and SERVICE_NAME mapped onto OpenTelemetry, the OTEL_* variables that outrank them, and the
errors that name the variable at fault."""

from __future__ import annotations

import pytest

from gotrue_web.console.operations.settings_report import groups
from gotrue_web.settings import SettingsError
from gotrue_web.settings.tracing import DEFAULT_ENDPOINT, TracingSettings

from ..test_settings import load

ON = {"GOTRUE_TRACING_ENABLED": "true"}


def test_off_by_default_and_nothing_else_is_read():
    assert load().tracing == TracingSettings()
    assert load().tracing.enabled is False
    # Off, a malformed OTEL_* variable meant for another program does not stop the server.
    assert load(OTEL_EXPORTER_OTLP_PROTOCOL="grpc", GOTRUE_TRACING_TAGS="no-colon",
                GOTRUE_TRACING_EXPORTER="zipkin").tracing.enabled is False


def test_defaults_when_on():
    tracing = load(**ON).tracing
    assert tracing.enabled is True
    assert tracing.exporter == "opentelemetry"
    assert tracing.service_name == "gotrue"
    assert tracing.endpoint == DEFAULT_ENDPOINT == "http://localhost:4318/v1/traces"
    assert tracing.attributes == {"service.name": "gotrue"}


def test_the_seed_variables_map_onto_the_otlp_endpoint_and_resource():
    tracing = load(TRACING_ENABLED="true", TRACING_HOST="collector.internal",
                   TRACING_PORT="4319", TRACING_TAGS="env:prod, team:auth,,",
                   SERVICE_NAME="auth-eu").tracing
    assert tracing.enabled is True
    assert tracing.endpoint == "http://collector.internal:4319/v1/traces"
    assert tracing.service_name == "auth-eu"
    assert tracing.attributes == {"env": "prod", "team": "auth", "service.name": "auth-eu"}
    # The GOTRUE_ names win over the seed's unprefixed ones; a missing port is OTLP/HTTP's.
    tracing = load(**ON, GOTRUE_TRACING_HOST="10.0.0.5", TRACING_HOST="ignored",
                   GOTRUE_TRACING_SERVICE_NAME="gotrue-tracing", SERVICE_NAME="ignored").tracing
    assert tracing.endpoint == "http://10.0.0.5:4318/v1/traces"
    assert tracing.service_name == "gotrue-tracing"
    assert load(**ON, GOTRUE_SERVICE_NAME="from-gotrue-service-name").tracing.service_name == (
        "from-gotrue-service-name")
    assert load(**ON, GOTRUE_TRACING_HOST="::1").tracing.endpoint == (
        "http://[::1]:4318/v1/traces")
    assert load(**ON, GOTRUE_TRACING_PORT="4400").tracing.endpoint == (
        "http://localhost:4400/v1/traces")


def test_the_otel_variables_outrank_gotrues():
    seed = {**ON, "GOTRUE_TRACING_HOST": "seed-host", "GOTRUE_TRACING_PORT": "1234",
            "GOTRUE_TRACING_TAGS": "env:seed,team:auth", "GOTRUE_TRACING_SERVICE_NAME": "seed"}
    tracing = load(**seed, OTEL_EXPORTER_OTLP_ENDPOINT="https://otel.example.com:4318/",
                   OTEL_RESOURCE_ATTRIBUTES="env=prod,region=eu%2Dwest",
                   OTEL_SERVICE_NAME="auth-otel").tracing
    assert tracing.endpoint == "https://otel.example.com:4318/v1/traces"
    assert tracing.service_name == "auth-otel"
    assert tracing.attributes == {"env": "prod", "team": "auth", "region": "eu-west",
                                  "service.name": "auth-otel"}
    # The traces endpoint is taken as is, over the base endpoint.
    assert load(**seed, OTEL_EXPORTER_OTLP_ENDPOINT="http://base:4318",
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://traces:4318/custom/path"
                ).tracing.endpoint == "http://traces:4318/custom/path"
    # service.name in OTEL_RESOURCE_ATTRIBUTES counts as OTEL_SERVICE_NAME would.
    assert load(**seed, OTEL_RESOURCE_ATTRIBUTES="service.name=from-resource"
                ).tracing.service_name == "from-resource"
    assert load(**ON, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf").tracing.enabled


@pytest.mark.parametrize(("variables", "named"), [
    ({"GOTRUE_TRACING_ENABLED": "maybe"}, "GOTRUE_TRACING_ENABLED"),
    ({"TRACING_ENABLED": "maybe"}, "TRACING_ENABLED"),
    ({**ON, "GOTRUE_TRACING_EXPORTER": "opentracing"}, "GOTRUE_TRACING_EXPORTER"),
    ({**ON, "GOTRUE_TRACING_EXPORTER": "datadog"}, "GOTRUE_TRACING_EXPORTER"),
    ({**ON, "GOTRUE_TRACING_PORT": "otlp"}, "GOTRUE_TRACING_PORT"),
    ({**ON, "TRACING_PORT": "70000"}, "TRACING_PORT"),
    ({**ON, "GOTRUE_TRACING_HOST": "http://collector:4318"}, "GOTRUE_TRACING_HOST"),
    ({**ON, "GOTRUE_TRACING_TAGS": "env=prod"}, "GOTRUE_TRACING_TAGS"),
    ({**ON, "TRACING_TAGS": ":no-key"}, "TRACING_TAGS"),
    ({**ON, "TRACING_TAGS": "a=b:c"}, "TRACING_TAGS"),
    ({**ON, "OTEL_RESOURCE_ATTRIBUTES": "a%3Db=c"}, "OTEL_RESOURCE_ATTRIBUTES"),
    ({**ON, "OTEL_RESOURCE_ATTRIBUTES": "env:prod"}, "OTEL_RESOURCE_ATTRIBUTES"),
    ({**ON, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ({**ON, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
     "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    ({**ON, "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({**ON, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://collector:4317"},
     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
])
def test_errors_name_the_variable(variables, named):
    with pytest.raises(SettingsError) as error:
        load(**variables)
    assert str(error.value).startswith(named + ":"), str(error.value)


def test_the_exporter_error_says_what_is_served():
    with pytest.raises(SettingsError, match="use opentelemetry"):
        load(**ON, GOTRUE_TRACING_EXPORTER="opentracing")
    with pytest.raises(SettingsError, match=r"http/protobuf.*4318"):
        load(**ON, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")


def test_the_console_settings_page_has_a_tracing_group():
    settings = load(**ON, GOTRUE_TRACING_TAGS="env:prod", OTEL_SERVICE_NAME="auth")
    (group,) = [group for group in groups(settings) if group.key == "tracing"]
    assert group.title == "Tracing"
    rows = {row.name: row for row in group.rows}
    assert rows["tracing.enabled"].value == "on"
    assert rows["tracing.service_name"].value == "auth"
    assert "OTEL_SERVICE_NAME" in rows["tracing.service_name"].variable
    assert rows["tracing.endpoint"].value == DEFAULT_ENDPOINT
    assert "GOTRUE_TRACING_HOST" in rows["tracing.endpoint"].variable
    assert rows["tracing.resource_attributes"].value == "env=prod"
    assert rows["tracing.exporter"].variable == "GOTRUE_TRACING_EXPORTER"
