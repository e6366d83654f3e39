"""A user's OAuth grants (spec idp-passkeys-web3.md section 1.8): the apps the user consented
to, and revoking one, which also signs the app out of the user's account. Shared by
/user/oauth/grants and the console's user page."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from ...errors import ErrorCode, bad_request, not_found
from ...extensions import db
from ...models import OAuthClient, OAuthConsent, Session
from ...runtime import Runtime
from ...serializers import timestamp
from .. import audit
from . import parse_client_id
from .consent import client_summary

REVOKE_GRANT_ACTION = "revoke_oauth_grant"


def list_grants(user_id: uuid.UUID) -> list[dict]:
    """``[{"client", "scopes", "granted_at"}]``: the user's active consents, newest first;
    those of deleted clients are left out (a disabled client's are listed, so they can be
    revoked)."""
    rows = db.session.execute(
        sa.select(OAuthConsent, OAuthClient)
        .join(OAuthClient, OAuthClient.id == OAuthConsent.client_id)
        .where(OAuthConsent.user_id == user_id, OAuthConsent.revoked_at.is_(None),
               OAuthClient.deleted_at.is_(None))
        .order_by(OAuthConsent.granted_at.desc(), OAuthConsent.id)
    ).all()
    return [{"client": client_summary(client), "scopes": consent.scope_list,
             "granted_at": timestamp(consent.granted_at)} for consent, client in rows]


def revoke_grant(rt: Runtime, user_id: uuid.UUID, client_id_text: str, actor, *,
                 ip: str = "") -> None:
    """DELETE /user/oauth/grants?client_id=: revoke the user's consent for the client and
    delete the user's sessions that client holds (their refresh tokens go with them); audit
    token_revoked. ``actor`` is an audit.Actor. The caller commits."""
    if not client_id_text:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "client_id query parameter is required")
    client_id = parse_client_id(client_id_text)
    if client_id is None:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "invalid client_id format")
    consent = db.session.execute(
        sa.select(OAuthConsent).where(OAuthConsent.user_id == user_id,
                                      OAuthConsent.client_id == client_id,
                                      OAuthConsent.revoked_at.is_(None))
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if consent is None:
        raise not_found(ErrorCode.OAUTH_CONSENT_NOT_FOUND, "No active grant found for this client")
    now = rt.now()
    consent.revoked_at = now
    db.session.execute(
        sa.delete(Session).where(Session.user_id == user_id,
                                 Session.oauth_client_id == client_id),
        execution_options={"synchronize_session": False})
    audit.record("token_revoked", actor, now=now, ip=ip,
                 traits={"oauth_client_id": str(client_id), "action": REVOKE_GRANT_ACTION})
