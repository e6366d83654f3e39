"""GET /oauth/userinfo (spec idp-passkeys-web3.md section 1.8): the caller's claims, as many as
the scopes its session was granted. A session no OAuth client holds (sessions.scopes NULL)
gets only ``sub``."""

from __future__ import annotations

from ...models import Session, User
from .authorizations import parse_scope


def _first_text(metadata: dict, *keys: str) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def profile_claims(user: User) -> dict:
    """The profile scope's claims, as the ID token has them: name (user_metadata.name, else the
    email), picture (picture, else avatar_url), preferred_username (preferred_username, else
    username), each left out when empty, and updated_at in Unix seconds."""
    metadata = user.raw_user_meta_data or {}
    claims = {}
    for claim, value in (("name", _first_text(metadata, "name") or user.email),
                         ("picture", _first_text(metadata, "picture", "avatar_url")),
                         ("preferred_username",
                          _first_text(metadata, "preferred_username", "username"))):
        if value:
            claims[claim] = value
    if user.updated_at is not None:
        claims["updated_at"] = int(user.updated_at.timestamp())
    return claims


def userinfo(user: User, session: Session | None) -> dict:
    """``{"sub"}`` plus the claims of the session's scopes (email, profile, phone; an empty
    email or phone left out, as in the ID token); keys sorted, as GoTrue's JSON of a map has
    them."""
    scopes = set(parse_scope((session.scopes if session is not None else None) or ""))
    claims: dict = {"sub": str(user.id)}
    if "email" in scopes:
        if user.email:
            claims["email"] = user.email
        if user.email_confirmed_at is not None:
            claims["email_verified"] = True
    if "profile" in scopes:
        claims.update(profile_claims(user))
        claims["user_metadata"] = user.raw_user_meta_data or {}
    if "phone" in scopes:
        if user.phone:
            claims["phone"] = user.phone
        if user.phone_confirmed_at is not None:
            claims["phone_verified"] = True
    return dict(sorted(claims.items()))
