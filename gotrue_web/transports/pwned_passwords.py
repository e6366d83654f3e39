"""The Pwned Passwords range API (k-anonymity): is a password in known breaches?

Only the first 5 hex digits of the password's SHA-1 leave the server (GET {url}/range/ABCDE);
the answer lists the remaining 35 digits of every known hash with that prefix and how often it
was seen. ``Add-Padding: true`` asks for decoy lines (count 0) so the answer's size does not
hint at the prefix either. Knows the wire format only; what a pwned password means for the
caller is services.password_checks' business.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from ..security.passwords import password_bytes
from .http import FetchError, get_text

PREFIX_LENGTH = 5
# A padded answer has 800 to 1,000 lines of about 40 bytes; anything much larger is not one.
MAX_ANSWER_BYTES = 1024 * 1024
_LINE = re.compile(r"([0-9A-F]{35}):(\d{1,12})")


class RangeAPIUnavailable(Exception):
    """The range API could not be asked, or its answer was not a range list; the message says
    why and never carries the password or its hash."""


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password_bytes(password)).hexdigest().upper()  # noqa: S324 - the API's


def is_pwned(base_url: str, password: str, *, timeout: float, user_agent: str) -> bool:
    """True when ``password`` appears in the breaches the range API at ``base_url`` knows."""
    digest = sha1_hex(password)
    prefix, suffix = digest[:PREFIX_LENGTH], digest[PREFIX_LENGTH:]
    try:
        text = get_text(f"{base_url}/range/{prefix}", timeout=timeout,
                        max_bytes=MAX_ANSWER_BYTES, accept="text/plain",
                        headers={"Add-Padding": "true", "User-Agent": user_agent})
    except FetchError as exc:
        raise RangeAPIUnavailable(str(exc)) from None
    return _listed(text, suffix)


def _listed(text: str, suffix: str) -> bool:
    """Whether ``suffix`` is on a line of ``text`` with a count above zero.

    Every line is read and compared in constant time, so how long this takes says nothing about
    where (or whether) the hash was found.
    """
    found = False
    lines = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _LINE.fullmatch(line.upper())
        if match is None:
            raise RangeAPIUnavailable("the answer is not a list of SUFFIX:COUNT lines")
        lines += 1
        seen = int(match.group(2)) > 0
        found |= hmac.compare_digest(match.group(1), suffix) & seen
    if not lines:
        # A real answer always lists hashes (and padding); an empty one is a broken proxy.
        raise RangeAPIUnavailable("the answer lists no hashes")
    return found
