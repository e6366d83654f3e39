"""OpenID Connect: discovery (cached per issuer) and ID token validation with its JWKS.

joserfc verifies the signature and the registered claims; this module only chooses the keys,
the algorithms and the expected issuer and audience (spec oauth-sso.md section 0).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from authlib.oidc.core.util import create_half_hash
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from ...transports import oauth_http
from .base import Context, ProviderFailure, rebase

SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384",
                      "PS512", "EdDSA")
# nbf may be this far in the future (clock skew); exp is strict.
NOT_BEFORE_LEEWAY = 60
# A token signed with a key the cached JWKS lacks (the provider rotated its keys), or whose
# signature fails under the cached key of its kid (a key replaced under the same kid), refetches
# the discovery early, but not more often than this: bad tokens must not become a request flood.
KEY_REFRESH_INTERVAL = 30.0
_ENDPOINT_KEYS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


@dataclass(frozen=True)
class Discovery:
    document: dict
    keys: KeySet
    fetched_at: float
    # Where it came from, so a rotated key can be refetched.
    url: str = ""
    base: str = ""
    timeout: float = 10.0

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
    return Discovery(document=document, keys=keys, fetched_at=time.monotonic(),
                     url=discovery_url, base=base, timeout=timeout)


def clear_cache() -> None:
    """Forget every cached discovery document (tests whose fakes reuse ports)."""
    with _cache_lock:
        _cache.clear()


def _has_key(discovery: Discovery, id_token: str) -> bool:
    try:
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
    except (JoseError, ValueError, TypeError):
        return True  # unreadable: let the verification below say why
    if not kid:
        return True
    return any(key.kid == kid for key in discovery.keys.keys)


def with_fresh_keys(discovery: Discovery, id_token: str) -> Discovery:
    """``discovery``, refetched if the token names a key it does not have."""
    return discovery if _has_key(discovery, id_token) else _refetched(discovery)


def decode_signed(discovery: Discovery, id_token: str, algorithms: list[str]) -> jwt.Token:
    """joserfc's decode of ``id_token`` (its signature checked) under the provider's keys,
    refetched first for an unknown kid, and once more when the signature fails under a cached
    key: a provider may replace a key without changing its kid."""
    discovery = with_fresh_keys(discovery, id_token)
    try:
        return jwt.decode(id_token, discovery.keys, algorithms=algorithms)
    except BadSignatureError:
        fresh = _refetched(discovery)
        if fresh is discovery:
            raise
        return jwt.decode(id_token, fresh.keys, algorithms=algorithms)


def _refetched(discovery: Discovery) -> Discovery:
    """The discovery fetched again, unless it was fetched under KEY_REFRESH_INTERVAL ago (or
    cannot be): then ``discovery`` itself."""
    if not discovery.url or time.monotonic() - discovery.fetched_at < KEY_REFRESH_INTERVAL:
        return discovery
    try:
        fresh = _fetch(discovery.url, discovery.base, discovery.timeout)
    except ProviderFailure:
        return discovery
    with _cache_lock:
        _cache[discovery.url] = fresh
    return fresh


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
        token = decode_signed(discovery, id_token, algorithms)
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


def token_reply_claims(ctx: Context, token: dict, *, provider: str, discovery_url: str,
                       issuers: tuple[str, ...] | None) -> dict:
    """The verified claims of the id_token in a code exchange's reply (providers whose ID
    token is the profile); ProviderFailure when it is missing or wrong."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise ProviderFailure(f"{provider}: the token reply has no id_token")
    discovery = discover(discovery_url, base=ctx.config.url, timeout=ctx.timeout,
                         ttl=ctx.cache_ttl)
    return validate_id_token(discovery, id_token, audience=ctx.config.client_id,
                             issuers=issuers, access_token=token["access_token"])
