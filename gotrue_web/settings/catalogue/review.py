"""The start-up review of the variables that are set: each one this server does not honour is a
finding naming it (and why, from the catalogue); an unknown ``GOTRUE_*`` name gets the closest
known one. The app factory logs the findings as warnings, or refuses to start with
GOTRUE_STRICT_CONFIG=true."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..env import PREFIX, SettingsError
from . import index, prefixed_names

# Kinds of finding.
NOT_SUPPORTED = "not-supported"
NOT_READ = "not-read"
UNKNOWN = "unknown"
UNAVAILABLE = "unavailable"
INVALID = "invalid-value"

# How alike (difflib's ratio, on the part after GOTRUE_) a known name must be to be suggested.
SUGGESTION_CUTOFF = 0.75


@dataclass(frozen=True)
class Finding:
    variable: str
    kind: str
    message: str


def review(values: Mapping[str, str]) -> list[Finding]:
    """One finding per variable in ``values`` (the environment and .env together) that is
    set, not empty (empty means "default"), and not honoured; sorted by name."""
    known = index()
    findings = []
    for name in sorted(values):
        if not values[name]:
            continue
        entry = known.get(name)
        if entry is not None:
            if entry.read or not entry.entry.checked:
                continue
            findings.append(_not_honoured(name, entry))
        elif name.startswith(PREFIX):
            findings.append(_unknown(name))
    return findings


def _not_honoured(name: str, known) -> Finding:
    entry = known.entry
    if entry.honoured:
        # A legacy name of an honoured variable: the seed README's unprefixed form, an old
        # spelling.
        instead = entry.instead(name)
        return Finding(name, NOT_READ,
                       f"{name} is set but not read: it is an old or unprefixed name of "
                       f"{instead}; set {instead} instead")
    return Finding(name, NOT_SUPPORTED, f"{name} is set but not supported: {entry.note}")


def suggestion(name: str) -> str:
    """The known GOTRUE_ name closest to ``name``, or ""."""
    candidates = {known.removeprefix(PREFIX): known for known in prefixed_names()}
    close = difflib.get_close_matches(name.removeprefix(PREFIX), list(candidates), n=1,
                                      cutoff=SUGGESTION_CUTOFF)
    return candidates[close[0]] if close else ""


def _unknown(name: str) -> Finding:
    closest = suggestion(name)
    hint = f", did you mean {closest}?" if closest else " (not a GoTrue variable)"
    return Finding(name, UNKNOWN, f"{name}: unknown variable{hint}")


def refuse(findings: Iterable[Finding]) -> SettingsError:
    """The start-up error of GOTRUE_STRICT_CONFIG=true: every finding, one per line."""
    listed = list(findings)
    lines = "".join(f"\n  - {finding.message}" for finding in listed)
    return SettingsError(
        f"GOTRUE_STRICT_CONFIG: {len(listed)} configuration problem(s), so the server does not "
        f"start:{lines}\nFix them, or unset GOTRUE_STRICT_CONFIG to start with warnings instead")
