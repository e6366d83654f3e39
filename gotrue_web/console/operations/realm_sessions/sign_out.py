"""Ending sessions from the sessions page: one session, or every live session a filter matches.

Both go through services.sessions (a session's refresh tokens and amr claims are deleted with
it, so its next refresh fails) and leave the audit entries of the user page's session actions:
token_revoked by the operator, naming the user, with the session's id for one session and the
number of sessions ended for a sign-out (one entry per user, like "Revoke all").

A sign-out needs a typed confirmation: the word "everyone" when no filter is set, else the
number of live sessions the filters match now. It runs in batches of users (their sessions are
found by user id, in order, from where the last batch ended); each batch is flushed and handed
back for the view to commit, so a realm of a million sessions is never one transaction, and a
view may stop between batches. Sessions begun after the sign-out started are left alone, so it
ends even while users keep signing in. Functions flush, never commit.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....errors import ErrorCode, not_found, unprocessable
from ....extensions import db
from ....models import AuditLogEntry, Session, User
from ....runtime import RequestInfo, Runtime
from ....services import audit, sessions
from ....services.admin import users as admin_users
from .. import user_actions
from ..user_text_search import search_time_limit
from .filters import SessionFilters
from .listing import Reach

CONFIRM_EVERYONE = "everyone"
# Session rows read per batch (a batch ends the sessions of the users among them).
BATCH_SIZE = 500
# The longest finding one batch may take, in ms (a filter on users' text walks their index).
SELECT_TIME_LIMIT_MS = 30_000
_INSERT_AUDIT = sa.insert(AuditLogEntry.__table__)
# Separators an operator may type in the number ("1,234", "1 234").
_SEPARATORS = re.compile(r"[\s,._'\u00a0\u202f]")


def revoke_one(rt: Runtime, session_id: str, actor: audit.Actor, info: RequestInfo) -> User:
    """End one session through the user page's action (token_revoked with the session id);
    returns its user. 404 session_not_found when there is no such session."""
    try:
        parsed = uuid.UUID(session_id)
    except ValueError:
        parsed = None
    session = sessions.get(parsed) if parsed is not None else None
    user = db.session.get(User, session.user_id) if session is not None else None
    if user is None:
        raise not_found(ErrorCode.SESSION_NOT_FOUND, "This session has ended already.")
    user_actions.revoke_session(rt, user, str(parsed), actor, info)
    return user


# --- signing out many ----------------------------------------------------------------------------


def confirmation_word(filters: SessionFilters, found: Reach) -> str:
    """What the operator types: "everyone" for the whole realm, else the number of sessions."""
    return CONFIRM_EVERYONE if not filters.narrowed else str(found.sessions)


def check_confirmation(filters: SessionFilters, found: Reach, typed: str) -> None:
    """422 unless ``typed`` is the confirmation word (case and digit separators aside), or
    when no live session matches."""
    if found.sessions == 0:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "No live session matches: nobody was signed out.")
    expected = confirmation_word(filters, found)
    given = typed.strip().lower()
    if expected != CONFIRM_EVERYONE:
        given = _SEPARATORS.sub("", given)
    if given != expected:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            f"Type {expected} to confirm. Nobody was signed out.")


@dataclass
class Batch:
    """What one batch ended."""

    sessions: int = 0
    users: int = 0
    # False for the last batch: nothing matching is left after it.
    more: bool = False


def sign_out(rt: Runtime, filters: SessionFilters, actor: audit.Actor, info: RequestInfo,
             *, batch_size: int | None = None) -> Iterator[Batch]:
    """End every live session ``filters`` match, a batch of users at a time; yields after each
    batch (flushed, not committed). The filters are judged at the moment it starts."""
    started = rt.now()
    limits = rt.settings.sessions
    size = batch_size or BATCH_SIZE
    # Once a user is chosen, their sessions are matched without the user filter's text search.
    per_user = dataclasses.replace(filters, user="", user_search=None)
    after: uuid.UUID | None = None
    while True:
        with search_time_limit(SELECT_TIME_LIMIT_MS):
            where = [*filters.conditions(started, limits), _begun_by(started)]
            if after is not None:
                where.append(Session.user_id > after)
            found = db.session.execute(
                sa.select(Session.user_id).where(*where).order_by(Session.user_id)
                .limit(size)).scalars().all()
        user_ids = list(dict.fromkeys(found))
        batch = _sign_out_users(rt, user_ids, per_user, started, actor, info)
        batch.more = len(found) == size
        yield batch
        if not batch.more:
            return
        after = user_ids[-1]


def _begun_by(moment: datetime):
    return sa.or_(Session.created_at.is_(None), Session.created_at <= moment)


def _sign_out_users(rt: Runtime, user_ids: list[uuid.UUID], filters: SessionFilters,
                    started: datetime, actor: audit.Actor, info: RequestInfo) -> Batch:
    """End the matching sessions of each user, with one token_revoked entry per user (the
    entries of a batch written in one statement)."""
    batch = Batch()
    if not user_ids:
        return batch
    users = {user.id: user for user in db.session.execute(
        sa.select(User).where(User.id.in_(user_ids))).scalars()}
    conditions = [*filters.conditions(started, rt.settings.sessions), _begun_by(started)]
    matching: dict[uuid.UUID, list[uuid.UUID]] = {}
    for session_id, user_id in db.session.execute(
            sa.select(Session.id, Session.user_id).where(Session.user_id.in_(user_ids),
                                                         *conditions)):
        matching.setdefault(user_id, []).append(session_id)
    entries, now = [], rt.now()
    for user_id in user_ids:
        user = users.get(user_id)
        if user is None:
            continue  # deleted meanwhile: its sessions went with it
        ended = sum(sessions.delete_session(user_id, session_id)
                    for session_id in matching.get(user_id, ()))
        if not ended:
            continue
        entries.append(audit.entry_values(
            "token_revoked", actor, now=now, ip=info.ip,
            traits={**admin_users.target_traits(user), "sessions_revoked": ended}))
        batch.sessions += ended
        batch.users += 1
    if entries:
        db.session.connection().execute(_INSERT_AUDIT, entries)
    return batch
