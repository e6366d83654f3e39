"""Hook settings (spec phone-sms.md 4.1) and the legacy WEBHOOK_* names (4.5): what start-up
accepts, what it refuses with an error naming the variable, and how values are read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.settings import HOOK_NAMES, HookConfig, SettingsError, from_env
from tests.support.fake_hooks import OTHER_SECRET, SECRET

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
    "GOTRUE_DB_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/auth",
}


def load(**variables: str):
    return from_env({**REQUIRED, **variables}, env_file=None)


def refused(**variables: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load(**variables)
    return str(caught.value)


def test_hooks_are_off_by_default():
    hooks = load().hooks
    assert not any(hooks.enabled(name) for name in HOOK_NAMES)
    assert hooks.delivery_log_days == 7


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hook_reads_enabled_uri_and_secrets(name):
    prefix = f"GOTRUE_HOOK_{name.upper()}_"
    hooks = load(**{prefix + "ENABLED": "true", prefix + "URI": "https://hooks.example.com/x",
                    prefix + "SECRETS": f"{SECRET}|{OTHER_SECRET}"}).hooks
    assert hooks.get(name) == HookConfig(True, "https://hooks.example.com/x",
                                         (SECRET, OTHER_SECRET))
    assert hooks.enabled(name)


@pytest.mark.parametrize("uri", [
    "https://hooks.example.com/sms", "http://localhost:9999/sms", "http://127.0.0.1/sms",
    "http://[::1]:8080/sms", "http://host.docker.internal:54321/functions/v1/hook",
    "pg-functions://postgres/public/custom_access_token_hook",
    "pg-functions://postgres/Auth_1/HookMixedCase/extra/parts",
])
def test_accepted_uris(uri):
    config = load(GOTRUE_HOOK_SEND_SMS_ENABLED="true", GOTRUE_HOOK_SEND_SMS_URI=uri).hooks.send_sms
    assert config.uri == uri


def test_pg_function_names_keep_their_case():
    config = load(GOTRUE_HOOK_SEND_SMS_URI="pg-functions://x/MySchema/MyHook").hooks.send_sms
    assert config.is_pg_function and config.pg_function() == ("MySchema", "MyHook")


@pytest.mark.parametrize("uri, message", [
    ("http://hooks.example.com/sms", "http:// is allowed only for localhost"),
    ("http://10.0.0.5/sms", "http:// is allowed only for localhost"),
    ("ftp://hooks.example.com/sms", "expected an https://"),
    ("hooks.example.com/sms", "expected an https://"),
    ("pg-functions://postgres/public", "expected pg-functions://<db>/<schema>/<function>"),
    ("pg-functions://postgres/public/bad-name", "expected pg-functions://"),
    ("pg-functions://postgres/1schema/hook", "expected pg-functions://"),
    ('pg-functions://postgres/public/x"; drop table users; --', "expected pg-functions://"),
    ("pg-functions://postgres/public/" + "f" * 64, "expected pg-functions://"),
])
def test_refused_uris(uri, message):
    error = refused(GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_URI=uri)
    assert error.startswith("GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_URI: ")
    assert message in error


def test_a_uri_is_checked_even_while_disabled():
    refused(GOTRUE_HOOK_SEND_EMAIL_ENABLED="false",
            GOTRUE_HOOK_SEND_EMAIL_URI="http://hooks.example.com/mail")


def test_a_63_character_pg_name_is_accepted():
    load(GOTRUE_HOOK_SEND_SMS_URI="pg-functions://postgres/public/" + "f" * 63)


@pytest.mark.parametrize("secrets", [
    "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "v1,whsec_short",
    f"{SECRET}|v2,whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "v1a,whpk_only-public",
])
def test_malformed_secrets_are_refused_without_echoing_them(secrets):
    error = refused(GOTRUE_HOOK_SEND_SMS_URI="https://hooks.example.com/sms",
                    GOTRUE_HOOK_SEND_SMS_SECRETS=secrets)
    assert error.startswith("GOTRUE_HOOK_SEND_SMS_SECRETS: ")
    assert "MDEy" not in error and "short" not in error


def test_asymmetric_secrets_pass_the_check():
    config = load(GOTRUE_HOOK_SEND_SMS_URI="https://hooks.example.com/sms",
                  GOTRUE_HOOK_SEND_SMS_SECRETS="v1a,whpk_cHVi:whsk_c2Vj").hooks.send_sms
    assert config.secrets == ("v1a,whpk_cHVi:whsk_c2Vj",)


def test_pg_hooks_ignore_their_secrets():
    config = load(GOTRUE_HOOK_SEND_SMS_URI="pg-functions://postgres/public/hook",
                  GOTRUE_HOOK_SEND_SMS_SECRETS="anything").hooks.send_sms
    assert config.is_pg_function


def test_pg_hooks_are_refused_without_postgresql():
    error = refused(GOTRUE_DB_DATABASE_URL="mysql://root@127.0.0.1/auth",
                    GOTRUE_HOOK_SEND_SMS_ENABLED="true",
                    GOTRUE_HOOK_SEND_SMS_URI="pg-functions://postgres/public/hook")
    assert error.startswith("GOTRUE_HOOK_SEND_SMS_URI: pg-functions:// hooks need PostgreSQL")


def test_delivery_log_days():
    assert load(GOTRUE_HOOK_DELIVERY_LOG_DAYS="30").hooks.delivery_log_days == 30
    assert refused(GOTRUE_HOOK_DELIVERY_LOG_DAYS="0").startswith(
        "GOTRUE_HOOK_DELIVERY_LOG_DAYS")


# --- the legacy webhook -----------------------------------------------------------------------


def test_legacy_webhook_defaults():
    webhook = load().webhook
    assert (webhook.url, webhook.secret, webhook.retries, webhook.timeout, webhook.events) == (
        "", "", 3, timedelta(seconds=5), ())
    assert not webhook.wants("signup")


@pytest.mark.parametrize("prefix", ["GOTRUE_", ""])
def test_legacy_webhook_names_with_and_without_the_prefix(prefix):
    webhook = load(**{f"{prefix}WEBHOOK_URL": "https://hooks.example.com/legacy",
                      f"{prefix}WEBHOOK_SECRET": "legacy-secret",
                      f"{prefix}WEBHOOK_RETRIES": "5",
                      f"{prefix}WEBHOOK_TIMEOUT_SEC": "9",
                      f"{prefix}WEBHOOK_EVENTS": "signup, login"}).webhook
    assert (webhook.url, webhook.secret, webhook.retries, webhook.timeout, webhook.events) == (
        "https://hooks.example.com/legacy", "legacy-secret", 5, timedelta(seconds=9),
        ("signup", "login"))
    assert webhook.wants("signup") and webhook.wants("login")
    assert not webhook.wants("validate")


@pytest.mark.parametrize("name", ["GOTRUE_WEBHOOK_TIMEOUT_SEC", "GOTRUE_WEBHOOK_TIMEOUTSEC",
                                  "WEBHOOK_TIMEOUT_SEC", "WEBHOOK_TIMEOUTSEC"])
def test_legacy_timeout_spellings(name):
    assert load(**{name: "12"}).webhook.timeout == timedelta(seconds=12)


def test_the_prefixed_name_wins():
    webhook = load(GOTRUE_WEBHOOK_URL="https://a.example.com/h",
                   WEBHOOK_URL="https://b.example.com/h").webhook
    assert webhook.url == "https://a.example.com/h"


def test_zero_retries_means_three():
    assert load(WEBHOOK_RETRIES="0").webhook.retries == 3


def test_legacy_bad_values_are_refused():
    assert refused(WEBHOOK_TIMEOUT_SEC="soon").startswith("WEBHOOK_TIMEOUT_SEC")
    assert refused(GOTRUE_WEBHOOK_RETRIES="many").startswith("GOTRUE_WEBHOOK_RETRIES")


def test_an_unknown_legacy_event_is_refused():
    error = refused(WEBHOOK_URL="https://hooks.example.com/legacy",
                    WEBHOOK_EVENTS="signup,logout")
    assert error.startswith("GOTRUE_WEBHOOK_EVENTS: unknown event 'logout'")
