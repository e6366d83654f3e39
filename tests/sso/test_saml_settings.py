"""GOTRUE_SAML_* and the SSO rate limits: defaults, values, start-up errors naming the
variable (a key that is not base64 DER RSA of at least 2048 bits with exponent 65537), GET
/settings, and the two limiter buckets (POST /sso and the ACS) answering 429."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gotrue_web.settings import Settings, SettingsError, from_env

from ..support.fake_saml_idp import sp_private_key_setting
from .conftest import DOMAIN

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
}


def load(**variables: str) -> Settings:
    return from_env({**REQUIRED, **variables}, env_file=None)


def _der(key) -> str:
    return base64.b64encode(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey) else serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())).decode()


def test_defaults():
    settings = load()
    saml = settings.saml
    assert (saml.enabled, saml.private_key, saml.private_key_next) == (False, "", "")
    assert saml.allow_encrypted_assertions is False
    assert saml.relay_state_validity_period == timedelta(minutes=2)
    assert saml.external_url == "" and saml.allow_http_metadata_urls is False
    assert (settings.rate_limit.sso, settings.rate_limit.saml_assertion) == (30, 15)


def test_values():
    key, next_key = sp_private_key_setting(), sp_private_key_setting()
    settings = load(GOTRUE_SAML_ENABLED="true", GOTRUE_SAML_PRIVATE_KEY=key,
                    GOTRUE_SAML_PRIVATE_KEY_NEXT=next_key,
                    GOTRUE_SAML_ALLOW_ENCRYPTED_ASSERTIONS="true",
                    GOTRUE_SAML_RELAY_STATE_VALIDITY_PERIOD="5m",
                    GOTRUE_SAML_EXTERNAL_URL="https://sso.example.com",
                    GOTRUE_SAML_RATE_LIMIT_ASSERTION="7", GOTRUE_RATE_LIMIT_SSO="9",
                    GOTRUE_SAML_ALLOW_HTTP_METADATA_URLS="true")
    saml = settings.saml
    assert (saml.enabled, saml.private_key, saml.private_key_next) == (True, key, next_key)
    assert saml.allow_encrypted_assertions is True
    assert saml.relay_state_validity_period == timedelta(minutes=5)
    assert saml.external_url == "https://sso.example.com"
    # The tests' switch is never read from the environment.
    assert saml.allow_http_metadata_urls is False
    assert (settings.rate_limit.sso, settings.rate_limit.saml_assertion) == (9, 7)


@pytest.mark.parametrize("make_value, reason", [
    (lambda: "", "required"),
    (lambda: "%%%not-base64", "not valid base64"),
    (lambda: base64.b64encode(b"not a key").decode(), "not a DER-encoded PKCS#1 RSA"),
    (lambda: _der(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
     "at least 2048 bits"),
    (lambda: _der(rsa.generate_private_key(public_exponent=3, key_size=2048)),
     "exponent must be 65537"),
    (lambda: _der(ec.generate_private_key(ec.SECP256R1())), "not an RSA private key"),
])
def test_a_bad_key_stops_start_up_naming_the_variable(make_value, reason):
    with pytest.raises(SettingsError) as caught:
        load(GOTRUE_SAML_ENABLED="true", GOTRUE_SAML_PRIVATE_KEY=make_value())
    assert str(caught.value).startswith("GOTRUE_SAML_PRIVATE_KEY:")
    assert reason in str(caught.value)


def test_a_bad_next_key_or_url_names_its_variable():
    with pytest.raises(SettingsError, match="^GOTRUE_SAML_PRIVATE_KEY_NEXT:"):
        load(GOTRUE_SAML_ENABLED="true", GOTRUE_SAML_PRIVATE_KEY=sp_private_key_setting(),
             GOTRUE_SAML_PRIVATE_KEY_NEXT="nope")
    with pytest.raises(SettingsError, match="^GOTRUE_SAML_EXTERNAL_URL:"):
        load(GOTRUE_SAML_EXTERNAL_URL="ftp:/nowhere")
    with pytest.raises(SettingsError, match="^GOTRUE_SAML_RELAY_STATE_VALIDITY_PERIOD:"):
        load(GOTRUE_SAML_RELAY_STATE_VALIDITY_PERIOD="soon")


def test_settings_endpoint_while_off(api):
    body = api.get("/settings").get_json()
    assert body["saml_enabled"] is False
    assert body["saml_private_key_next_configured"] is False


def test_post_sso_is_rate_limited_per_client(make_saml_site):
    site = make_saml_site(**{"rate_limit.sso": 1})
    site.create_provider()
    client = site.app.test_client()
    first = client.post("/sso", json={"domain": DOMAIN},
                        environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert first.status_code == 303
    second = client.post("/sso", json={"domain": DOMAIN},
                         environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert second.status_code == 429
    assert second.get_json()["error_code"] == "over_request_rate_limit"
    assert "Retry-After" in second.headers
    other = client.post("/sso", json={"domain": DOMAIN},
                        environ_base={"REMOTE_ADDR": "198.51.100.2"})
    assert other.status_code == 303


def test_the_acs_is_rate_limited_per_client(make_saml_site):
    site = make_saml_site(**{"rate_limit.saml_assertion": 1})
    client = site.app.test_client()
    answers = [client.post("/sso/saml/acs", data={"RelayState": "not a url"},
                           environ_base={"REMOTE_ADDR": "198.51.100.3"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 429]


def test_post_sso_checks_the_captcha(make_saml_site):
    site = make_saml_site(**{"captcha.enabled": True, "captcha.secret": "s",
                             "captcha.url": "http://127.0.0.1:9"})
    site.create_provider()
    answer = site.api.post("/sso", json={"domain": DOMAIN})
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "captcha_failed"
