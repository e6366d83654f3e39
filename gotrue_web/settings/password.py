"""Password rules: minimum length, required characters, leaked and common passwords, hash cost.

GOTRUE_PASSWORD_HIBP_ENABLED / _FAIL_CLOSED / _USER_AGENT / _BLOOM_* are GoTrue's. Ours:
GOTRUE_PASSWORD_HIBP_URL points the Pwned Passwords range API at another host (a test server, a
proxy), GOTRUE_PASSWORD_HIBP_TIMEOUT bounds one call, and GOTRUE_PASSWORD_COMMON_LIST_ENABLED
refuses the most common passwords from a list shipped with the code (no network).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from .env import EnvReader, SettingsError, check_url, parse_required_characters

HIBP_URL = "https://api.pwnedpasswords.com"
HIBP_TIMEOUT = timedelta(seconds=5)
HIBP_USER_AGENT = "gotrue-web"
# GoTrue's defaults for the bloom filter of known-pwned hashes.
HIBP_BLOOM_ITEMS = 100_000
HIBP_BLOOM_FALSE_POSITIVES = 0.0000099


@dataclass(frozen=True)
class PasswordSettings:
    min_length: int = 6
    # Each entry is a set of characters of which the password needs at least one.
    required_characters: tuple[str, ...] = ()
    hibp_enabled: bool = False
    # When the range API cannot be asked: refuse the new password (true) or let it through.
    hibp_fail_closed: bool = False
    # The range API is GET {hibp_url}/range/{first 5 hex digits of the SHA-1}.
    hibp_url: str = HIBP_URL
    hibp_timeout: timedelta = HIBP_TIMEOUT
    hibp_user_agent: str = HIBP_USER_AGENT
    # Hashes the range API reported pwned are remembered in a bloom filter of this capacity
    # and false-positive rate: a password seen pwned before is refused without asking again.
    hibp_bloom_enabled: bool = False
    hibp_bloom_items: int = HIBP_BLOOM_ITEMS
    hibp_bloom_false_positives: float = HIBP_BLOOM_FALSE_POSITIVES
    common_list_enabled: bool = True
    # bcrypt cost of new hashes; GoTrue uses 10. Only tests lower it.
    bcrypt_cost: int = 10


def read(env: EnvReader) -> PasswordSettings:
    required_characters = env.raw("PASSWORD_REQUIRED_CHARACTERS")
    return PasswordSettings(
        # GoTrue raises lower minimums to 6.
        min_length=max(env.int("PASSWORD_MIN_LENGTH", 6), 6),
        # Not stripped: a space can be one of the required characters.
        required_characters=parse_required_characters(
            required_characters[1] if required_characters else ""),
        hibp_enabled=env.bool("PASSWORD_HIBP_ENABLED", False),
        hibp_fail_closed=env.bool("PASSWORD_HIBP_FAIL_CLOSED", False),
        hibp_url=env.str("PASSWORD_HIBP_URL", HIBP_URL).rstrip("/"),
        hibp_timeout=env.duration("PASSWORD_HIBP_TIMEOUT", HIBP_TIMEOUT, zero_is_default=True),
        hibp_user_agent=env.str("PASSWORD_HIBP_USER_AGENT", HIBP_USER_AGENT),
        hibp_bloom_enabled=env.bool("PASSWORD_HIBP_BLOOM_ENABLED", False),
        hibp_bloom_items=env.int("PASSWORD_HIBP_BLOOM_ITEMS", HIBP_BLOOM_ITEMS, minimum=1),
        hibp_bloom_false_positives=env.float("PASSWORD_HIBP_BLOOM_FALSE_POSITIVES",
                                             HIBP_BLOOM_FALSE_POSITIVES),
        common_list_enabled=env.bool("PASSWORD_COMMON_LIST_ENABLED", True),
    )


def check(password: PasswordSettings) -> None:
    check_url("GOTRUE_PASSWORD_HIBP_URL", password.hibp_url, http_only=True)
    parts = urlsplit(password.hibp_url)
    # /range/<prefix> is appended: a query or fragment would swallow it, and credentials in
    # the URL would be sent to whoever answers.
    if parts.query or parts.fragment or parts.username is not None:
        raise SettingsError(
            "GOTRUE_PASSWORD_HIBP_URL: give a scheme, host and optional path (such as "
            f"https://hibp-proxy.internal:8443), got {password.hibp_url!r}")
    if password.hibp_timeout <= timedelta(0):
        raise SettingsError("GOTRUE_PASSWORD_HIBP_TIMEOUT: must be above zero")
    if not 0 < password.hibp_bloom_false_positives < 1:
        raise SettingsError("GOTRUE_PASSWORD_HIBP_BLOOM_FALSE_POSITIVES: a rate between 0 and 1 "
                            f"(such as {HIBP_BLOOM_FALSE_POSITIVES}), got "
                            f"{password.hibp_bloom_false_positives}")
