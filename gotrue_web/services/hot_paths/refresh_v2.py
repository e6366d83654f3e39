"""The refresh_token grant for signed tokens (SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2).

A token names its session and a counter (security.refresh_tokens_v2). Against the session's
counter: the same value is rotated (the session moves on by one and the token of the new value
is issued); one behind, within SECURITY_REFRESH_TOKEN_REUSE_INTERVAL of the last refresh or
with ALLOW_REUSE, gets the current value's token again (a client that lost the answer, or two
tabs refreshing at once); an older one means a token was copied, and with rotation enabled (and
no ALLOW_REUSE) the session is deleted, refresh_token_already_used either way; a counter ahead
of the session's was never issued and is refused as not found, as is a token whose signature
the session's key does not make.
"""

from __future__ import annotations

import uuid

from ...db import begin_write_locked
from ...extensions import db
from ...runtime import RequestInfo, Runtime
from ...security import refresh_tokens_v2
from ...security.access_tokens import amr_entries
from .. import audit, sessions
from . import reads, rotation
from .refresh_rules import already_used, not_found, refuse_unusable, usable


def _signed_session(rt: Runtime, found, parsed: refresh_tokens_v2.ParsedToken):
    """(session, user, the session's key) when the token's session exists and its key made
    the token."""
    if found is None:
        return None
    session, user = found
    if session is None or user is None or not session.refresh_token_hmac_key:
        return None
    key = sessions.signing_key(rt, session)
    if not refresh_tokens_v2.signed_by(parsed, key):
        return None
    return session, user, key


def rotate_current(rt: Runtime, parsed: refresh_tokens_v2.ParsedToken, info: RequestInfo,
                   oauth_client_id: uuid.UUID | None) -> sessions.IssuedSession | None:
    """The common case without a lock: the session's current token, rotated in one short
    transaction of its own (hot_paths.rotation). None for anything else, or when another
    request moved the counter first: the locked way (rotate) decides and answers."""
    found = _signed_session(rt, reads.read_signed_session(parsed.session_id), parsed)
    if found is None:
        return None
    session, user, key = found
    now = rt.now()
    if (parsed.counter != session.refresh_token_counter
            or not usable(rt, session, user, now, oauth_client_id)):
        return None
    token = refresh_tokens_v2.encode(session.id, parsed.counter + 1, key)
    # Minted first: a custom_access_token hook that refuses leaves the session unrotated.
    issued = sessions.mint(rt, user, session, amr_entries(session.amr_claims), now, token,
                           sessions.TOKEN_REFRESH, info.ip)
    rotated = rotation.attempt(
        rotation.commit_signed_rotation, session_id=session.id, counter=parsed.counter,
        now=now, user_agent=info.user_agent, ip=info.ip,
        audit=audit.entry_values("token_refreshed", audit.Actor.of_user(user), now=now,
                                 ip=info.ip))
    return issued if rotated else None


def rotate(rt: Runtime, parsed: refresh_tokens_v2.ParsedToken, info: RequestInfo,
           oauth_client_id: uuid.UUID | None) -> sessions.IssuedSession:
    """One attempt at the refresh, in a transaction that locks the session's row. The caller
    commits (an already-used token's deletion too)."""
    begin_write_locked(db.session)
    found = _signed_session(rt, reads.lock_signed_session(parsed.session_id), parsed)
    if found is None:
        raise not_found()
    session, user, key = found
    now = rt.now()
    refuse_unusable(rt, session, user, now, oauth_client_id)
    current = session.refresh_token_counter
    if parsed.counter > current:
        raise not_found()
    if parsed.counter == current:
        issued_counter = current + 1
    elif parsed.counter == current - 1 and _may_reissue(rt, session, now):
        issued_counter = current
    else:
        security = rt.settings.security
        # ALLOW_REUSE never ends a session for a reused token, nor does rotation turned off.
        if security.refresh_token_rotation_enabled and not security.refresh_token_allow_reuse:
            sessions.delete_session(user.id, session.id)
            audit.record("token_revoked", audit.Actor.of_user(user), now=now, ip=info.ip)
        raise already_used()
    audit.record("token_refreshed", audit.Actor.of_user(user), now=now, ip=info.ip)
    sessions.note_refresh(session.id, now, info, refresh_token_counter=issued_counter)
    token = refresh_tokens_v2.encode(session.id, issued_counter, key)
    return sessions.mint(rt, user, session, amr_entries(session.amr_claims), now, token,
                         sessions.TOKEN_REFRESH, info.ip)


def _may_reissue(rt: Runtime, session, now) -> bool:
    """The token just before the current one gets the current one again within the reuse
    interval of the last refresh (that refresh's answer may have been lost), or always with
    ALLOW_REUSE."""
    security = rt.settings.security
    if security.refresh_token_allow_reuse:
        return True
    last = session.refreshed_at or session.updated_at
    return last is not None and (
        now.timestamp() <= last.timestamp() + security.refresh_token_reuse_interval)
