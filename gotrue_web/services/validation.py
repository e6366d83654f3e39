"""Validation and normal forms of the addresses users sign in with, and of JSON to be stored."""

from __future__ import annotations

import math
import re
import uuid

from email_validator import EmailNotValidError, validate_email

from ..errors import ErrorCode, bad_request

MAX_EMAIL_LENGTH = 255
_E164_DIGITS = re.compile(r"[1-9]\d{1,14}")


def normalize_email(raw: str) -> str:
    """The stored form of an email address: validated and lower-cased.

    Raises 400 validation_failed for a malformed or over-long address. Deliverability is not
    checked (no DNS), and special-use domains are accepted, as GoTrue does.
    """
    email = raw.strip()
    if len(email) > MAX_EMAIL_LENGTH:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "An email address is too long")
    try:
        validate_email(email, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Unable to validate email address: invalid format") from None
    return email.lower()


def phone_digits(raw: str) -> str:
    """GoTrue's normalisation: one leading '+' and every ASCII space go (nothing else, so
    "++1..." or "1-555..." stay invalid)."""
    return raw.removeprefix("+").replace(" ", "")


def normalize_phone(raw: str) -> str:
    """Digits of an E.164 number; 400 validation_failed otherwise."""
    digits = phone_digits(raw.strip())
    if not _E164_DIGITS.fullmatch(digits):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Invalid phone number format (E.164 required)")
    return digits


# MariaDB refuses JSON documents nested 32 deep; stay well below.
MAX_JSON_DEPTH = 24
# C0 controls and DEL; the second form lets tab and line breaks through (multi-line text).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_CHARACTERS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str, *, allow_line_breaks: bool = False) -> bool:
    """Whether ``text`` holds characters no operator types on purpose (PostgreSQL refuses NUL
    in text outright)."""
    pattern = _CONTROL_CHARACTERS_BUT_LINES if allow_line_breaks else _CONTROL_CHARACTERS
    return pattern.search(text) is not None


def json_storage_problem(data, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why parsed JSON ``data`` could not be stored on every database, or None.

    NUL characters and lone surrogates break PostgreSQL text and UTF-8 encoding; infinite
    numbers (1e400 parses as one) have no JSON form; deep nesting is refused by MariaDB.
    """
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "strings must not contain NUL characters"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "strings must be valid Unicode"
        elif isinstance(value, float) and not math.isfinite(value):
            return "numbers must be finite"
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None:
                    stack.append((key, depth))
                stack.append((item, depth + 1))
    return None


# The forms Go's uuid.FromString accepts: canonical, 32 hex digits, in braces, or as a URN
# (Python's uuid.UUID would also take stray hyphens anywhere).
_UUID_FORM = re.compile(
    r"(?:urn:uuid:)?(\{)?(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|[0-9a-fA-F]{32})(?(1)\})")


def parse_go_uuid(text) -> uuid.UUID | None:
    """An id GoTrue parses as a UUID (a client id, a passkey or challenge id), as Go reads
    it; None when it is not one."""
    if not isinstance(text, str) or not _UUID_FORM.fullmatch(text):
        return None
    return uuid.UUID(text)
