"""The SMTP server mail goes through; an empty host means mail is not sent, as in GoTrue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .env import EnvReader, SettingsError

# The longest one SMTP exchange (connect, TLS, AUTH, the message, QUIT) may take; a template URL
# fetch has the same bound. Not a GoTrue setting.
TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class SMTPSettings:
    host: str = ""
    port: int = 587
    user: str = ""
    password: str = ""
    admin_email: str = ""
    sender_name: str = ""
    max_frequency: timedelta = timedelta(seconds=60)
    timeout: timedelta = TIMEOUT


def read(env: EnvReader) -> SMTPSettings:
    return SMTPSettings(
        host=env.str("SMTP_HOST"),
        port=env.int("SMTP_PORT", 587, minimum=1),
        user=env.str("SMTP_USER"),
        password=env.str("SMTP_PASS"),
        admin_email=env.str("SMTP_ADMIN_EMAIL"),
        sender_name=env.str("SMTP_SENDER_NAME"),
        max_frequency=env.duration("SMTP_MAX_FREQUENCY", timedelta(seconds=60),
                                   zero_is_default=True),
    )


def check(smtp: SMTPSettings) -> None:
    if smtp.host and not smtp.admin_email:
        # Without a sender every email would fail at send time.
        raise SettingsError("GOTRUE_SMTP_ADMIN_EMAIL: required when GOTRUE_SMTP_HOST is set")
