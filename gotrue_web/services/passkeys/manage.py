"""A user's passkeys: the list, rename and delete of /passkeys, the admin's list and delete
(spec idp-passkeys-web3.md section 2.2, "Manage" and "Admin"), and the rule that managing
passkeys of a user with MFA takes an aal2 session. Shared by the API and the console.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from ...errors import ErrorCode, bad_request, forbidden, not_found
from ...extensions import db
from ...models import AAL, Session, User, WebAuthnCredential
from ...runtime import RequestInfo, Runtime
from ...serializers import timestamp
from .. import audit
from ..validation import parse_go_uuid

# friendly_name's limit, in bytes of UTF-8 (GoTrue counts len() of the Go string).
MAX_FRIENDLY_NAME_BYTES = 120


def require_aal(user: User, session: Session | None) -> None:
    """403 insufficient_aal when the user has a verified MFA factor and the caller's session
    is not aal2 (registration and DELETE; not PATCH)."""
    if any(factor.is_verified for factor in user.factors) and (
            session is None or session.aal != AAL.aal2):
        raise forbidden(ErrorCode.INSUFFICIENT_AAL,
                        "AAL2 session is required to manage passkeys when MFA is enabled")


def count_passkeys(user_id: uuid.UUID) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user_id)).scalar_one()


def list_passkeys(user_id: uuid.UUID) -> list[WebAuthnCredential]:
    """The user's passkeys, oldest first."""
    return list(db.session.execute(
        sa.select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)).scalars())


def passkey_json(credential: WebAuthnCredential) -> dict:
    """An item of GET /passkeys: friendly_name and last_used_at are left out when unset."""
    item: dict = {"id": str(credential.id)}
    if credential.friendly_name:
        item["friendly_name"] = credential.friendly_name
    item["created_at"] = timestamp(credential.created_at)
    if credential.last_used_at is not None:
        item["last_used_at"] = timestamp(credential.last_used_at)
    return item


def _not_found():
    return not_found(ErrorCode.VALIDATION_FAILED, "Passkey not found")


def parse_passkey_id(passkey_id: str) -> uuid.UUID:
    """The path's passkey id; 404 validation_failed "Passkey not found" when malformed."""
    parsed = parse_go_uuid(passkey_id)
    if parsed is None:
        raise _not_found()
    return parsed


def _owned(user_id: uuid.UUID, passkey_id: uuid.UUID) -> WebAuthnCredential:
    credential = db.session.execute(
        sa.select(WebAuthnCredential).where(WebAuthnCredential.id == passkey_id,
                                            WebAuthnCredential.user_id == user_id)
    ).scalar_one_or_none()
    if credential is None:
        raise _not_found()
    return credential


def check_friendly_name(friendly_name: str) -> None:
    if not friendly_name:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "friendly_name is required")
    if len(friendly_name.encode("utf-8")) > MAX_FRIENDLY_NAME_BYTES:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"friendly_name must be {MAX_FRIENDLY_NAME_BYTES} characters or less")


def rename(rt: Runtime, user: User, passkey_id: uuid.UUID, friendly_name: str,
           info: RequestInfo) -> WebAuthnCredential:
    """PATCH /passkeys/{id}: the name is checked before the passkey is looked up; another
    user's passkey is 404. Writes passkey_updated; the caller commits."""
    check_friendly_name(friendly_name)
    now = rt.now()
    # A conditional UPDATE: a passkey deleted meanwhile is a 404, never a failed flush.
    updated = db.session.execute(
        sa.update(WebAuthnCredential)
        .where(WebAuthnCredential.id == passkey_id, WebAuthnCredential.user_id == user.id)
        .values(friendly_name=friendly_name, updated_at=now),
        execution_options={"synchronize_session": False}).rowcount
    if updated != 1:
        raise _not_found()
    audit.record("passkey_updated", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"passkey_id": str(passkey_id)})
    return _owned(user.id, passkey_id)


def delete(rt: Runtime, user: User, session: Session | None, passkey_id: str,
           info: RequestInfo) -> None:
    """DELETE /passkeys/{id}: the aal2 rule first, then 404 for a malformed, unknown or
    another user's id. Writes passkey_deleted; the caller commits."""
    require_aal(user, session)
    _remove(rt, user.id, parse_passkey_id(passkey_id), audit.Actor.of_user(user), info)


def admin_delete(rt: Runtime, user_id: uuid.UUID, passkey_id: str, actor: audit.Actor,
                 info: RequestInfo) -> None:
    """DELETE /admin/users/{uid}/passkeys/{pid} (and the console): 404 validation_failed
    "Passkey not found" when the id is malformed, unknown or another user's. Writes
    passkey_deleted naming ``actor``; the caller commits."""
    _remove(rt, user_id, parse_passkey_id(passkey_id), actor, info)


def _remove(rt: Runtime, user_id: uuid.UUID, passkey_id: uuid.UUID, actor: audit.Actor,
            info: RequestInfo) -> None:
    # One conditional DELETE: of two concurrent deletes, the second finds nothing (404).
    deleted = db.session.execute(
        sa.delete(WebAuthnCredential).where(WebAuthnCredential.id == passkey_id,
                                            WebAuthnCredential.user_id == user_id),
        execution_options={"synchronize_session": False}).rowcount
    if deleted != 1:
        raise _not_found()
    audit.record("passkey_deleted", actor, now=rt.now(), ip=info.ip,
                 traits={"passkey_id": str(passkey_id), "user_id": str(user_id)})
