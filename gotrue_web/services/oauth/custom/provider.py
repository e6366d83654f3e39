"""A custom provider in the sign-in flow (spec oauth-sso.md section 6, "Flow").

``resolve`` turns a ``custom:<id>`` row into the Provider, Context and Endpoints the shared
/authorize and /callback code uses (services/oauth/flow.py, callback.py): the client secret is
decrypted here, the redirect_uri is CUSTOM_OAUTH_EXTERNAL_URL (else API_EXTERNAL_URL) +
/callback, and ``pkce_enabled`` makes the flow carry a provider-side PKCE verifier.

The profile: an oauth2 provider's userinfo JSON, or an OIDC provider's id_token (its audience
must include client_id or an acceptable_client_id; no nonce or at_hash check) and else its
userinfo endpoint. Then the allow-listed raw claims become custom_claims, attribute_mapping is
applied, and the email comes with its email_verified flag (which must be a boolean).
"""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import JoseError

from ....errors import GoTrueError, bad_request
from ....models import CustomOAuthProvider
from ....runtime import Runtime
from ....settings.external import OAuthProviderSettings
from ..base import (OAUTH2, OIDC, Context, Endpoints, Profile, Provider, ProviderEmail,
                    ProviderFailure)
from ..oidc import NOT_BEFORE_LEEWAY, SIGNING_ALGORITHMS, Discovery, decode_signed, discover
from . import admin, checks, secret_box

# GoTrue's provider.Claims: the keys a profile carries under their own names.
_STRING_CLAIMS = ("iss", "sub", "name", "family_name", "given_name", "middle_name", "nickname",
                  "preferred_username", "profile", "picture", "website", "gender", "birthdate",
                  "zoneinfo", "locale", "updated_at", "email", "phone", "full_name",
                  "avatar_url", "slug", "provider_id", "user_name")
_OTHER_CLAIMS = ("aud", "iat", "exp", "email_verified", "phone_verified", "custom_claims")


class CustomProvider(Provider):
    """One custom_oauth_providers row, copied: the flow outlives the row's ORM session."""

    def __init__(self, row: CustomOAuthProvider, *, allow_private_urls: bool):
        self.name = row.identifier
        self.kind = OIDC if row.provider_type == "oidc" else OAUTH2
        self.stored_scopes = tuple(row.scopes or ())
        self.pkce_enabled = bool(row.pkce_enabled)
        self.authorization_params = dict(row.authorization_params or {})
        self.attribute_mapping = dict(row.attribute_mapping or {})
        self.claims_allowlist = tuple(row.custom_claims_allowlist or ())
        self.audiences = (row.client_id, *(row.acceptable_client_ids or ()))
        self.issuer = row.issuer or ""
        self.discovery_url = admin.discovery_url(row) if self.kind == OIDC else ""
        self.urls = {"authorize": row.authorization_url or "", "token": row.token_url or "",
                     "profile": row.userinfo_url or ""}
        self.allow_private_urls = allow_private_urls

    # --- the authorize request ---

    def scopes(self, requested: str) -> list[str]:
        # Space-separated, and replacing the stored scopes (unlike the built-in providers).
        return requested.split() if requested.strip() else list(self.stored_scopes)

    def uses_pkce(self, ctx: Context) -> bool:
        return self.pkce_enabled

    def authorize_overrides(self) -> dict[str, str]:
        return dict(self.authorization_params)

    def endpoints(self, ctx: Context) -> Endpoints:
        if self.kind == OAUTH2:
            return Endpoints(authorize=self.urls["authorize"], token=self.urls["token"],
                             profile=self.urls["profile"])
        document = self._discovery(ctx).document
        found = {key: document.get(key) if isinstance(document.get(key), str) else ""
                 for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")}
        if not found["authorization_endpoint"] or not found["token_endpoint"]:
            raise ProviderFailure("the discovery document names no authorization or token "
                                  "endpoint")
        for key, url in found.items():
            if url:
                self._check_url(key, url)
        return Endpoints(authorize=found["authorization_endpoint"],
                         token=found["token_endpoint"], profile=found["userinfo_endpoint"],
                         discovery=self.discovery_url)

    def _discovery(self, ctx: Context) -> Discovery:
        return discover(self.discovery_url, base="", timeout=ctx.timeout, ttl=ctx.cache_ttl)

    def _check_url(self, key: str, url: str) -> None:
        try:
            checks.outbound_url(key, url, allow_private=self.allow_private_urls)
        except GoTrueError as exc:
            raise ProviderFailure(f"discovery: {exc.message}") from exc

    # --- the profile ---

    def profile(self, ctx: Context, token: dict) -> Profile:
        id_token = token.get("id_token")
        if self.kind == OIDC and isinstance(id_token, str) and id_token:
            raw = self._id_token_claims(ctx, id_token)
        else:
            raw = self.get_object(self.endpoints(ctx).profile or _no_userinfo(), token,
                                  ctx.timeout)
        return self.map_claims(raw)

    def _id_token_claims(self, ctx: Context, id_token: str) -> dict:
        discovery = self._discovery(ctx)
        offered = discovery.document.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in offered if alg in SIGNING_ALGORITHMS] or ["RS256"]
        try:
            decoded = decode_signed(discovery, id_token, algorithms)
            jwt.JWTClaimsRegistry(
                leeway=NOT_BEFORE_LEEWAY, exp={"essential": True}, sub={"essential": True},
                iss={"essential": True, "value": self.issuer}).validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderFailure(f"invalid id_token: {exc}") from exc
        claims = dict(decoded.claims)
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= time.time():
            raise ProviderFailure("invalid id_token: expired")
        audience = claims.get("aud")
        audience = [audience] if isinstance(audience, str) else list(audience or [])
        if not any(aud in audience for aud in self.audiences if aud):
            raise ProviderFailure("invalid id_token: no acceptable audience")
        return claims

    def map_claims(self, raw: dict) -> Profile:
        return map_claims(raw, allowlist=self.claims_allowlist, mapping=self.attribute_mapping)


def map_claims(raw: dict, *, allowlist=(), mapping: dict | None = None) -> Profile:
    """Claims from a provider's JSON: the standard keys, the allow-listed raw keys as
    custom_claims, then attribute_mapping (a string copies that raw key when present, any
    other value is set as is)."""
    if not isinstance(raw, dict):
        raise ProviderFailure("the profile is not a JSON object")
    claims = {key: raw[key] for key in (*_STRING_CLAIMS, *_OTHER_CLAIMS) if key in raw}
    custom = {key: raw[key] for key in allowlist if key in raw}
    if custom:
        claims["custom_claims"] = custom
    for target, source in (mapping or {}).items():
        if isinstance(source, str):
            if source in raw:
                claims[target] = raw[source]
        else:
            claims[target] = source
    for key in _STRING_CLAIMS:
        value = claims.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            claims[key] = str(value)
        elif not isinstance(value, str):
            raise ProviderFailure(f"the claim {key} is not a string")
    for key in ("email_verified", "phone_verified"):
        if key in claims and not isinstance(claims[key], bool):
            raise ProviderFailure(f"the claim {key} is not a boolean")
    if "custom_claims" in claims and not isinstance(claims["custom_claims"], dict):
        raise ProviderFailure("custom_claims is not an object")
    emails = []
    if claims.get("email"):
        emails.append(ProviderEmail(claims["email"], bool(claims.get("email_verified")), True))
    claims.pop("email_verified", None)
    return Profile(emails=emails, claims=claims)


def _no_userinfo() -> str:
    raise ProviderFailure("the provider has no userinfo endpoint")


def resolve(rt: Runtime, name: str, code: str) -> tuple[CustomProvider, Context, Endpoints]:
    """The usable custom provider ``name``; 400 "Unsupported provider: <reason>" otherwise."""
    external = rt.settings.external
    row = admin.find(name) if external.custom_oauth_enabled else None
    if row is None:
        raise _unsupported(code, f"Provider {name} could not be found")
    if not row.enabled:
        raise _unsupported(code, "provider is not enabled")
    if not row.client_id:
        raise _unsupported(code, "missing OAuth client ID")
    try:
        secret = secret_box.unseal(rt.settings.jwt.secret, row.client_secret or "")
    except secret_box.UnreadableSecret:
        # Sealed under another GOTRUE_JWT_SECRET: the operator must set it again.
        raise _unsupported(code, "missing OAuth secret") from None
    base = external.custom_oauth_external_url or rt.settings.api.external_url
    if not base:
        raise _unsupported(code, "missing redirect URI")
    provider = CustomProvider(row, allow_private_urls=external.custom_oauth_allow_private_urls)
    config = OAuthProviderSettings(
        enabled=True, client_ids=provider.audiences, secret=secret,
        redirect_uri=base.rstrip("/") + "/callback", email_optional=bool(row.email_optional),
        skip_nonce_check=bool(row.skip_nonce_check))
    ctx = Context(config=config, timeout=external.http_timeout.total_seconds(),
                  cache_ttl=external.oidc_provider_cache_ttl.total_seconds())
    try:
        endpoints = provider.endpoints(ctx)
    except ProviderFailure as exc:
        raise _unsupported(code, str(exc)) from exc
    return provider, ctx, endpoints


def _unsupported(code: str, reason: str):
    return bad_request(code, f"Unsupported provider: {reason}")


__all__ = ["CustomProvider", "map_claims", "resolve"]
