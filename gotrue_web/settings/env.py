"""Reading GoTrue's variables: names, empty values, and the value forms GoTrue accepts.

Every group reader takes an EnvReader. ``GOTRUE_<NAME>`` is looked up first, then the
alternatives a variable also has in GoTrue (unprefixed ``DATABASE_URL``, ``PORT``, ...).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Mapping
from urllib.parse import urlsplit

from ..durations import parse_seconds_or_duration

PREFIX = "GOTRUE_"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class EnvReader:
    """Looks up GoTrue variables: ``GOTRUE_<NAME>`` first, then the alternatives as written.

    An empty value counts as unset, so ``GOTRUE_X=`` in a file means "use the default".
    """

    def __init__(self, values: Mapping[str, str]):
        self.values = values
        # Every variable name looked up, found or not: the configuration catalogue's test
        # compares it with the catalogue (settings/catalogue), so neither can drift.
        self.asked: set[str] = set()

    def plain(self, name: str) -> str:
        """A variable read by its own name only (no GOTRUE_ prefix), e.g. OpenTelemetry's."""
        self.asked.add(name)
        return self.values.get(name) or ""

    def raw(self, name: str, *alternatives: str) -> tuple[str, str] | None:
        keys = (PREFIX + name, *alternatives)
        self.asked.update(keys)
        for key in keys:
            value = self.values.get(key)
            if value is not None and value != "":
                return key, value
        return None

    def str(self, name: str, default: str = "", *alternatives: str) -> str:
        found = self.raw(name, *alternatives)
        return found[1].strip() if found else default

    def bool(self, name: str, default: bool) -> bool:
        found = self.raw(name)
        if not found:
            return default
        key, value = found
        lowered = value.strip().lower()
        if lowered in ("1", "t", "true", "yes", "on"):
            return True
        if lowered in ("0", "f", "false", "no", "off"):
            return False
        raise SettingsError(f"{key}: expected true or false, got {value!r}")

    def int(self, name: str, default: int, *alternatives: str, minimum: int | None = None,
            zero_is_default: bool = False) -> int:
        """An integer; ``zero_is_default`` mirrors GoTrue replacing 0 by the default."""
        found = self.raw(name, *alternatives)
        if not found:
            return default
        key, value = found
        try:
            number = int(value.strip())
        except ValueError:
            raise SettingsError(f"{key}: expected an integer, got {value!r}") from None
        if zero_is_default and number == 0:
            return default
        if minimum is not None and number < minimum:
            raise SettingsError(f"{key}: must be at least {minimum}, got {number}")
        return number

    def float(self, name: str, default: float) -> float:
        found = self.raw(name)
        if not found:
            return default
        key, value = found
        try:
            number = float(value.strip())
        except ValueError:
            raise SettingsError(f"{key}: expected a number, got {value!r}") from None
        if number != number or number < 0:
            raise SettingsError(f"{key}: expected a number of at least 0, got {value!r}")
        return number

    def duration(self, name: str, default: timedelta | None, *,
                 zero_is_default: bool = False) -> timedelta | None:
        """A Go duration ("90s", "1h30m") or bare seconds; negative durations are refused."""
        found = self.raw(name)
        if not found:
            return default
        key, value = found
        try:
            duration = parse_seconds_or_duration(value)
        except ValueError:
            raise SettingsError(
                f"{key}: expected a duration such as 60s, 5m or 24h, got {value!r}"
            ) from None
        if duration < timedelta(0):
            raise SettingsError(f"{key}: must not be negative, got {value!r}")
        if zero_is_default and not duration:
            return default
        return duration

    def list(self, name: str, *, keep_braces: bool = False) -> tuple[str, ...]:
        """A comma list; with ``keep_braces`` a comma inside {...} stays in its item (globs)."""
        found = self.raw(name)
        if not found:
            return ()
        items = _split_outside_braces(found[1]) if keep_braces else found[1].split(",")
        return tuple(item.strip() for item in items if item.strip())



def _split_outside_braces(value: str) -> list[str]:
    items, current, depth = [], [], 0
    for char in value:
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        current.append(char)
    items.append("".join(current))
    return items



def parse_required_characters(value: str) -> tuple[str, ...]:
    """GoTrue's PASSWORD_REQUIRED_CHARACTERS: sets joined by ':', where '\\:' is a literal colon.

    Any other backslash is an ordinary character; empty sets are dropped.
    """
    sets, current, index = [], [], 0
    while index < len(value):
        if value.startswith("\\:", index):
            current.append(":")
            index += 2
            continue
        if value[index] == ":":
            sets.append("".join(current))
            current = []
        else:
            current.append(value[index])
        index += 1
    sets.append("".join(current))
    return tuple(s for s in sets if s)


def otp_length(value: int) -> int:
    """GoTrue resets code lengths outside 6..10 to 6."""
    return value if 6 <= value <= 10 else 6


def positive(value: timedelta | None) -> timedelta | None:
    """A duration that is set and above zero, else None."""
    return value if value and value.total_seconds() > 0 else None


def check_url(name: str, value: str, *, http_only: bool) -> None:
    """Raise SettingsError naming ``name`` unless ``value`` is an absolute URL."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError(f"{name}: not a valid URL: {value!r}") from None
    if not parts.scheme or not parts.hostname:
        raise SettingsError(f"{name}: expected an absolute URL, got {value!r}")
    if http_only and parts.scheme not in ("http", "https"):
        raise SettingsError(f"{name}: expected an http(s) URL, got {value!r}")
