"""OpenID Connect ID tokens of this server's authorization server (spec idp-passkeys-web3.md
section 1.8): made by a code exchange whose scope includes ``openid``, signed with the key and
kid of the access tokens. Only a private key (RSA, EC or OKP in GOTRUE_JWT_KEYS) signs them: a
relying party must be able to check the token with the published JWKS, so HS256 never does.
/oauth/authorize refuses the openid scope when no such key is configured, and the start-up
review warns about it (startup_warning).
"""

from __future__ import annotations

from datetime import datetime

from ...models import User
from ...runtime import Runtime
from ...security.access_tokens import KeyRing
from ...settings import Settings

# exp = iat + this many seconds, whatever GOTRUE_JWT_EXP says.
ID_TOKEN_LIFETIME_SECONDS = 3600
OPENID_SCOPE = "openid"

OPENID_REFUSED_WARNING = ("GOTRUE_OAUTH_SERVER_ENABLED is on but GOTRUE_JWT_KEYS has no "
                          "asymmetric signing key: the openid scope is refused")


def can_sign(keyring: KeyRing) -> bool:
    """Whether ID tokens can be made: the signing key is not a shared secret (HS*)."""
    return not keyring.signing.algorithm.startswith("HS")


def startup_warning(settings: Settings) -> str | None:
    """The start-up finding of an OAuth server that cannot make ID tokens, or None."""
    if settings.oauth_server.enabled and not can_sign(KeyRing(settings.jwt)):
        return OPENID_REFUSED_WARNING
    return None


def wants_id_token(scope: str) -> bool:
    return OPENID_SCOPE in scope.split(" ")


def _metadata_text(metadata: dict, *names: str) -> str:
    """The first of ``names`` that holds a non-empty string (other types count as absent)."""
    for name in names:
        value = metadata.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _unix(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


def id_token_claims(issuer: str, user: User, client_id: str, scope: str, nonce: str | None,
                    now: datetime) -> dict:
    """The claims: iss (when set), sub, aud (the client_id, a string), exp, iat, auth_time
    (the user's last sign-in: the exchange), nonce (when the authorization had one), the
    scope's user claims, and client_id. email_verified and phone_number_verified are always
    there; the other user claims only when the scope asks and they have a value."""
    scopes = set(scope.split(" "))
    issued_at = int(now.timestamp())
    claims: dict = {"iss": issuer} if issuer else {}
    claims.update({"sub": str(user.id), "aud": client_id,
                   "exp": issued_at + ID_TOKEN_LIFETIME_SECONDS, "iat": issued_at})
    auth_time = _unix(user.last_sign_in_at)
    if auth_time:
        claims["auth_time"] = auth_time
    if nonce:
        claims["nonce"] = nonce
    email_verified = phone_verified = False
    if "email" in scopes:
        if user.email:
            claims["email"] = user.email
        email_verified = user.email_confirmed_at is not None
    claims["email_verified"] = email_verified
    if "phone" in scopes:
        if user.phone:
            claims["phone_number"] = user.phone
        phone_verified = user.phone_confirmed_at is not None
    claims["phone_number_verified"] = phone_verified
    if "profile" in scopes:
        metadata = user.raw_user_meta_data or {}
        profile = {
            "name": _metadata_text(metadata, "name") or (user.email or ""),
            "picture": _metadata_text(metadata, "picture", "avatar_url"),
            "preferred_username": _metadata_text(metadata, "preferred_username", "username"),
        }
        claims.update({name: value for name, value in profile.items() if value})
        updated_at = _unix(user.updated_at)
        if updated_at:
            claims["updated_at"] = updated_at
    claims["client_id"] = client_id
    return claims


def id_token(rt: Runtime, user: User, client_id: str, scope: str, nonce: str | None,
             now: datetime) -> str:
    """The signed ID token (the access tokens' key and kid). The caller has checked can_sign."""
    return rt.keyring.encode(
        id_token_claims(rt.settings.jwt.issuer, user, client_id, scope, nonce, now))
