"""The most common passwords, from the list the zxcvbn package ships and maintains.

zxcvbn's ``passwords`` frequency list holds the 30,000 passwords seen most often in leaked
password dumps, lower-cased. It is read once per process (the factory asks for it at start-up)
and kept as a frozenset, so a check is one set lookup and no file is parsed per request.
"""

from __future__ import annotations

import functools


@functools.cache
def load() -> frozenset[str]:
    """Every listed password, case-folded."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(entry.casefold() for entry in FREQUENCY_LISTS["passwords"])


def is_common(password: str, common: frozenset[str]) -> bool:
    """Case does not make a listed password safe: "Password1" is as guessable as "password1"."""
    return password.casefold() in common
