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
import threading

from rbloom import Bloom

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


class KnownPwned:
    """This process's memory of the hashes the range API reported pwned: a bloom filter
    (rbloom) of ``items`` hashes at a ``false_positives`` rate (GOTRUE_PASSWORD_HIBP_BLOOM_*).
    A hash found here is pwned without asking again; at that rate a password never reported
    counts as pwned too. Full, it starts over empty: a fuller filter would raise the rate."""

    def __init__(self, items: int, false_positives: float):
        self._items, self._rate = items, false_positives
        self._lock = threading.Lock()
        self._filter, self._added = self._new(), 0

    def _new(self) -> Bloom:
        # The SHA-1 is already uniform: its first 16 bytes are the 128-bit hash rbloom takes.
        return Bloom(self._items, self._rate,
                     hash_func=lambda digest: int.from_bytes(digest[:16], "big", signed=True))

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._filter

    def add(self, digest: bytes) -> None:
        with self._lock:
            if self._added >= self._items:
                self._filter, self._added = self._new(), 0
            self._filter.add(digest)
            self._added += 1


def is_pwned(base_url: str, password: str, *, timeout: float, user_agent: str,
             known: KnownPwned | None = None) -> bool:
    """True when ``password`` appears in the breaches the range API at ``base_url`` knows, or
    in ``known`` (then nothing is asked); a breach found is added to ``known``."""
    digest = sha1_hex(password)
    if known is not None and bytes.fromhex(digest) in known:
        return True
    prefix, suffix = digest[:PREFIX_LENGTH], digest[PREFIX_LENGTH:]
    try:
        text = get_text(f"{base_url}/range/{prefix}", timeout=timeout,
                        max_bytes=MAX_ANSWER_BYTES, accept="text/plain",
                        headers={"Add-Padding": "true", "User-Agent": user_agent})
    except FetchError as exc:
        raise RangeAPIUnavailable(str(exc)) from None
    pwned = _listed(text, suffix)
    if pwned and known is not None:
        known.add(bytes.fromhex(digest))
    return pwned


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
