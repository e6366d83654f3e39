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


def read(env: EnvReader) -> SessionsSettings:
    return SessionsSettings(
        timebox=positive(env.duration("SESSIONS_TIMEBOX", None)),
        inactivity_timeout=positive(env.duration("SESSIONS_INACTIVITY_TIMEOUT", None)),
        single_per_user=env.bool("SESSIONS_SINGLE_PER_USER", False),
    )
