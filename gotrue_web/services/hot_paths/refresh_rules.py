"""What the refresh grant asks of a session whatever the token's kind (classic or signed): the
user not banned, the right OAuth client, the session still valid; and the retry of a locked
attempt that met another request's lock."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from ...db import is_lock_contention
from ...errors import ErrorCode, GoTrueError, OAuthError, bad_request, conflict
from ...extensions import db, orm_transaction_open
from ...runtime import Runtime
from .. import sessions

# GoTrue gives up on a contended refresh after this long and answers 409 conflict.
REFRESH_RETRY_SECONDS = 5.0


def committed(error: GoTrueError) -> GoTrueError:
    # The API commits the transaction before answering with this error.
    error.commit_first = True
    return error


def not_found() -> GoTrueError:
    return bad_request(ErrorCode.REFRESH_TOKEN_NOT_FOUND,
                       "Invalid Refresh Token: Refresh Token Not Found")


def already_used() -> GoTrueError:
    return committed(bad_request(ErrorCode.REFRESH_TOKEN_ALREADY_USED,
                                 "Invalid Refresh Token: Already Used"))


def usable(rt: Runtime, session, user, now: datetime, oauth_client_id: uuid.UUID | None,
           last_refresh: datetime | None = None) -> bool:
    """Whether the lock-free rotation may go on: anything else is for the locked way, which
    answers with the reason (refuse_unusable)."""
    ok = (session.oauth_client_id == oauth_client_id and not user.is_banned(now)
          and not sessions.validity_error(rt, session, now, last_refresh, user))
    if orm_transaction_open():
        # SESSIONS_SINGLE_PER_USER's count read in the ORM session: the locked way must begin
        # its transaction itself (begin_write_locked), and the rotation writes elsewhere.
        db.session.rollback()
    return ok


def refuse_unusable(rt: Runtime, session, user, now: datetime,
                    oauth_client_id: uuid.UUID | None,
                    last_refresh: datetime | None = None) -> None:
    if user.is_banned(now):
        raise bad_request(ErrorCode.USER_BANNED, "Invalid Refresh Token: User Banned")
    check_oauth_client(session.oauth_client_id, oauth_client_id)
    problem = sessions.validity_error(rt, session, now, last_refresh, user)
    if problem:
        raise bad_request(ErrorCode.SESSION_EXPIRED, f"Invalid Refresh Token: {problem}")


def check_oauth_client(session_client: uuid.UUID | None,
                       presenting_client: uuid.UUID | None) -> None:
    """A session an OAuth client's code exchange made is refreshed by that client only, at
    /oauth/token; any other session only at /token (spec idp-passkeys-web3.md section 1.7)."""
    if session_client == presenting_client:
        return
    if presenting_client is None:
        raise OAuthError("invalid_client", "Client authentication required for OAuth session")
    if session_client is None:
        raise OAuthError("invalid_client",
                         "Client authentication not allowed for non-OAuth session")
    raise OAuthError("invalid_client", "Client does not match the session's OAuth client")


def with_retries(attempt: Callable[[], sessions.IssuedSession]) -> sessions.IssuedSession:
    """Run a locked attempt; one whose lock wait timed out or deadlocked is rolled back and run
    again until REFRESH_RETRY_SECONDS have passed, then 409 conflict."""
    deadline = time.monotonic() + REFRESH_RETRY_SECONDS
    while True:
        try:
            return attempt()
        except sa.exc.DBAPIError as error:
            if not is_lock_contention(error):
                raise
            db.session.rollback()
            if time.monotonic() >= deadline:
                raise conflict(ErrorCode.CONFLICT, "Too many concurrent token refresh requests on "
                               "the same session or refresh token", cause=error) from None
            # Deadlocks end at once; a short random pause keeps the retries from colliding.
            time.sleep(random.uniform(0.01, 0.05))
