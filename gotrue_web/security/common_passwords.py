"""The most common passwords, from the list the zxcvbn package ships and maintains.

zxcvbn's ``passwords`` frequency list holds the 30,000 passwords seen most often in leaked
password dumps, lower-cased. It is read once per process (the factory asks for it at start-up)
and kept as a frozenset, so a check is one set lookup and no file is parsed per request.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


@functools.cache
def load() -> frozenset[str]:
    """Every listed password, case-folded.

    The list's module is run on its own, not through the zxcvbn package, whose import builds
    ranked dictionaries of every list (about 10 MB in each worker) that this server never uses;
    once read, the module is dropped and only the set stays."""
    package = importlib.util.find_spec("zxcvbn")
    if package is None or package.origin is None:
        raise ModuleNotFoundError("zxcvbn")
    lists_file = Path(package.origin).with_name("frequency_lists.py")
    spec = importlib.util.spec_from_file_location("gotrue_web_zxcvbn_lists", lists_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(entry.casefold() for entry in module.FREQUENCY_LISTS["passwords"])


def is_common(password: str, common: frozenset[str]) -> bool:
    """Case does not make a listed password safe: "Password1" is as guessable as "password1"."""
    return password.casefold() in common
