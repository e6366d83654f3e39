"""POST /token?grant_type=id_token: sign in with an ID token a provider gave the client.

Spec oauth-sso.md section 3 (GoTrue internal/api/token_oidc.go). The request names a provider or
an issuer; SOURCES says which discovery issuer, audiences and profile mapping that means. The
token is verified with the issuer's JWKS (joserfc), then the same account decision as /callback
(linking.py) picks the user, and a session with amr "oauth" starts.

The table and the claims mappings are in id_token_sources.py; adding a provider is a row
there.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError

from ...db import begin_write_locked
from ...errors import ErrorCode, OAuthError, bad_request, internal
from ...extensions import db
from ...runtime import RequestInfo, Runtime
from ...settings.external import OAuthProviderSettings
from .. import sessions
from .base import Profile, ProviderFailure, rebase
from .callback import identity_data
from .id_token_sources import (SOURCES, WELL_KNOWN, BadIdToken, Source, generic_profile,
                               profile_for)
from .identities import link_to_target
from .linking import SignIn, sign_in_user
from .oidc import NOT_BEFORE_LEEWAY, SIGNING_ALGORITHMS, decode_signed, discover

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdTokenRequest:
    id_token: str
    access_token: str = ""
    nonce: str = ""
    provider: str = ""
    client_id: str = ""
    issuer: str = ""


@dataclass(frozen=True)
class Selected:
    provider: str
    issuer: str
    discovery_url: str
    base_url: str
    audiences: tuple[str, ...]
    # None: the token's iss is not checked (Apple).
    accepted_issuers: tuple[str, ...] | None
    skip_nonce_check: bool
    email_optional: bool
    profile: Callable[[dict], Profile]


def _selects(source: Source, config: OAuthProviderSettings, request: IdTokenRequest) -> bool:
    return request.provider == source.name or bool(
        request.issuer and source.selected_by(config, request.issuer))


def select(rt: Runtime, request: IdTokenRequest) -> Selected:
    """The first row of the table the request matches (exact comparisons)."""
    external = rt.settings.external
    for source in SOURCES:
        # An unconfigured provider is a disabled one, as in GoTrue.
        config = external.oauth.get(source.name) or OAuthProviderSettings()
        if not _selects(source, config, request):
            continue
        if source.detect_issuer is not None:
            issuer = source.detect_issuer(request.id_token)
            if request.issuer and request.issuer != issuer:
                raise bad_request(ErrorCode.VALIDATION_FAILED,
                                  "Provided issuer does not match ID token issuer")
        else:
            issuer = source.issuer(config)
        if not config.enabled:
            raise bad_request(ErrorCode.PROVIDER_DISABLED,
                              f'Provider (issuer "{issuer}") is not enabled')
        if not issuer:
            raise bad_request(ErrorCode.VALIDATION_FAILED,
                              f"Unsupported provider: {source.name} has no URL configured")
        base_url = source.discovery_base(config)
        return Selected(
            provider=source.name, issuer=issuer,
            discovery_url=rebase(issuer.rstrip("/") + WELL_KNOWN, base_url), base_url=base_url,
            audiences=(*config.client_ids, *source.extra_audiences(external)),
            accepted_issuers=source.accepted_issuers(issuer),
            skip_nonce_check=config.skip_nonce_check or not source.checks_nonce,
            email_optional=config.email_optional, profile=source.profile or profile_for)
    if request.provider.startswith("custom:"):
        # The custom:<id> row (an operator's OIDC provider); imported here to avoid a cycle.
        from .custom.id_token_source import select_custom

        return select_custom(rt, request, Selected, generic_profile)
    if not request.issuer or request.issuer not in external.allowed_id_token_issuers:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f'Custom OIDC provider "{request.provider}" not allowed')
    # An allowed issuer with the client's own client_id (deprecated by GoTrue, still served).
    log.warning("id_token grant with an arbitrary issuer %s", request.issuer)
    return Selected(provider=request.issuer, issuer=request.issuer,
                    discovery_url=request.issuer.rstrip("/") + WELL_KNOWN, base_url="",
                    audiences=(request.client_id,), accepted_issuers=(request.issuer,),
                    skip_nonce_check=False, email_optional=False, profile=profile_for)


# --- the checks ---

def _invalid_request(description: str) -> OAuthError:
    # GoTrue's error name has a space here.
    return OAuthError("invalid request", description)


def verify(rt: Runtime, selected: Selected, request: IdTokenRequest) -> dict:
    """The token's claims once signature, iss, exp, at_hash, sub, aud and nonce pass."""
    external = rt.settings.external
    try:
        discovery = discover(selected.discovery_url, base=selected.base_url,
                             timeout=external.http_timeout.total_seconds(),
                             ttl=external.oidc_provider_cache_ttl.total_seconds())
    except ProviderFailure as exc:
        log.warning("id_token grant: %s", exc)
        raise internal("Unable to fetch the OpenID configuration of the issuer",
                       cause=exc) from exc
    offered = discovery.document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in offered if alg in SIGNING_ALGORITHMS] or ["RS256"]
    try:
        token = decode_signed(discovery, request.id_token, algorithms)
        checks: dict = {"exp": {"essential": True}}
        if selected.accepted_issuers is not None:
            checks["iss"] = {"essential": True, "values": list(selected.accepted_issuers)}
        jwt.JWTClaimsRegistry(leeway=NOT_BEFORE_LEEWAY, **checks).validate(token.claims)
        claims = dict(token.claims)
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= time.time():
            raise BadIdToken("expired")
        at_hash = claims.get("at_hash")
        if at_hash and request.access_token:
            expected = create_half_hash(request.access_token, token.header.get("alg", "RS256"))
            if expected is None or expected.decode() != at_hash:
                raise BadIdToken("at_hash does not match the access token")
    except (JoseError, ValueError, TypeError, BadIdToken) as exc:
        log.info("id_token grant: bad ID token: %s", exc)
        raise _invalid_request("Bad ID token") from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _invalid_request("Missing sub claim in id_token")
    audience = claims.get("aud")
    audience = [audience] if isinstance(audience, str) else list(audience or [])
    if not any(aud in audience for aud in selected.audiences if aud):
        shown = " ".join(map(str, audience))
        raise _invalid_request(f"Unacceptable audience in id_token: [{shown}]")
    if not selected.skip_nonce_check:
        _check_nonce(request.nonce, claims.get("nonce"))
    return claims


def _check_nonce(nonce: str, token_nonce: object) -> None:
    """The client sends the nonce; the provider signed its lower-hex SHA-256."""
    token_nonce = token_nonce if isinstance(token_nonce, str) else ""
    if bool(token_nonce) != bool(nonce):
        raise _invalid_request(
            "Passed nonce and nonce in id_token should either both exist or not.")
    if nonce:
        hashed = hashlib.sha256(nonce.encode()).hexdigest()
        if not hmac.compare_digest(hashed.encode(), token_nonce.encode()):
            raise OAuthError("invalid nonce", "Nonces mismatch")


def sign_in_with_id_token(rt: Runtime, request: IdTokenRequest, info: RequestInfo, *,
                          link_to: uuid.UUID | None = None) -> sessions.IssuedSession:
    """A session for the token's user; with ``link_to`` (link_identity, the caller's user id)
    the identity is linked to that user instead (spec section 4) and the session is theirs."""
    if not request.id_token:
        raise _invalid_request("id_token required")
    if not request.provider and not (request.client_id and request.issuer):
        raise _invalid_request("provider or client_id and issuer required")
    selected = select(rt, request)
    try:
        claims = verify(rt, selected, request)
    except OAuthError:
        rt.metrics.sign_in("id_token", selected.provider, "failure")
        raise
    try:
        profile = selected.profile(claims)
    except (BadIdToken, ProviderFailure) as exc:
        raise _invalid_request("Bad ID token") from exc
    data = identity_data(profile)
    # The mapped subject: Vercel's global user id replaces the token's sub.
    sign_in = SignIn(provider=selected.provider, subject=data.get("sub") or claims["sub"],
                     identity_data=data,
                     emails=profile.emails, aud=info.aud, email_optional=selected.email_optional,
                     referrer=rt.settings.site_url, pkce=False)
    # One writer at a time from here: the linking decision reads before it inserts.
    db.session.rollback()
    begin_write_locked(db.session)
    if link_to is not None:
        user = link_to_target(rt, sign_in, link_to, info)
    else:
        user = sign_in_user(rt, sign_in, info)
    issued = sessions.start_session(rt, user, "oauth", info)
    rt.metrics.sign_in("id_token", selected.provider, "success")
    return issued
