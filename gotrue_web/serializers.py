"""JSON shapes of users, identities, factors and sessions exactly as GoTrue emits them.

Wire format: key names and order are what the clients parse; do not rename. Only models are
imported, so services can give hooks the same user JSON the API returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .models import AuditLogEntry, Factor, Identity, User

if TYPE_CHECKING:
    from .services.sessions import IssuedSession


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds and a Z (values are UTC already). A user JSON carries
    up to ten of them: formatting the fields is about 40 % cheaper than isoformat, which would
    also write the offset, and three times cheaper than strftime."""
    if value is None:
        return None
    return _TIMESTAMP % (value.year, value.month, value.day, value.hour, value.minute,
                         value.second, value.microsecond)


_TIMESTAMP = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def audit_entry_json(entry: AuditLogEntry) -> dict:
    """GoTrue's AuditLogEntry; instance_id is not part of it."""
    return {"id": str(entry.id), "payload": entry.payload,
            "created_at": timestamp(entry.created_at), "ip_address": entry.ip_address}


def go_map(value):
    """A JSON object as GoTrue's encoding/json writes a map (metadata, identity data): keys in
    sorted order at every depth. The answer then does not depend on how the database stores
    JSON (PostgreSQL's jsonb reorders keys; SQLite keeps them), which would tell a user read
    back from the database from one made in the request."""
    if isinstance(value, dict):
        # Keys are unique, so sorting the items never compares two values; scalars, most of
        # any metadata, are copied without a call.
        return {key: go_map(item) if isinstance(item, _NESTED) else item
                for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [go_map(item) if isinstance(item, _NESTED) else item for item in value]
    return value


_NESTED = (dict, list)


def identity_json(identity: Identity) -> dict:
    data = {
        "identity_id": str(identity.id),
        "id": identity.provider_id,
        "user_id": str(identity.user_id),
        "identity_data": go_map(identity.identity_data or {}),
        "provider": identity.provider,
    }
    if identity.last_sign_in_at is not None:
        data["last_sign_in_at"] = timestamp(identity.last_sign_in_at)
    data["created_at"] = timestamp(identity.created_at)
    data["updated_at"] = timestamp(identity.updated_at)
    if identity.email:
        data["email"] = identity.email
    return data


def factor_json(factor: Factor) -> dict:
    data = {
        "id": str(factor.id),
        "created_at": timestamp(factor.created_at),
        "updated_at": timestamp(factor.updated_at),
        "status": factor.status.value,
    }
    if factor.friendly_name:
        data["friendly_name"] = factor.friendly_name
    data["factor_type"] = factor.factor_type.value
    data["phone"] = factor.phone or ""
    data["last_challenged_at"] = timestamp(factor.last_challenged_at)
    # WebAuthn factors only, each omitted when empty (GoTrue's omitempty); never the key.
    if factor.web_authn_aaguid is not None:
        data["web_authn_aaguid"] = str(factor.web_authn_aaguid)
    if factor.last_webauthn_challenge_data:
        data["last_webauthn_challenge_data"] = go_map(factor.last_webauthn_challenge_data)
    return data


# Optional timestamp keys in GoTrue's order, each omitted when null.
_OPTIONAL_BEFORE_PHONE = ("email_confirmed_at", "invited_at")
_OPTIONAL_AFTER_PHONE = ("phone_confirmed_at", "confirmation_sent_at", "confirmed_at",
                         "recovery_sent_at")


def user_json(user: User, *, in_list: bool = False) -> dict:
    """The user object; ``in_list`` gives the admin list form (identities null, no factors)."""
    data: dict = {
        "id": str(user.id),
        "aud": user.aud or "",
        "role": user.role or "",
        "email": user.email or "",
    }
    for key in _OPTIONAL_BEFORE_PHONE:
        value = getattr(user, key)
        if value is not None:
            data[key] = timestamp(value)
    data["phone"] = user.phone or ""
    for key in _OPTIONAL_AFTER_PHONE:
        value = getattr(user, key)
        if value is not None:
            data[key] = timestamp(value)
    if user.email_change:
        data["new_email"] = user.email_change
    if user.email_change_sent_at is not None:
        data["email_change_sent_at"] = timestamp(user.email_change_sent_at)
    if user.phone_change:
        data["new_phone"] = user.phone_change
    if user.phone_change_sent_at is not None:
        data["phone_change_sent_at"] = timestamp(user.phone_change_sent_at)
    if user.reauthentication_sent_at is not None:
        data["reauthentication_sent_at"] = timestamp(user.reauthentication_sent_at)
    if user.last_sign_in_at is not None:
        data["last_sign_in_at"] = timestamp(user.last_sign_in_at)
    data["app_metadata"] = go_map(user.raw_app_meta_data or {})
    data["user_metadata"] = go_map(user.raw_user_meta_data or {})
    factors = None if in_list else user.factors
    if factors:
        data["factors"] = [factor_json(factor) for factor in factors]
    data["identities"] = None if in_list else [identity_json(i) for i in user.identities]
    data["created_at"] = timestamp(user.created_at)
    data["updated_at"] = timestamp(user.updated_at)
    if user.banned_until is not None:
        data["banned_until"] = timestamp(user.banned_until)
    if user.deleted_at is not None:
        data["deleted_at"] = timestamp(user.deleted_at)
    data["is_anonymous"] = bool(user.is_anonymous)
    return data


def session_json(issued: IssuedSession) -> dict:
    data = {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "expires_at": issued.expires_at,
        "refresh_token": issued.refresh_token,
        "user": user_json(issued.user),
    }
    # Tokens of the OAuth provider, for OAuth and PKCE sign-ins; omitted when empty.
    for key in ("provider_token", "provider_refresh_token"):
        value = getattr(issued, key)
        if value:
            data[key] = value
    if issued.report_weak_password:
        weak = issued.weak_password
        data["weak_password"] = None if weak is None else {
            "message": weak.message, "reasons": weak.reasons}
    return data
