"""GOTRUE_EXTERNAL_<P>_* and the OAuth globals are read as GoTrue reads them, and the console's
settings report shows them with the secret masked."""

from __future__ import annotations

from datetime import timedelta

from gotrue_web.console.operations.settings_report import groups
from gotrue_web.settings import from_env

BASE = {"API_EXTERNAL_URL": "http://localhost:9999", "GOTRUE_SITE_URL": "http://localhost:3000",
        "GOTRUE_JWT_SECRET": "x" * 40}


def load(**env):
    return from_env({**BASE, **env}, env_file=None)


def test_provider_variables():
    settings = load(GOTRUE_EXTERNAL_GITHUB_ENABLED="true",
                    GOTRUE_EXTERNAL_GITHUB_CLIENT_ID="web-client, ios-client",
                    GOTRUE_EXTERNAL_GITHUB_SECRET="s3cret",
                    GOTRUE_EXTERNAL_GITHUB_REDIRECT_URI="https://auth.example/callback",
                    GOTRUE_EXTERNAL_GITHUB_URL="https://ghe.example",
                    GOTRUE_EXTERNAL_GITHUB_EMAIL_OPTIONAL="true",
                    GOTRUE_EXTERNAL_X_ENABLED="true",
                    GOTRUE_EXTERNAL_LINKEDIN_OIDC_SKIP_NONCE_CHECK="true")
    github = settings.external.oauth["github"]
    assert github.enabled and settings.external.providers["github"]
    assert github.client_ids == ("web-client", "ios-client") and github.client_id == "web-client"
    assert (github.secret, github.redirect_uri, github.url) == (
        "s3cret", "https://auth.example/callback", "https://ghe.example")
    assert github.email_optional and not github.skip_nonce_check
    # x has variables but no /settings key.
    assert settings.external.oauth["x"].enabled and "x" not in settings.external.providers
    assert settings.external.oauth["linkedin_oidc"].skip_nonce_check


def test_global_oauth_variables():
    defaults = load().external
    assert (defaults.oidc_provider_cache_ttl, defaults.http_timeout) == (
        timedelta(hours=1), timedelta(seconds=10))
    assert not defaults.allow_unverified_email_sign_ins and defaults.linking_domains == {}
    external = load(GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION="60s",
                    GOTRUE_EXTERNAL_OIDC_PROVIDER_CACHE_TTL="10m",
                    GOTRUE_INTERNAL_HTTP_TIMEOUT="3s",
                    GOTRUE_MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS="true",
                    GOTRUE_EXPERIMENTAL_PROVIDERS_WITH_OWN_LINKING_DOMAIN="gitlab",
                    GOTRUE_EXPERIMENTAL_PROVIDER_LINKING_DOMAINS="github=code, google=g").external
    assert external.flow_state_expiry == timedelta(seconds=300)
    assert external.oidc_provider_cache_ttl == timedelta(minutes=10)
    assert external.http_timeout == timedelta(seconds=3)
    assert external.allow_unverified_email_sign_ins
    assert external.linking_domains == {"gitlab": "gitlab", "github": "code", "google": "g"}


def test_the_settings_report_masks_provider_secrets():
    settings = load(GOTRUE_EXTERNAL_GITHUB_ENABLED="true",
                    GOTRUE_EXTERNAL_GITHUB_SECRET="very-secret-value")
    rows = {row.name: row for group in groups(settings) for row in group.rows}
    secret = rows["external.oauth.github.secret"]
    assert secret.masked and "very-secret-value" not in secret.value
    assert secret.variable == "GOTRUE_EXTERNAL_GITHUB_SECRET"
    assert rows["external.oauth.github.client_ids"].variable == "GOTRUE_EXTERNAL_GITHUB_CLIENT_ID"
    assert rows["external.http_timeout"].variable == "GOTRUE_INTERNAL_HTTP_TIMEOUT"
    # Providers with nothing configured are left out.
    assert "external.oauth.zoom.secret" not in rows
