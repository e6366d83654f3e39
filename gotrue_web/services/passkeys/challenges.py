"""WebAuthn challenge rows of the passkey ceremonies (spec idp-passkeys-web3.md section 2.2): one
row between an options call and its verify call.

A row is consumed by a conditional DELETE ... RETURNING, so of concurrent verify calls with the
same challenge exactly one gets it; expiry is checked after, on the returned row. Once consumed,
a challenge stays consumed even when the verify call fails (``commit_first``): one attempt per
challenge, as in GoTrue, where the consume is not part of the verify's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request
from ...extensions import db
from ...models import WebAuthnChallenge
from ...runtime import Runtime
from ..validation import parse_go_uuid

REGISTRATION, AUTHENTICATION = "registration", "authentication"


@dataclass(frozen=True)
class IssuedChallenge:
    """An options call's answer besides the options: the row's id and its expiry."""

    id: uuid.UUID
    expires_at: datetime

    @property
    def expires_at_unix(self) -> int:
        return int(self.expires_at.timestamp())


def create(rt: Runtime, *, challenge_type: str, user_id: uuid.UUID | None,
           session_data: dict) -> IssuedChallenge:
    """A new challenge row, valid for GOTRUE_WEBAUTHN_CHALLENGE_EXPIRY_DURATION; every expired
    row (of any user) is purged first."""
    now = rt.now()
    purge_expired(now)
    challenge_id = uuid.uuid4()
    expires_at = now + rt.settings.webauthn.challenge_expiry
    db.session.execute(sa.insert(WebAuthnChallenge.__table__).values(
        id=challenge_id, user_id=user_id, challenge_type=challenge_type,
        session_data=session_data, created_at=now, expires_at=expires_at))
    return IssuedChallenge(challenge_id, expires_at)


def purge_expired(now: datetime) -> int:
    return db.session.execute(
        sa.delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < now),
        execution_options={"synchronize_session": False}).rowcount


def parse_id(challenge_id: str, credential) -> uuid.UUID:
    """The verify body's checks, in GoTrue's order: both fields present, then the id's form."""
    if not challenge_id:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "challenge_id is required")
    if credential is None:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "credential is required")
    parsed = parse_go_uuid(challenge_id)
    if parsed is None:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "challenge_id must be a valid UUID")
    return parsed


def spent(error: GoTrueError) -> GoTrueError:
    """``error`` raised after a challenge was consumed: the deletion is committed with it."""
    error.commit_first = True
    return error


def consume(rt: Runtime, challenge_id: uuid.UUID, *, challenge_type: str,
            user_id: uuid.UUID | None) -> dict:
    """Delete the challenge (of this type, and this user or none) and return its session
    data; 400 webauthn_challenge_not_found when there is none (used, purged or another's),
    400 webauthn_challenge_expired when it has run out."""
    owner = (WebAuthnChallenge.user_id.is_(None) if user_id is None
             else WebAuthnChallenge.user_id == user_id)
    row = db.session.execute(
        sa.delete(WebAuthnChallenge)
        .where(WebAuthnChallenge.id == challenge_id,
               WebAuthnChallenge.challenge_type == challenge_type, owner)
        .returning(WebAuthnChallenge.session_data, WebAuthnChallenge.expires_at),
        execution_options={"synchronize_session": False}).first()
    if row is None:
        raise bad_request(ErrorCode.WEBAUTHN_CHALLENGE_NOT_FOUND,
                          "Challenge not found or already used")
    session_data, expires_at = row
    if rt.now() > expires_at:
        raise spent(bad_request(ErrorCode.WEBAUTHN_CHALLENGE_EXPIRED, "Challenge has expired"))
    return session_data if isinstance(session_data, dict) else {}
