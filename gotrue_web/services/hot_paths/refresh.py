"""The refresh_token grant: rotation of a session's refresh tokens (GoTrue's legacy algorithm).

A session has a chain of refresh tokens: each refresh revokes the presented token and issues a
child whose ``parent`` is it. A revoked token that is the parent of the session's newest live
token returns that live token again (a client that lost the response); any other reuse after
the reuse interval fails with refresh_token_already_used and, with rotation enabled, revokes
every token of the session. Only SHA-256 hashes are stored (token and parent); a child is
derived from its parent and a salt kept in its row (security.codes.child_refresh_token).

A signed token (SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2, security.refresh_tokens_v2) goes
to hot_paths.refresh_v2 instead, whatever the setting is now: a session keeps its kind.
"""

from __future__ import annotations

import hmac
import uuid

import sqlalchemy as sa

from ...db import begin_write_locked
from ...errors import ErrorCode, GoTrueError, OAuthError, bad_request
from ...extensions import db
from ...models import RefreshToken
from ...runtime import RequestInfo, Runtime
from ...security import refresh_tokens_v2
from ...security.access_tokens import amr_entries
from ...security.codes import (
    LEGACY_REFRESH_TOKEN_LENGTH,
    child_refresh_token,
    new_refresh_salt,
    refresh_token_hash,
)
from .. import audit, sessions
from . import reads, refresh_v2, rotation
from .refresh_rules import already_used, committed, not_found, refuse_unusable, usable, with_retries

# Table-level statements: nothing in the ORM session needs to follow them.
_TOKENS = RefreshToken.__table__
_REVOKE = (sa.update(_TOKENS).where(_TOKENS.c.id == sa.bindparam("token_id"))
           .values(revoked=True, updated_at=sa.bindparam("now")))


def check_refresh_token_format(token: str) -> None:
    if len(token) < LEGACY_REFRESH_TOKEN_LENGTH or (
        len(token) == LEGACY_REFRESH_TOKEN_LENGTH
        and not all(c.isascii() and (c.islower() or c.isdigit()) for c in token)
    ):
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Refresh token is not valid")


def refresh(rt: Runtime, presented: str, info: RequestInfo, *,
            oauth_client_id: uuid.UUID | None = None) -> sessions.IssuedSession:
    """The refresh_token grant: rotate ``presented`` and mint a new access token.

    ``oauth_client_id`` is the client POST /oauth/token authenticated; None on POST /token. A
    session of an OAuth client is refreshed only by that client, any other only without one
    (400 invalid_client in the OAuth shape, check_oauth_client).

    A live token of a valid session is rotated without a prior lock (_rotate_live_token);
    anything else, and a request that lost that race, goes the locked way (_rotate), which
    answers reuse, unknown tokens and expired sessions. Writes token_refreshed (or token_revoked
    on reuse) to the audit log. On the locked way the caller commits; a lock wait that times out
    or deadlocks is retried (refresh_rules.with_retries), then raises 409 conflict.
    Metrics count each grant as rotated, reuse_detected or refused.
    """
    try:
        issued = _refresh(rt, presented, info, oauth_client_id)
    except (GoTrueError, OAuthError) as error:
        rt.metrics.refresh_grant("reuse_detected"
                                 if getattr(error, "error_code", None)
                                 == ErrorCode.REFRESH_TOKEN_ALREADY_USED else "refused")
        raise
    rt.metrics.refresh_grant("rotated")
    return issued


def _refresh(rt: Runtime, presented: str, info: RequestInfo,
             oauth_client_id: uuid.UUID | None) -> sessions.IssuedSession:
    check_refresh_token_format(presented)
    signed = refresh_tokens_v2.parse(presented)
    if signed is not None:
        return (refresh_v2.rotate_current(rt, signed, info, oauth_client_id)
                or with_retries(lambda: refresh_v2.rotate(rt, signed, info, oauth_client_id)))
    return (_rotate_live_token(rt, presented, info, oauth_client_id)
            or with_retries(lambda: _rotate(rt, presented, info, oauth_client_id)))


def _rotate_live_token(rt: Runtime, presented: str, info: RequestInfo,
                       oauth_client_id: uuid.UUID | None) -> sessions.IssuedSession | None:
    """The common case without a lock: a live token of a valid session, rotated in one short
    transaction of its own (hot_paths.rotation). None when the token is anything else (unknown,
    revoked, expired, a banned user, another OAuth client's) or another request rotated it
    first: the locked path (_rotate) then decides and answers."""
    found = reads.read_refresh_token(refresh_token_hash(presented))
    if found is None:
        return None
    token, session, user = found
    now = rt.now()
    if (token.revoked or session is None or user is None
            or not usable(rt, session, user, now, oauth_client_id, token.updated_at)):
        return None
    salt = new_refresh_salt()
    child_token = child_refresh_token(presented, salt)
    # Minted first: a custom_access_token hook that refuses leaves the token unrotated.
    issued = sessions.mint(rt, user, session, amr_entries(session.amr_claims), now, child_token,
                           sessions.TOKEN_REFRESH, info.ip)
    rotated = rotation.attempt(
        rotation.commit_rotation, token_id=token.id, now=now, session_id=session.id,
        user_agent=info.user_agent, ip=info.ip,
        audit=audit.entry_values("token_refreshed", audit.Actor.of_user(user), now=now,
                                 ip=info.ip),
        child={"instance_id": sessions.NIL, "token": refresh_token_hash(child_token),
               "user_id": str(user.id), "revoked": False, "created_at": now,
               "updated_at": now, "parent": token.token, "derivation_salt": salt,
               "session_id": session.id})
    return issued if rotated else None


def _rotate(rt: Runtime, presented: str, info: RequestInfo,
            oauth_client_id: uuid.UUID | None) -> sessions.IssuedSession:
    """One attempt at the refresh, in a transaction that locks the presented token's row.

    The read gives plain views (services.hot_paths.reads), the writes are plain
    statements, and nothing reads the rows back.
    """
    begin_write_locked(db.session)
    found = reads.lock_refresh_token(refresh_token_hash(presented))
    if found is None:
        raise not_found()
    token, session, user = found
    now = rt.now()
    if session is None or user is None:
        db.session.execute(sa.delete(_TOKENS).where(_TOKENS.c.id == token.id))
        raise committed(bad_request(ErrorCode.SESSION_NOT_FOUND,
                                    "Invalid Refresh Token: No Valid Session Found"))
    refuse_unusable(rt, session, user, now, oauth_client_id, token.updated_at)

    security = rt.settings.security
    issued_token: str | None = None
    if token.revoked:
        issued_token = _live_child(session.id, token.token, presented)
        if issued_token is None:
            reuse_until = token.updated_at.timestamp() + security.refresh_token_reuse_interval
            if now.timestamp() > reuse_until and not security.refresh_token_allow_reuse:
                if security.refresh_token_rotation_enabled:
                    db.session.execute(
                        sa.update(RefreshToken)
                        .where(RefreshToken.session_id == session.id,
                               RefreshToken.revoked.is_(False))
                        .values(revoked=True, updated_at=now)
                    )
                    audit.record("token_revoked", audit.Actor.of_user(user), now=now, ip=info.ip)
                raise already_used()

    audit.record("token_refreshed", audit.Actor.of_user(user), now=now, ip=info.ip)
    if issued_token is None:
        # The presented token always gets a child: turning rotation off only spares the
        # session's other tokens when reuse is detected.
        db.session.execute(_REVOKE, {"token_id": token.id, "now": now})
        salt = new_refresh_salt()
        issued_token = child_refresh_token(presented, salt)
        db.session.execute(sessions.INSERT_TOKEN, {
            "instance_id": sessions.NIL, "token": refresh_token_hash(issued_token),
            "user_id": str(user.id), "revoked": False, "created_at": now, "updated_at": now,
            "parent": token.token, "derivation_salt": salt, "session_id": session.id,
        })
    sessions.note_refresh(session.id, now, info)
    return sessions.mint(rt, user, session, amr_entries(session.amr_claims), now, issued_token,
                 sessions.TOKEN_REFRESH, info.ip)


def _live_child(session_id: uuid.UUID, parent_hash: str, presented: str) -> str | None:
    """The session's newest live token when it is the child of the presented (revoked) token:
    the client lost the answer to its last refresh, or another tab refreshed the same token a
    moment earlier, and gets that child again. None otherwise, and for a child made before
    migration 0006, which cannot be derived again (the reuse rules then apply)."""
    newest = db.session.execute(
        sa.select(RefreshToken.token, RefreshToken.parent, RefreshToken.derivation_salt)
        .where(RefreshToken.session_id == session_id, RefreshToken.revoked.is_(False))
        .order_by(RefreshToken.id.desc()).limit(1)
    ).first()
    if newest is None or newest.parent != parent_hash or not newest.derivation_salt:
        return None
    child = child_refresh_token(presented, newest.derivation_salt)
    return child if hmac.compare_digest(refresh_token_hash(child), newest.token) else None
