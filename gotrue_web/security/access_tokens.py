"""Access tokens: signing and verifying GoTrue's JWTs, and the public JWKS.

Keys are parsed once at start-up into a KeyRing. Signing uses the one JWT_KEYS entry whose
key_ops include "sign", else HS256 with JWT_SECRET. Verification picks the key by kid and falls
back to the secret for HS256 tokens whose kid names no key (or that carry none).
"""

from __future__ import annotations

import base64
import functools
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import jwt
from jwt.algorithms import get_default_algorithms

from ..errors import ErrorCode, bad_request, forbidden

if TYPE_CHECKING:
    from ..settings import JWTSettings

_ALGORITHMS = get_default_algorithms()
_ASYMMETRIC_KTY = {"RSA", "EC", "OKP"}


@dataclass(frozen=True)
class _Key:
    kid: str
    algorithm: str
    # What signs (a private key, or the shared secret) and what verifies (its public half).
    signing_key: object
    verifying_key: object


def _default_algorithm(jwk: dict) -> str:
    if jwk.get("alg"):
        return jwk["alg"]
    kty = jwk.get("kty")
    if kty == "oct":
        return "HS256"
    if kty == "RSA":
        return "RS256"
    if kty == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(jwk.get("crv"), "ES256")
    if kty == "OKP":
        return "EdDSA"
    raise ValueError(f"unsupported key type {kty!r}")


def _parse_jwk(jwk: dict) -> _Key:
    algorithm = _default_algorithm(jwk)
    key = jwt.PyJWK(jwk, algorithm=algorithm).key
    # cryptography's private keys cannot verify; PyJWT needs the public half for that.
    public = key.public_key() if hasattr(key, "public_key") else key
    return _Key(kid=jwk["kid"], algorithm=algorithm, signing_key=key, verifying_key=public)


def _public_jwk(entry: _Key) -> dict:
    document = json.loads(_ALGORITHMS[entry.algorithm].to_jwk(entry.verifying_key))
    document.update({"kid": entry.kid, "alg": entry.algorithm, "use": "sig",
                     "key_ops": ["verify"]})
    return document


class KeyRing:
    """The signing key, the verification keys by kid, and the published JWKS document."""

    def __init__(self, settings: JWTSettings):
        self.secret = settings.secret.encode()
        self.key_id = settings.key_id
        self._by_kid: dict[str, _Key] = {}
        self.signing: _Key | None = None
        public_keys = []
        for jwk in settings.keys:
            entry = _parse_jwk(jwk)
            self._by_kid[entry.kid] = entry
            if "sign" in (jwk.get("key_ops") or []):
                self.signing = entry
            if jwk.get("kty") in _ASYMMETRIC_KTY:
                public_keys.append(_public_jwk(entry))
        if self.signing is None:
            self.signing = _Key(kid=settings.key_id, algorithm="HS256", signing_key=self.secret,
                                verifying_key=self.secret)
        allowed = set(settings.valid_methods) or (
            {entry.algorithm for entry in self._by_kid.values()} | {"HS256"})
        self.allowed_algorithms = frozenset(allowed - {"none"})
        self.jwks_document = json.dumps({"keys": public_keys}, separators=(",", ":"))

    def encode(self, claims: dict) -> str:
        headers = {"kid": self.signing.kid} if self.signing.kid else None
        return jwt.encode(claims, self.signing.signing_key, algorithm=self.signing.algorithm,
                          headers=headers)

    def decode(self, token: str) -> dict:
        """Verified claims of ``token``; raise jwt.InvalidTokenError when it does not verify.

        The key is the JWT_KEYS entry named by kid; an HS256 token whose kid names no such key
        (or that has none) is checked against JWT_SECRET. Clients present the same access token
        for up to an hour, so the signature check of a token is remembered; its expiry is
        judged again on every use. The returned mapping is shared: do not modify it.
        """
        claims = self._verified_claims(token)
        expires = claims.get("exp")
        if expires is not None:
            # A cached token is judged again each time: its exp must be a number, or it would
            # never expire ("1700000000" passes PyJWT's own first check).
            if isinstance(expires, bool) or not isinstance(expires, (int, float)):
                raise jwt.InvalidTokenError("exp must be a number")
            if expires <= time.time():
                raise jwt.ExpiredSignatureError("Signature has expired")
        return claims

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one ring per app, kept for its lifetime
    def _verified_claims(self, token: str) -> dict:
        key, algorithms = self._key_for_header(token.partition(".")[0])
        return jwt.decode(
            token, key, algorithms=algorithms,
            options={"verify_aud": False, "verify_iat": False, "require": []},
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one ring per app, kept for its lifetime
    def _key_for_header(self, header_segment: str) -> tuple[object, tuple[str, ...]]:
        """The key and algorithm for a JOSE header; tokens of one key share the same header,
        so this is worked out once per header rather than once per request."""
        try:
            header = json.loads(base64.urlsafe_b64decode(
                header_segment + "=" * (-len(header_segment) % 4)))
        except (ValueError, TypeError, RecursionError):
            raise jwt.DecodeError("Invalid header") from None
        if not isinstance(header, dict):
            raise jwt.DecodeError("Invalid header string: must be a json object")
        algorithm = header.get("alg")
        kid = header.get("kid")
        entry = self._by_kid.get(kid) if isinstance(kid, str) and kid else None
        if entry is not None:
            key, algorithms = entry.verifying_key, (entry.algorithm,)
        elif algorithm == "HS256":
            key, algorithms = self.secret, ("HS256",)
        else:
            raise jwt.InvalidTokenError("no key matches the token's kid and alg")
        if algorithm not in algorithms or algorithm not in self.allowed_algorithms:
            raise jwt.InvalidAlgorithmError("signing method not allowed")
        return key, algorithms


def verify_bearer(keyring: KeyRing, token: str, *, issuer: str = "") -> dict:
    """Claims of a bearer token, or the 403 bad_jwt GoTrue gives for a token that fails.

    With ``issuer`` (GOTRUE_JWT_ISSUER, for user routes) a token must carry exactly that iss:
    one minted by another service sharing the secret is not a session of this server.
    """
    try:
        claims = keyring.decode(token)
    except jwt.PyJWTError as exc:
        raise forbidden(ErrorCode.BAD_JWT,
                        f"invalid JWT: unable to parse or verify signature, {exc}") from None
    if not isinstance(claims, dict):
        raise forbidden(ErrorCode.BAD_JWT, "invalid JWT: claims are not an object")
    if issuer and claims.get("iss") != issuer:
        raise forbidden(ErrorCode.BAD_JWT, "invalid JWT: unable to parse or verify signature, "
                        "token has invalid issuer")
    return claims


def claim_user_id(claims: dict) -> uuid.UUID:
    """The sub claim as a UUID; 400 bad_jwt when it is not one."""
    sub = claims.get("sub")
    try:
        return uuid.UUID(str(sub))
    except ValueError:
        raise bad_request(ErrorCode.BAD_JWT, "invalid claim: sub claim must be a UUID") from None


def claim_session_id(claims: dict) -> uuid.UUID | None:
    value = claims.get("session_id")
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise forbidden(ErrorCode.BAD_JWT,
                        "invalid claim: session_id claim must be a UUID") from None


def claim_audiences(claims: dict) -> list:
    """The aud claim as a list (a JWT may carry one string or a list)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return aud if isinstance(aud, list) else []


def claim_audience(claims: dict) -> str:
    """The first audience of the JWT, or ""."""
    audiences = claim_audiences(claims)
    first = audiences[0] if audiences else ""
    return first if isinstance(first, str) else ""


def amr_entries(claims) -> list[dict]:
    """The amr claim: one entry per method, newest first."""
    return [{"method": claim.authentication_method, "timestamp": int(claim.updated_at.timestamp())}
            for claim in sorted(claims, key=lambda c: c.updated_at, reverse=True)]


def mint_claims(settings: JWTSettings, user, session, amr: list[dict], issued_at: datetime,
                expires_at: int) -> dict:
    """The claim set of an access token, in GoTrue's order."""
    claims: dict = {}
    if settings.issuer:
        claims["iss"] = settings.issuer
    claims.update({
        "sub": str(user.id),
        "aud": user.aud or "",
        "exp": expires_at,
        "iat": int(issued_at.timestamp()),
        "email": user.email or "",
        "phone": user.phone or "",
        "app_metadata": user.raw_app_meta_data or {},
        "user_metadata": user.raw_user_meta_data or {},
        "role": user.role or "",
        "aal": (session.aal.value if session.aal else "aal1"),
        "amr": amr,
        "session_id": str(session.id),
        "is_anonymous": bool(user.is_anonymous),
    })
    # A session an OAuth client's code exchange made (spec idp-passkeys-web3.md section 1.8).
    if session.oauth_client_id is not None:
        claims["client_id"] = str(session.oauth_client_id)
        if session.scopes:
            claims["scope"] = session.scopes
    return claims
