"""POST /token?grant_type=id_token: sign in with an ID token a provider gave the client.

Spec oauth-sso.md section 3 (GoTrue internal/api/token_oidc.go). The request names a provider or
an issuer; SOURCES says which discovery issuer, audiences and profile mapping that means. The
token is verified with the issuer's JWKS (joserfc), then the same account decision as /callback
(linking.py) picks the user, and a session with amr "oauth" starts.

Adding a provider: a function for its discovery issuer (and a claims mapping if GoTrue has one)
and one line in SOURCES; remove its name from NOT_IMPLEMENTED.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError

from ...db import begin_write_locked
from ...errors import ErrorCode, OAuthError, bad_request, internal
from ...extensions import db
from ...runtime import RequestInfo, Runtime
from .. import sessions
from . import google
from .base import Profile, ProviderEmail, ProviderFailure, rebase, text
from .callback import identity_data
from .identities import link_to_target
from .linking import SignIn, sign_in_user
from .oidc import NOT_BEFORE_LEEWAY, SIGNING_ALGORITHMS, discover

if TYPE_CHECKING:
    from ...settings.external import OAuthProviderSettings

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"
# Rows of the spec's table this server does not implement yet: a request for them is refused
# like an issuer that is not allowed (Apple's issuers too, although they are in the default
# allow-list: Apple's tokens need their own checks).
NOT_IMPLEMENTED = {
    "apple": ("https://appleid.apple.com", "https://account.apple.com"),
    "azure": (),
    "facebook": ("https://www.facebook.com",),
    "kakao": ("https://kauth.kakao.com",),
    "vercel_marketplace": ("https://marketplace.vercel.com",),
    "snapchat": ("https://accounts.snapchat.com/accounts/oauth2/token",),
}
# Standard OIDC claims the generic mapping keeps in identity_data.
_STANDARD_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "name", "family_name", "given_name",
                    "middle_name", "nickname", "preferred_username", "profile", "picture",
                    "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
                    "phone", "phone_verified")


@dataclass(frozen=True)
class IdTokenRequest:
    id_token: str
    access_token: str = ""
    nonce: str = ""
    provider: str = ""
    client_id: str = ""
    issuer: str = ""


class BadIdToken(Exception):
    """The token fails a check that GoTrue answers with "Bad ID token"."""


# --- claims to profile (spec 3, "Mapping by iss") ---

def generic_profile(claims: dict) -> Profile:
    verified = claims.get("email_verified", False)
    if not isinstance(verified, bool):
        raise BadIdToken("email_verified is not a boolean")
    result = {key: claims[key] for key in _STANDARD_CLAIMS if key in claims}
    name = text(claims.get("name"))
    result.update(sub=text(claims.get("sub")), full_name=name, avatar_url=text(claims.get(
        "picture")))
    emails = [ProviderEmail(str(claims["email"]), verified, True)] if claims.get("email") else []
    return Profile(emails=emails, claims=result)


def google_profile(claims: dict) -> Profile:
    emails = []
    if claims.get("email"):
        verified = claims.get("email_verified") is True or claims.get("verified_email") is True
        emails.append(ProviderEmail(str(claims["email"]), verified, True))
    name, picture = text(claims.get("name")), text(claims.get("picture"))
    result = {"iss": text(claims.get("iss")), "sub": text(claims.get("sub")), "name": name,
              "full_name": name, "picture": picture, "avatar_url": picture}
    if claims.get("hd"):
        result["custom_claims"] = {"hd": claims["hd"]}
    return Profile(emails=emails, claims=result)


# --- the table ---

@dataclass(frozen=True)
class Source:
    """One row of the spec's provider selection table."""

    name: str
    # The issuer the token must carry and whose discovery document gives the keys; "" when the
    # provider is not configured well enough to have one.
    issuer: Callable[["OAuthProviderSettings"], str]
    # Issuers that, given as `issuer`, select this row.
    selected_by: Callable[["OAuthProviderSettings"], tuple[str, ...]]
    # The URL setting moves the discovery document (and the endpoints it names) to another
    # server, as for /authorize; otherwise discovery is at the issuer.
    url_moves_discovery: bool = False
    accepted_issuers: Callable[[str], tuple[str, ...]] = lambda issuer: (issuer,)
    profile: Callable[[dict], Profile] = generic_profile


def _keycloak_issuer(config) -> str:
    return config.url.rstrip("/")


SOURCES = (
    Source("google", issuer=lambda config: google.ISSUERS[0],
           selected_by=lambda config: (google.ISSUERS[0],),
           url_moves_discovery=True,
           accepted_issuers=lambda issuer: google.ISSUERS, profile=google_profile),
    # Keycloak's issuer selects it only while it is enabled.
    Source("keycloak", issuer=_keycloak_issuer,
           selected_by=lambda config: (_keycloak_issuer(config),) if config.enabled else ()),
)


@dataclass(frozen=True)
class Selected:
    provider: str
    issuer: str
    discovery_url: str
    base_url: str
    audiences: tuple[str, ...]
    accepted_issuers: tuple[str, ...]
    skip_nonce_check: bool
    email_optional: bool
    profile: Callable[[dict], Profile]


def select(rt: Runtime, request: IdTokenRequest) -> Selected:
    """The first row of the table the request matches (exact comparisons)."""
    for source in SOURCES:
        config = rt.settings.external.oauth.get(source.name)
        if config is None or (request.provider != source.name and (
                not request.issuer or request.issuer not in source.selected_by(config))):
            continue
        issuer = source.issuer(config)
        if not config.enabled:
            raise bad_request(ErrorCode.PROVIDER_DISABLED,
                              f'Provider (issuer "{issuer}") is not enabled')
        if not issuer:
            raise bad_request(ErrorCode.VALIDATION_FAILED,
                              f"Unsupported provider: {source.name} has no URL configured")
        base_url = config.url if source.url_moves_discovery else ""
        return Selected(
            provider=source.name, issuer=issuer,
            discovery_url=rebase(issuer + WELL_KNOWN, base_url), base_url=base_url,
            audiences=config.client_ids,
            accepted_issuers=source.accepted_issuers(issuer),
            skip_nonce_check=config.skip_nonce_check, email_optional=config.email_optional,
            profile=source.profile)
    not_implemented = request.provider in NOT_IMPLEMENTED or request.provider.startswith(
        "custom:") or any(request.issuer in issuers for issuers in NOT_IMPLEMENTED.values())
    allowed = rt.settings.external.allowed_id_token_issuers
    if not_implemented or not request.issuer or request.issuer not in allowed:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f'Custom OIDC provider "{request.provider}" not allowed')
    # An allowed issuer with the client's own client_id (deprecated by GoTrue, still served).
    log.warning("id_token grant with an arbitrary issuer %s", request.issuer)
    return Selected(provider=request.issuer, issuer=request.issuer,
                    discovery_url=request.issuer.rstrip("/") + WELL_KNOWN, base_url="",
                    audiences=(request.client_id,), accepted_issuers=(request.issuer,),
                    skip_nonce_check=False, email_optional=False, profile=generic_profile)


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
        token = jwt.decode(request.id_token, discovery.keys, algorithms=algorithms)
        jwt.JWTClaimsRegistry(
            leeway=NOT_BEFORE_LEEWAY, exp={"essential": True},
            iss={"essential": True, "values": list(selected.accepted_issuers)},
        ).validate(token.claims)
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
    claims = verify(rt, selected, request)
    try:
        profile = selected.profile(claims)
    except BadIdToken as exc:
        raise _invalid_request("Bad ID token") from exc
    data = identity_data(profile)
    sign_in = SignIn(provider=selected.provider, subject=claims["sub"], identity_data=data,
                     emails=profile.emails, aud=info.aud, email_optional=selected.email_optional,
                     referrer=rt.settings.site_url, pkce=False)
    # One writer at a time from here: the linking decision reads before it inserts.
    db.session.rollback()
    begin_write_locked(db.session)
    if link_to is not None:
        user = link_to_target(rt, sign_in, link_to, info)
    else:
        user = sign_in_user(rt, sign_in, info)
    return sessions.start_session(rt, user, "oauth", info)
