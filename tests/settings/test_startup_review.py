"""Start-up with an operator's GoTrue environment: every variable that will not take effect is a
warning naming it (and nothing else is), an unknown name gets the closest known one, and
GOTRUE_STRICT_CONFIG=true refuses to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gotrue_web.settings import SettingsError, from_env
from gotrue_web.settings.catalogue.review import review, suggestion

from ..live.conftest import REPO_ROOT
from ..test_settings import REQUIRED, load
from .conftest import DRIVERS
from .gotrue_variables import EXAMPLE_ENV, SEED_README, env_file

# The seed README's unprefixed names that GoTrue reads (and so does this server); its other
# unprefixed names GoTrue only ever read with GOTRUE_ in front.
SEED_UNPREFIXED_HONOURED = {
    "DATABASE_URL", "DB_NAMESPACE", "PORT", "LOG_LEVEL", "LOG_FILE", "REQUEST_ID_HEADER",
    "SERVICE_NAME", "TRACING_ENABLED", "TRACING_HOST", "TRACING_PORT", "TRACING_TAGS",
    "WEBHOOK_EVENTS", "WEBHOOK_RETRIES", "WEBHOOK_SECRET", "WEBHOOK_TIMEOUT_SEC", "WEBHOOK_URL",
}
# Words of the seed README's text that its list picked up: never a warning.
SEED_WORDS = {"HEAD", "JSON", "TOKEN"}

EXAMPLE_ENV_NOT_HONOURED = {
    "GOTRUE_EXTERNAL_SAML_API_BASE", "GOTRUE_EXTERNAL_SAML_ENABLED",
    "GOTRUE_EXTERNAL_SAML_METADATA_URL", "GOTRUE_EXTERNAL_SAML_NAME",
    "GOTRUE_EXTERNAL_SAML_SIGNING_CERT", "GOTRUE_EXTERNAL_SAML_SIGNING_KEY",
    "GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_SECRET", "GOTRUE_HOOK_CUSTOM_SMS_PROVIDER_ENABLED",
    "GOTRUE_HOOK_CUSTOM_SMS_PROVIDER_SECRET", "GOTRUE_HOOK_CUSTOM_SMS_PROVIDER_URI",
    "GOTRUE_MAX_VERIFIED_FACTORS", "GOTRUE_OPERATOR_TOKEN", "GOTRUE_SESSION_KEY",
}


def _fixed(test_database, tmp_path) -> dict[str, str]:
    """Values that must fit this run: its database, and a log file in the test's folder."""
    return {"GOTRUE_DB_DRIVER": DRIVERS[test_database.backend],
            "GOTRUE_LOG_FILE": str(tmp_path / "gotrue.log"),
            "LOG_FILE": str(tmp_path / "gotrue.log")}


def test_the_seed_readme_env_file_warns_of_exactly_its_names_not_read(
        start_from_env, test_database, tmp_path):
    fixed = _fixed(test_database, tmp_path)
    env_file(tmp_path / "seed.env", SEED_README)
    app, warnings = start_from_env((tmp_path / "seed.env").read_text(), **fixed)

    not_read = {name for name in SEED_README if not name.startswith("GOTRUE_")
                and name not in SEED_UNPREFIXED_HONOURED | SEED_WORDS}
    # The seed enables phone sign-in, but names its SMS provider only without the prefix.
    assert set(warnings) == not_read | {"GOTRUE_EXTERNAL_PHONE_ENABLED"}
    assert warnings["SMTP_HOST"] == ("SMTP_HOST is set but not read: it is an old or "
                                     "unprefixed name of GOTRUE_SMTP_HOST; set "
                                     "GOTRUE_SMTP_HOST instead")
    assert "GOTRUE_EXTERNAL_X_CLIENT_ID" in warnings["EXTERNAL_X_CLIENT_ID"]
    assert "multi-instance" in warnings["OPERATOR_TOKEN"]
    assert "configured but not available" in warnings["GOTRUE_EXTERNAL_PHONE_ENABLED"]
    # The unprefixed names GoTrue reads took effect. (No request: its span would go to a
    # collector that is not there.)
    settings = app.config["GOTRUE_SETTINGS"]
    assert settings.api.request_id_header == "X-Request-Id"
    assert settings.webhook.events == ("validate", "signup", "login")
    assert settings.tracing.enabled and settings.tracing.endpoint == \
        "http://127.0.0.1:4318/v1/traces"
    # GOTRUE_LOG_FILE: the warnings went to the file, as JSON lines.
    lines = [json.loads(line) for line in (tmp_path / "gotrue.log").read_text().splitlines()]
    assert {line["msg"] for line in lines if line["component"] == "gotrue_web.configuration"} \
        == set(warnings.values())


def test_current_gotrues_example_env_warns_of_exactly_what_is_not_supported(
        start_from_env, test_database, tmp_path):
    fixed = _fixed(test_database, tmp_path)
    env_file(tmp_path / "example.env", EXAMPLE_ENV)
    app, warnings = start_from_env((tmp_path / "example.env").read_text(), **fixed)

    # example.env enables LinkedIn without its redirect URI, and WebAuthn factors without a
    # relying party (GOTRUE_WEBAUTHN_RP_*).
    assert set(warnings) == EXAMPLE_ENV_NOT_HONOURED | {"GOTRUE_EXTERNAL_LINKEDIN_ENABLED",
                                                        "GOTRUE_MFA_WEB_AUTHN_ENROLL_ENABLED"}
    assert "GOTRUE_WEBAUTHN_RP_ID" in warnings["GOTRUE_MFA_WEB_AUTHN_ENROLL_ENABLED"]
    assert warnings["GOTRUE_EXTERNAL_LINKEDIN_ENABLED"] == (
        "GOTRUE_EXTERNAL_LINKEDIN_ENABLED: linkedin sign-in is configured but not available: "
        "missing redirect URI")
    assert warnings["GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_SECRET"].endswith(
        "set GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_SECRETS instead")
    assert "GOTRUE_SAML_ENABLED" in warnings["GOTRUE_EXTERNAL_SAML_ENABLED"]
    body = app.test_client().get("/health")
    assert body.status_code == 200


def test_a_typo_gets_the_closest_known_name(start_from_env):
    _, warnings = start_from_env(GOTRUE_SMTP_PROT="2525")
    assert warnings == {"GOTRUE_SMTP_PROT": "GOTRUE_SMTP_PROT: unknown variable, did you mean "
                                            "GOTRUE_SMTP_PORT?"}


def test_names_in_dot_env_are_reviewed_like_the_environments(start_from_env):
    _, warnings = start_from_env("GOTRUE_EXTERNAL_GITHUB_CLIENTID=abc\nGOTRUE_FOO=1\n")
    assert warnings == {
        "GOTRUE_EXTERNAL_GITHUB_CLIENTID": "GOTRUE_EXTERNAL_GITHUB_CLIENTID: unknown variable, "
                                           "did you mean GOTRUE_EXTERNAL_GITHUB_CLIENT_ID?",
        "GOTRUE_FOO": "GOTRUE_FOO: unknown variable (not a GoTrue variable)"}


def test_an_honoured_environment_starts_without_a_warning(start_from_env):
    _, warnings = start_from_env(GOTRUE_SMTP_PORT="2525", GOTRUE_SMTP_PROT="",
                                 PORT="8081", TOKEN="for another program")
    assert warnings == {}


def test_an_unknown_log_level_is_a_warning_and_means_info(start_from_env):
    app, warnings = start_from_env(GOTRUE_LOG_LEVEL="verbose")
    assert warnings == {"GOTRUE_LOG_LEVEL": "GOTRUE_LOG_LEVEL: unknown level 'verbose', using "
                                            "info (expected debug, info, warn, error, fatal or "
                                            "panic)"}


def test_strict_mode_refuses_to_build_the_app(start_from_env):
    with pytest.raises(SettingsError) as refused:
        start_from_env(GOTRUE_STRICT_CONFIG="true", GOTRUE_SMTP_PROT="2525",
                       SMTP_HOST="mail.example.com")
    message = str(refused.value)
    assert message.startswith("GOTRUE_STRICT_CONFIG: 2 configuration problem(s)")
    assert "GOTRUE_SMTP_PROT: unknown variable, did you mean GOTRUE_SMTP_PORT?" in message
    assert "SMTP_HOST is set but not read" in message


def test_strict_mode_starts_when_everything_set_is_honoured(start_from_env):
    app, warnings = start_from_env(GOTRUE_STRICT_CONFIG="true", GOTRUE_SMTP_PORT="2525")
    assert warnings == {}
    assert app.config["GOTRUE_SETTINGS"].strict_config is True


def test_strict_mode_makes_flask_exit_non_zero_with_the_message(tmp_path, test_database):
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("GOTRUE_") and key not in ("DATABASE_URL",)}
    environment.update(REQUIRED, DATABASE_URL=test_database.url,
                       GOTRUE_DB_NAMESPACE=test_database.namespace,
                       GOTRUE_STRICT_CONFIG="true", GOTRUE_SMTP_PROT="2525",
                       PYTHONPATH=str(REPO_ROOT))
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    finished = subprocess.run([flask, "--app", "wsgi", "routes"], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert "GOTRUE_STRICT_CONFIG: 1 configuration problem(s)" in finished.stderr
    assert "did you mean GOTRUE_SMTP_PORT?" in finished.stderr


def test_settings_handed_to_the_factory_are_not_reviewed_against_the_environment(
        make_app, monkeypatch):
    # Tests and tools build apps from Settings objects: the process environment is not theirs.
    monkeypatch.setenv("GOTRUE_STRICT_CONFIG", "true")
    monkeypatch.setenv("GOTRUE_SMTP_PROT", "1")
    assert make_app().test_client().get("/health").status_code == 200


# --- the review on its own --------------------------------------------------------------------


def test_empty_values_mean_unset_and_are_never_reviewed():
    assert review({"GOTRUE_SMTP_PROT": "", "SMTP_HOST": "", "GOTRUE_OPERATOR_TOKEN": ""}) == []


def test_suggestions_only_for_names_close_to_a_known_one():
    assert suggestion("GOTRUE_JWT_SECERT") == "GOTRUE_JWT_SECRET"
    assert suggestion("GOTRUE_MAILER_SUBJECTS_RECOVRY") == "GOTRUE_MAILER_SUBJECTS_RECOVERY"
    assert suggestion("GOTRUE_SOMETHING_ELSE_ENTIRELY") == ""


def test_a_not_supported_variable_says_why_and_what_instead():
    [finding] = review({"GOTRUE_EXTERNAL_SAML_METADATA_URL": "https://idp.example.com"})
    assert finding.kind == "not-supported"
    assert "POST /admin/sso/providers" in finding.message


# --- settings this change reads ---------------------------------------------------------------


def test_request_id_header_is_also_read_unprefixed_as_gotrue_does():
    assert load(REQUEST_ID_HEADER="X-Trace").api.request_id_header == "X-Trace"
    assert load(REQUEST_ID_HEADER="X-Trace", GOTRUE_API_REQUEST_ID_HEADER="X-Id") \
        .api.request_id_header == "X-Id"


def test_log_file_and_strict_config_are_read():
    assert load().log_file == "" and load().strict_config is False
    assert load(LOG_FILE="/var/log/gotrue.log").log_file == "/var/log/gotrue.log"
    assert load(GOTRUE_LOG_FILE="/a.log", LOG_FILE="/b.log").log_file == "/a.log"
    assert load(GOTRUE_STRICT_CONFIG="true").strict_config is True


@pytest.mark.parametrize("driver, url", [
    ("postgres", "postgres://postgres@127.0.0.1:5432/postgres"),
    ("mysql", "root@localhost/gotrue"), ("sqlite", None), ("POSTGRES", "postgresql://h/db"),
])
def test_a_db_driver_that_agrees_with_the_url_is_accepted(driver, url):
    variables = {"GOTRUE_DB_DRIVER": driver, **({"DATABASE_URL": url} if url else {})}
    assert load(**variables).db.driver == driver.lower()


@pytest.mark.parametrize("driver, url, words", [
    ("postgres", "root@localhost/gotrue", "contradicts DATABASE_URL, which is mysql"),
    ("postgres", None, "no DATABASE_URL"),
    ("oracle", None, "expected postgres, mysql or sqlite"),
])
def test_a_db_driver_that_contradicts_the_url_stops_start_up(driver, url, words):
    variables = {"GOTRUE_DB_DRIVER": driver, **({"DATABASE_URL": url} if url else {})}
    with pytest.raises(SettingsError, match=words):
        load(**variables)


def test_from_env_reads_the_file_under_the_environment(tmp_path):
    (tmp_path / ".env").write_text("GOTRUE_SMTP_PORT=2525\nGOTRUE_JWT_EXP=60\n")
    settings = from_env({**REQUIRED, "GOTRUE_JWT_EXP": "120"}, env_file=tmp_path / ".env")
    assert settings.smtp.port == 2525 and settings.jwt.exp == 120

