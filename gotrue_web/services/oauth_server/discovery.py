"""The discovery document (spec idp-passkeys-web3.md section 1.8): one body for
/.well-known/oauth-authorization-server (RFC 8414) and /.well-known/openid-configuration.

``issuer`` is GOTRUE_JWT_ISSUER as configured; the endpoint URLs are built on it without its
trailing '/'.
"""

from __future__ import annotations

from ...settings import Settings
from ...settings.oauth_server import SUPPORTED_SCOPES

CACHE_CONTROL = "public, max-age=600"

CLAIMS_SUPPORTED = ("sub", "aud", "iss", "exp", "iat", "auth_time", "nonce", "email",
                    "email_verified", "phone_number", "phone_number_verified", "name", "picture",
                    "preferred_username", "updated_at")


def metadata(settings: Settings) -> dict:
    issuer = settings.jwt.issuer
    base = issuer.removesuffix("/")
    document = {
        "issuer": issuer,
        "authorization_endpoint": base + "/oauth/authorize",
        "token_endpoint": base + "/oauth/token",
        "jwks_uri": base + "/.well-known/jwks.json",
        "userinfo_endpoint": base + "/oauth/userinfo",
    }
    server = settings.oauth_server
    if server.enabled and server.allow_dynamic_registration:
        document["registration_endpoint"] = base + "/oauth/clients/register"
    document.update({
        # offline_access is accepted and changes nothing: every code exchange gets a refresh
        # token.
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "none"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": list(CLAIMS_SUPPORTED),
    })
    return document
