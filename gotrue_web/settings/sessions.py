"""Session lifetime limits: timebox, inactivity timeout, one session per user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .env import EnvReader, positive


@dataclass(frozen=True)
class SessionsSettings:
    timebox: timedelta | None = None
    inactivity_timeout: timedelta | None = None
    single_per_user: bool = False
    # SINGLE_PER_USER applies within each tag: a session whose sessions.tag is not one of these
    # counts under the first (GoTrue's Session.DetermineTag). Empty: all sessions are one group.
    tags: tuple[str, ...] = ()
    # How long an MFA user's session may stay at aal1 (None = no limit).
    allow_low_aal: timedelta | None = None


def read(env: EnvReader) -> SessionsSettings:
    return SessionsSettings(
        timebox=positive(env.duration("SESSIONS_TIMEBOX", None)),
        inactivity_timeout=positive(env.duration("SESSIONS_INACTIVITY_TIMEOUT", None)),
        single_per_user=env.bool("SESSIONS_SINGLE_PER_USER", False),
        tags=env.list("SESSIONS_TAGS"),
        allow_low_aal=positive(env.duration("SESSIONS_ALLOW_LOW_AAL", None)),
    )
