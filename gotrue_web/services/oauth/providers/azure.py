"""Microsoft Entra ID (Azure AD) and Entra External ID (CIAM): OIDC where the ID token is the
whole profile. URL picks the tenant (https://login.microsoftonline.com/<tenant>); a token is
verified with the keys of the issuer it names, and that issuer must be Microsoft's (and, for a
pinned tenant, exactly that tenant's)."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError

from ..base import OIDC, Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text
from ..oidc import discover, validate_id_token

DEFAULT_TENANT_URL = "https://login.microsoftonline.com/common"
_ISSUER_PATTERNS = (re.compile(r"^https://login\.microsoftonline\.com/[^/]+/v2\.0/?$"),
                    re.compile(r"^https://[a-z0-9-]+\.ciamlogin\.com/[^/]+/v2\.0/?$"))
# Multi-tenant endpoints: tokens come from each user's own tenant.
_SHARED_TENANTS = {"common", "organizations", "consumers"}
# Registered and Azure-internal claims that are not the user's custom claims.
_NOT_CUSTOM = {"aud", "iss", "iat", "nbf", "exp", "c_hash", "at_hash", "aio", "nonce", "rh",
               "uti", "jti", "ver", "sub", "name", "preferred_username"}


def is_microsoft_issuer(issuer: str) -> bool:
    return any(pattern.match(issuer) for pattern in _ISSUER_PATTERNS)


def expected_issuer(url: str) -> str | None:
    """The one issuer a single-tenant URL accepts; None for the shared endpoints."""
    url = url.rstrip("/")
    if not url:
        return None
    candidate = f"{url}/v2.0"
    tenant = urlsplit(url).path.strip("/").split("/")[-1].lower()
    if tenant in _SHARED_TENANTS or not is_microsoft_issuer(candidate):
        return None
    return candidate


def _unverified_issuer(id_token: str) -> str:
    try:
        payload = json.loads(jws.extract_compact(id_token.encode()).payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise ProviderFailure(f"azure: the id_token cannot be read: {exc}") from exc
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str):
        raise ProviderFailure("azure: the id_token names no issuer")
    return issuer


def _email_verified(claims: dict) -> bool:
    # xms_edov ("email domain owner verified") is only sent when the tenant is asked for it.
    return "xms_edov" not in claims or claims["xms_edov"] in (True, "1", "true")


class Azure(Provider):
    name = "azure"
    kind = OIDC
    default_scopes = ("openid",)

    def endpoints(self, ctx) -> Endpoints:
        base = ctx.config.url.rstrip("/") or DEFAULT_TENANT_URL
        return Endpoints(authorize=f"{base}/oauth2/v2.0/authorize",
                         token=f"{base}/oauth2/v2.0/token")

    def profile(self, ctx, token) -> Profile:
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise ProviderFailure("azure: the token reply has no id_token")
        issuer = _unverified_issuer(id_token)
        pinned = expected_issuer(ctx.config.url)
        if pinned is not None and issuer.rstrip("/") != pinned:
            raise ProviderFailure(f"azure: issuer {issuer} is not the configured tenant")
        if not is_microsoft_issuer(issuer):
            raise ProviderFailure(f"azure: issuer {issuer} is not a Microsoft issuer")
        # With URL set the issuer's server is reached through URL's host (scheme + host only).
        parts = urlsplit(ctx.config.url)
        host = f"{parts.scheme}://{parts.netloc}" if ctx.config.url else ""
        discovery = discover(rebase(f"{issuer.rstrip('/')}/.well-known/openid-configuration",
                                    host),
                             base=host, timeout=ctx.timeout, ttl=ctx.cache_ttl)
        claims = validate_id_token(discovery, id_token, audience=ctx.config.client_id,
                                   issuers=(issuer,), access_token=token["access_token"])
        return claims_profile(claims)


def claims_profile(claims: dict) -> Profile:
    """Table B's azure row (the id_token grant maps Azure tokens the same way)."""
    emails = []
    if claims.get("email"):
        emails.append(ProviderEmail(str(claims["email"]), _email_verified(claims), True))
    return Profile(emails=emails, claims={
        "iss": text(claims.get("iss")), "sub": text(claims.get("sub")),
        "full_name": text(claims.get("name")),
        "preferred_username": text(claims.get("preferred_username")),
        "custom_claims": {k: v for k, v in claims.items() if k not in _NOT_CUSTOM},
    })
