"""Per-app runtime: the objects built once from Settings and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from flask import current_app

from .services.access_tokens import KeyRing
from .services.mailer import Mailer
from .services.passwords import PasswordHasher
from .settings import Settings


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    settings: Settings
    keyring: KeyRing
    hasher: PasswordHasher
    mailer: Mailer
    # Tests replace the clock to move time; everything that judges expiry asks it.
    clock: Callable[[], datetime] = system_clock

    def now(self) -> datetime:
        return self.clock()

    @classmethod
    def build(cls, settings: Settings, mailer: Mailer) -> "Runtime":
        return cls(
            settings=settings,
            keyring=KeyRing(settings.jwt),
            hasher=PasswordHasher(settings.password.bcrypt_cost),
            mailer=mailer,
        )


def current_runtime() -> Runtime:
    return current_app.extensions["gotrue"]


@dataclass(frozen=True)
class RequestInfo:
    """The facts about the calling request that services record (audit, sessions)."""

    ip: str = ""
    user_agent: str = ""
    # The request's audience: X-JWT-AUD, else the caller's JWT aud, else GOTRUE_JWT_AUD.
    aud: str = ""
