"""Go-style durations ("1h30m", "300ms", "24h") as GoTrue's configuration and admin API use them."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+)?(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
# Go keeps durations in an int64 of nanoseconds; longer ones are errors there, so here too.
_MAX_NANOSECONDS = 2**63 - 1


def parse_go_duration(text: str) -> timedelta:
    """Parse a Go duration string; raise ValueError when it is not one.

    Like Go's time.ParseDuration: an optional sign, then number+unit pairs ("1h30m", "1.5s",
    ".5m"); a bare "0" is allowed; more than about 292 years is refused.
    """
    value = text.strip()
    original = text
    negative = value.startswith("-")
    if value[:1] in ("+", "-"):
        value = value[1:]
    if value == "0":
        return timedelta(0)
    if not value:
        raise ValueError(f"invalid duration {original!r}")
    position, nanoseconds = 0, 0
    while position < len(value):
        match = _PART.match(value, position)
        whole, fraction, unit = match.groups() if match else (None, None, None)
        if match is None or (whole is None and not fraction):
            raise ValueError(f"invalid duration {original!r}")
        scale = _UNITS[unit]
        nanoseconds += int(whole or 0) * scale
        if fraction:
            nanoseconds += int(fraction) * scale // 10 ** len(fraction)
        if nanoseconds > _MAX_NANOSECONDS:
            raise ValueError(f"invalid duration {original!r}: too long")
        position = match.end()
    # timedelta keeps microseconds; shorter remainders are dropped.
    duration = timedelta(microseconds=nanoseconds // 1000)
    return -duration if negative else duration


def parse_seconds_or_duration(text: str) -> timedelta:
    """A Go duration, or plain seconds as some GoTrue variables accept."""
    stripped = text.strip()
    if re.fullmatch(r"\d+", stripped):
        seconds = int(stripped)
        if seconds * 1_000_000_000 > _MAX_NANOSECONDS:
            raise ValueError(f"invalid duration {text!r}: too long")
        return timedelta(seconds=seconds)
    return parse_go_duration(stripped)
