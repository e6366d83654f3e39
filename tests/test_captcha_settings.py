"""GOTRUE_SECURITY_CAPTCHA_*: defaults, parsing, the verify endpoint the URL override gives, and
the start-up errors that name the variable at fault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.settings import Settings, SettingsError, from_env, validate

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
}
ON = {"GOTRUE_SECURITY_CAPTCHA_ENABLED": "true", "GOTRUE_SECURITY_CAPTCHA_SECRET": "s3cret"}


def load(**variables: str) -> Settings:
    return from_env({**REQUIRED, **variables}, env_file=None)


def test_defaults_are_gotrue_defaults():
    captcha = load().captcha
    assert captcha.enabled is False
    assert captcha.provider == "hcaptcha"
    assert captcha.secret == ""
    assert captcha.timeout == timedelta(seconds=10)
    assert captcha.url == ""
    assert captcha.verify_url == "https://hcaptcha.com/siteverify"


def test_values_are_read():
    captcha = load(**ON, GOTRUE_SECURITY_CAPTCHA_PROVIDER="turnstile",
                   GOTRUE_SECURITY_CAPTCHA_TIMEOUT="2500ms").captcha
    assert (captcha.enabled, captcha.provider, captcha.secret) == (True, "turnstile", "s3cret")
    assert captcha.timeout == timedelta(milliseconds=2500)
    assert captcha.verify_url == "https://challenges.cloudflare.com/turnstile/v0/siteverify"


@pytest.mark.parametrize("raw, expected", [("30s", 30), ("1m", 60), ("15", 15), ("0", 10)])
def test_timeout_is_a_go_duration_or_seconds(raw, expected):
    captcha = load(GOTRUE_SECURITY_CAPTCHA_TIMEOUT=raw).captcha
    assert captcha.timeout == timedelta(seconds=expected)


@pytest.mark.parametrize("provider, url, expected", [
    ("hcaptcha", "http://127.0.0.1:8025", "http://127.0.0.1:8025/siteverify"),
    ("hcaptcha", "https://captcha-proxy.internal/", "https://captcha-proxy.internal/siteverify"),
    ("turnstile", "http://localhost:9000",
     "http://localhost:9000/turnstile/v0/siteverify"),
])
def test_the_url_replaces_only_scheme_and_host(provider, url, expected):
    captcha = load(GOTRUE_SECURITY_CAPTCHA_PROVIDER=provider,
                   GOTRUE_SECURITY_CAPTCHA_URL=url).captcha
    assert captcha.verify_url == expected


def test_provider_names_ignore_case():
    assert load(GOTRUE_SECURITY_CAPTCHA_PROVIDER="Turnstile").captcha.provider == "turnstile"


@pytest.mark.parametrize("variables", [ON, {}])
@pytest.mark.parametrize("provider", ["recaptcha", "hcaptcha,turnstile", "none"])
def test_an_unknown_provider_is_refused_at_start_up(variables, provider):
    with pytest.raises(SettingsError,
                       match="GOTRUE_SECURITY_CAPTCHA_PROVIDER: expected hcaptcha or turnstile"):
        load(**variables, GOTRUE_SECURITY_CAPTCHA_PROVIDER=provider)


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_the_secret_is_required_when_enabled(secret):
    variables = {"GOTRUE_SECURITY_CAPTCHA_ENABLED": "true"}
    if secret is not None:
        variables["GOTRUE_SECURITY_CAPTCHA_SECRET"] = secret
    with pytest.raises(SettingsError, match="GOTRUE_SECURITY_CAPTCHA_SECRET: required"):
        load(**variables)


def test_no_secret_is_fine_while_disabled():
    assert load(GOTRUE_SECURITY_CAPTCHA_ENABLED="false").captcha.enabled is False


ONLY_HOST = "give only a scheme and host"


@pytest.mark.parametrize("name, raw, message", [
    ("GOTRUE_SECURITY_CAPTCHA_ENABLED", "maybe", "expected true or false"),
    ("GOTRUE_SECURITY_CAPTCHA_TIMEOUT", "soon", "expected a duration"),
    ("GOTRUE_SECURITY_CAPTCHA_TIMEOUT", "-5s", "must not be negative"),
    ("GOTRUE_SECURITY_CAPTCHA_URL", "captcha.internal", "expected an absolute URL"),
    ("GOTRUE_SECURITY_CAPTCHA_URL", "ftp://captcha.internal", "expected an http"),
    ("GOTRUE_SECURITY_CAPTCHA_URL", "http://captcha.internal:99999", "not a valid URL"),
    ("GOTRUE_SECURITY_CAPTCHA_URL", "https://proxy.internal/hcaptcha", ONLY_HOST),
    ("GOTRUE_SECURITY_CAPTCHA_URL", "https://proxy.internal?x=1", ONLY_HOST),
    ("GOTRUE_SECURITY_CAPTCHA_URL", "https://user:pw@proxy.internal", ONLY_HOST),
])
def test_malformed_values_name_the_variable(name, raw, message):
    with pytest.raises(SettingsError, match=f"{name}: .*{message}"):
        load(**{**ON, name: raw})


def test_credentials_in_the_url_are_not_repeated_in_the_error():
    with pytest.raises(SettingsError) as refused:
        load(GOTRUE_SECURITY_CAPTCHA_URL="https://user:hunter2@proxy.internal")
    assert "hunter2" not in str(refused.value)


def test_validate_checks_settings_built_in_code():
    with pytest.raises(SettingsError, match="GOTRUE_SECURITY_CAPTCHA_SECRET"):
        validate(Settings(site_url="https://app.example.com").replace(**{
            "api.external_url": "https://auth.example.com",
            "jwt.secret": "a-secret-of-at-least-thirty-two-characters",
            "captcha.enabled": True}))
