"""The SMTP server mail goes through; an empty host means mail is not sent, as in GoTrue."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from .env import EnvReader, SettingsError

# The longest one SMTP exchange (connect, TLS, AUTH, the message, QUIT) may take; a template URL
# fetch has the same bound. Not a GoTrue setting.
TIMEOUT = timedelta(seconds=10)

# A header field name (RFC 5322: printable ASCII but the colon).
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# A line break would start another header; other control characters have no place either.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers every message sets itself: a second one would make the message malformed.
_OWN_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id",
                          "mime-version", "content-type", "content-transfer-encoding"})
# Replaced in a value by the email's template name (confirmation, recovery, ...).
MESSAGE_TYPE = "$messageType"

Headers = tuple[tuple[str, tuple[str, ...]], ...]


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
    # GOTRUE_SMTP_HEADERS: extra headers on every email, each name with its values.
    headers: Headers = ()


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
        headers=parse_headers(env.str("SMTP_HEADERS")),
    )


def parse_headers(value: str) -> Headers:
    """GOTRUE_SMTP_HEADERS: a JSON object of header names to lists of values, as GoTrue reads
    it ({"X-Stream": ["auth"]}); an empty name or value is skipped, as GoTrue skips them.
    Refused: a name that is not a header name or that the message sets itself, and a value
    with a line break (it would start another header) or another control character."""
    if not value:
        return ()
    shape = "expected a JSON object of header names to lists of strings"
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise SettingsError(f"GOTRUE_SMTP_HEADERS: {shape} ({error})") from None
    if not isinstance(parsed, dict):
        raise SettingsError(f"GOTRUE_SMTP_HEADERS: {shape}")
    headers = []
    for name, values in parsed.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SettingsError(f"GOTRUE_SMTP_HEADERS: {shape}; {name!r} is not a list of "
                                "strings")
        values = tuple(v for v in values if v)
        if not name or not values:
            continue
        if not _FIELD_NAME.fullmatch(name):
            raise SettingsError(f"GOTRUE_SMTP_HEADERS: {name!r} is not a header name")
        if name.lower() in _OWN_HEADERS:
            raise SettingsError(f"GOTRUE_SMTP_HEADERS: {name} is set by the server on every "
                                "email and cannot be replaced")
        if any(_CONTROL.search(v) for v in values):
            raise SettingsError(f"GOTRUE_SMTP_HEADERS: a value of {name} contains a line "
                                "break or another control character")
        headers.append((name, values))
    return tuple(headers)


def check(smtp: SMTPSettings) -> None:
    if smtp.host and not smtp.admin_email:
        # Without a sender every email would fail at send time.
        raise SettingsError("GOTRUE_SMTP_ADMIN_EMAIL: required when GOTRUE_SMTP_HOST is set")
