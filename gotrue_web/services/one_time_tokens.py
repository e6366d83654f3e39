"""The one_time_tokens rows behind emailed links and codes, and the resend frequency rule.

Generating and hashing the codes is in security.codes; this module stores and forgets them.
A flow's link and its code are two secrets: the users column holds the code's keyed digest,
the one_time_tokens row the link's hash (security.codes says why neither reverses).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..errors import ErrorCode, too_many_requests
from ..extensions import db
from ..models import OneTimeToken, OneTimeTokenType, User
from ..models.one_time_token import USER_COLUMNS
from ..runtime import Runtime
from ..security import codes


def code_digest(rt: Runtime, address: str, code: str) -> str:
    """The stored form of ``code`` sent to ``address`` (keyed by GOTRUE_JWT_SECRET)."""
    return codes.code_digest(codes.code_key(rt.settings.jwt.secret), address, code)


def code_matches(rt: Runtime, stored: str | None, address: str, code: str) -> bool:
    """Whether ``code`` sent to ``address`` is the one whose digest is ``stored``."""
    return bool(code) and codes.matches(stored, code_digest(rt, address, code))


def issue(rt: Runtime, user: User, token_type: OneTimeTokenType, address: str, code: str,
          now: datetime, *, pkce: bool = False) -> tuple[str, str]:
    """Make ``code`` and a new link secret the user's outstanding token of this type.

    Returns (redeem token, link token): the first is the TokenHash of templates and the
    hashed_token of generated links, the second what the emailed link carries. They differ only
    for PKCE (security.codes.pkce_link_token). The caller sets the ``*_sent_at`` column.
    """
    marker = codes.PKCE_PREFIX if pkce else ""
    redeem = marker + codes.new_link_secret()
    link = codes.pkce_link_token(redeem) if pkce else redeem
    setattr(user, USER_COLUMNS[token_type][0], marker + code_digest(rt, address, code))
    store(user, token_type, codes.link_hash(link), address, now)
    return redeem, link


def store(user: User, token_type: OneTimeTokenType, hashed: str, relates_to: str,
          now: datetime) -> None:
    """Record the user's one outstanding token of this type, replacing any older one."""
    db.session.execute(
        sa.delete(OneTimeToken).where(OneTimeToken.user_id == user.id,
                                      OneTimeToken.token_type == token_type),
        execution_options={"synchronize_session": False},
    )
    db.session.add(OneTimeToken(
        id=uuid.uuid4(), user_id=user.id, token_type=token_type, token_hash=hashed,
        relates_to=relates_to.lower(), created_at=now, updated_at=now,
    ))


def forget(user: User, *token_types: OneTimeTokenType) -> None:
    """Drop the user's tokens of these types: the users columns and the one_time_tokens rows."""
    for token_type in token_types:
        setattr(user, USER_COLUMNS[token_type][0], "")
    db.session.execute(
        sa.delete(OneTimeToken).where(OneTimeToken.user_id == user.id,
                                      OneTimeToken.token_type.in_(token_types)),
        execution_options={"synchronize_session": False},
    )


# Wrong codes a token survives; the next wrong one forgets it, so the right code stops working
# and guessing needs a new code (which the send frequency rule spaces out).
MAX_FAILED_ATTEMPTS = 5


def count_failed_attempt(user: User, token_types: tuple[OneTimeTokenType, ...],
                         now: datetime) -> bool:
    """One more wrong code against the user's outstanding tokens of these types; the ones
    that reach MAX_FAILED_ATTEMPTS are forgotten. Returns whether any was. The caller holds
    the user's row lock, so concurrent guesses are counted one after the other."""
    mine = (OneTimeToken.user_id == user.id, OneTimeToken.token_type.in_(token_types))
    db.session.execute(
        sa.update(OneTimeToken).where(*mine)
        .values(failed_attempts=OneTimeToken.failed_attempts + 1, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    spent = tuple(db.session.execute(
        sa.select(OneTimeToken.token_type)
        .where(*mine, OneTimeToken.failed_attempts >= MAX_FAILED_ATTEMPTS)
    ).scalars())
    if spent:
        forget(user, *spent)
    return bool(spent)


def check_send_frequency(sent_at: datetime | None, interval: timedelta, now: datetime) -> None:
    """429 over_email_send_rate_limit when the last send is less than ``interval`` ago."""
    if sent_at is None or interval.total_seconds() <= 0:
        return
    wait = (sent_at + interval - now).total_seconds()
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise too_many_requests(
            ErrorCode.OVER_EMAIL_SEND_RATE_LIMIT,
            f"For security purposes, you can only request this after {seconds} seconds.",
            retry_after=seconds,
        )
