"""Password rules: minimum length, required characters, leaked-password check, hash cost."""

from __future__ import annotations

from dataclasses import dataclass

from .env import EnvReader, parse_required_characters


@dataclass(frozen=True)
class PasswordSettings:
    min_length: int = 6
    # Each entry is a set of characters of which the password needs at least one.
    required_characters: tuple[str, ...] = ()
    hibp_enabled: bool = False
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
    )
