"""SAML 2.0 SSO: GoTrue's GOTRUE_SAML_* variables (conf/saml.go; spec oauth-sso.md section 5).

The rate limits GoTrue names here (GOTRUE_SAML_RATE_LIMIT_ASSERTION, GOTRUE_RATE_LIMIT_SSO) are
read with the other request limits, in settings/rate_limit.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ...security.saml_keys import load_private_key
from ..env import EnvReader, SettingsError, check_url

DEFAULT_RELAY_STATE_VALIDITY = timedelta(minutes=2)


@dataclass(frozen=True)
class SAMLSettings:
    enabled: bool = False
    # Base64 of the DER (PKCS#1) RSA key that signs AuthnRequests and decrypts assertions;
    # _NEXT is the key being rotated in (published in the metadata, tried for decryption).
    private_key: str = ""
    private_key_next: str = ""
    allow_encrypted_assertions: bool = False
    # How long the AuthnRequest POST /sso sent may be answered.
    relay_state_validity_period: timedelta = DEFAULT_RELAY_STATE_VALIDITY
    # The service provider's base URL (EntityID and ACS); "" means API_EXTERNAL_URL.
    external_url: str = ""
    # Tests only, deliberately NOT read from the environment: the app factory's overrides set
    # it (make_app(**{"saml.allow_http_metadata_urls": True})) so that metadata_url may name
    # an identity provider on an http loopback port. Never on in a served app.
    allow_http_metadata_urls: bool = False


def read(env: EnvReader) -> SAMLSettings:
    return SAMLSettings(
        enabled=env.bool("SAML_ENABLED", False),
        private_key=env.str("SAML_PRIVATE_KEY"),
        private_key_next=env.str("SAML_PRIVATE_KEY_NEXT"),
        allow_encrypted_assertions=env.bool("SAML_ALLOW_ENCRYPTED_ASSERTIONS", False),
        relay_state_validity_period=env.duration(
            "SAML_RELAY_STATE_VALIDITY_PERIOD", DEFAULT_RELAY_STATE_VALIDITY,
            zero_is_default=True),
        external_url=env.str("SAML_EXTERNAL_URL"),
    )


def check(saml: SAMLSettings) -> None:
    if saml.external_url:
        check_url("GOTRUE_SAML_EXTERNAL_URL", saml.external_url, http_only=True)
    if not saml.enabled:
        return
    if not saml.private_key:
        raise SettingsError("GOTRUE_SAML_PRIVATE_KEY: required when GOTRUE_SAML_ENABLED is true")
    for variable, value in (("GOTRUE_SAML_PRIVATE_KEY", saml.private_key),
                            ("GOTRUE_SAML_PRIVATE_KEY_NEXT", saml.private_key_next)):
        if not value:
            continue
        try:
            load_private_key(value)
        except ValueError as exc:
            raise SettingsError(f"{variable}: {exc} (expected base64 of a DER-encoded PKCS#1 "
                                "RSA key of at least 2048 bits)") from None
