"""Phone numbers as the message log, the audit entries and the server log show them: masked.

The SMS log keeps the whole number (operators search it and the user page links it), but a
log page is read over shoulders and in screenshots, so it shows only the first digit and the
last four: 15551234567 -> "+1••••••4567". Numbers under ten digits show only their last
third."""

from __future__ import annotations

import re

MASK = "\u2022"
_NON_DIGITS = re.compile(r"\D")


def digits_of(text: str) -> str:
    """The digits of a number as typed ("+1 (555) 123-4567" -> "15551234567")."""
    return _NON_DIGITS.sub("", text or "")


def mask_phone(number: str) -> str:
    """``number`` (stored digits, with or without '+') with all but its first digit and last
    four digits replaced by bullets; "" for no number."""
    digits = digits_of(number)
    if not digits:
        return ""
    count = len(digits)
    if count >= 10:
        head, tail = 1, 4
    else:
        head, tail = 0, count // 3
    hidden = count - head - tail
    return "+" + digits[:head] + MASK * hidden + digits[count - tail:]
