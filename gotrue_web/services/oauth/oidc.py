"""OpenID Connect: discovery (cached per issuer) and ID token validation with its JWKS.

joserfc verifies the signature and the registered claims; this module only chooses the keys,
the algorithms and the expected issuer and audience (spec oauth-sso.md section 0).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ...transports import oauth_http
from .base import ProviderFailure, rebase

SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384",
                      "PS512", "EdDSA")
# nbf may be this far in the future (clock skew); exp is strict.
NOT_BEFORE_LEEWAY = 60
_ENDPOINT_KEYS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


@dataclass(frozen=True)
class Discovery:
    document: dict
    keys: KeySet
    fetched_at: float

    def endpoint(self, key: str) -> str:
        value = self.document.get(key)
        return value if isinstance(value, str) else ""


_cache: dict[str, Discovery] = {}
_cache_lock = threading.Lock()


def _fetch(discovery_url: str, base: str, timeout: float) -> Discovery:
    try:
        document = oauth_http.get_json(discovery_url, timeout=timeout)
        if not isinstance(document, dict):
            raise ProviderFailure(f"{discovery_url}: not a discovery document")
        # With a URL setting every endpoint the document names moves to that server too.
        document = {**document, **{key: rebase(document[key], base) for key in _ENDPOINT_KEYS
                                   if isinstance(document.get(key), str)}}
        jwks = oauth_http.get_json(document.get("jwks_uri") or "", timeout=timeout)
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (oauth_http.ProviderHTTPError, JoseError, ValueError, TypeError, KeyError) as exc:
        raise ProviderFailure(f"OIDC discovery at {discovery_url} failed: {exc}") from exc
    return Discovery(document=document, keys=keys, fetched_at=time.monotonic())


def discover(discovery_url: str, *, base: str, timeout: float, ttl: float) -> Discovery:
    """The provider's discovery document and keys, fetched at most once per ``ttl``; a stale
    entry is kept when refreshing it fails."""
    with _cache_lock:
        cached = _cache.get(discovery_url)
    if cached is not None and time.monotonic() - cached.fetched_at < ttl:
        return cached
    try:
        fresh = _fetch(discovery_url, base, timeout)
    except ProviderFailure:
        if cached is not None:
            return cached
        raise
    with _cache_lock:
        _cache[discovery_url] = fresh
    return fresh


def validate_id_token(discovery: Discovery, id_token: str, *, audience: str,
                      issuers: tuple[str, ...] | None, access_token: str = "") -> dict:
    """The verified claims of ``id_token``; ProviderFailure when anything is wrong."""
    offered = discovery.document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in offered if alg in SIGNING_ALGORITHMS] or ["RS256"]
    checks: dict = {"aud": {"essential": True, "value": audience},
                    "exp": {"essential": True}, "sub": {"essential": True}}
    if issuers is not None:
        checks["iss"] = {"essential": True, "values": list(issuers)}
    try:
        token = jwt.decode(id_token, discovery.keys, algorithms=algorithms)
        jwt.JWTClaimsRegistry(leeway=NOT_BEFORE_LEEWAY, **checks).validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise ProviderFailure(f"invalid id_token: {exc}") from exc
    claims = token.claims
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= time.time():
        raise ProviderFailure("invalid id_token: expired")
    at_hash = claims.get("at_hash")
    if at_hash and access_token:
        expected = create_half_hash(access_token, token.header.get("alg", "RS256"))
        if expected is None or expected.decode() != at_hash:
            raise ProviderFailure("invalid id_token: at_hash does not match the access token")
    return dict(claims)
