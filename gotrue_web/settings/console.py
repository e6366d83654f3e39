"""The operator console (our own addition; GoTrue has none): session lifetime, the
sign-in throttle, and how often each process looks for configuration changed in the console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .env import EnvReader


@dataclass(frozen=True)
class ConsoleSettings:
    # A console session ends after this long without a request, and this long after login.
    idle_timeout: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=12)
    # Failed logins allowed per operator and client IP within the window (four times as many
    # per client IP; the rule is in console/operations/sign_in_throttle.py).
    login_attempts: int = 5
    login_window: timedelta = timedelta(minutes=15)
    # How often each server process looks for settings changed on the console's Configuration
    # page (one cheap query on a thread of its own; services/live_settings).
    live_settings_interval: timedelta = timedelta(seconds=5)


def read(env: EnvReader) -> ConsoleSettings:
    return ConsoleSettings(
        idle_timeout=env.duration("CONSOLE_IDLE_TIMEOUT", timedelta(minutes=30)),
        max_age=env.duration("CONSOLE_SESSION_MAX_AGE", timedelta(hours=12)),
        login_attempts=env.int("CONSOLE_LOGIN_ATTEMPTS", 5, minimum=1),
        login_window=env.duration("CONSOLE_LOGIN_WINDOW", timedelta(minutes=15)),
        live_settings_interval=env.duration("CONSOLE_LIVE_SETTINGS_INTERVAL",
                                            timedelta(seconds=5), zero_is_default=True),
    )
