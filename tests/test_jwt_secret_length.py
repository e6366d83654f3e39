"""A JWT secret of a few bytes is refused at start-up (issue: abuse defences, finding 7).

An HS256 secret that short falls to an offline search from any one token, and then every token
(admin ones too) can be forged. Under 16 bytes the server does not start; from 16 to 31 bytes it
starts and the console's settings page warns (tests/console/test_settings_page.py).
"""

from __future__ import annotations

import pytest

from gotrue_web import create_app
from gotrue_web.settings import SettingsError, from_env

from .conftest import BASE_SETTINGS

REQUIRED = {"GOTRUE_SITE_URL": "https://app.example.com",
            "API_EXTERNAL_URL": "https://auth.example.com"}


@pytest.mark.parametrize("secret, size", [("q", 1), ("x" * 15, 15),
                                          # Counted in bytes: 5 characters, 15 bytes.
                                          ("€" * 5, 15)])
def test_a_short_secret_stops_start_up(secret, size):
    with pytest.raises(SettingsError) as refused:
        from_env({**REQUIRED, "GOTRUE_JWT_SECRET": secret}, env_file=None)
    message = str(refused.value)
    assert message.startswith(f"GOTRUE_JWT_SECRET: {size} bytes is too short")
    assert "32 bytes or more" in message
    assert secret not in message.removeprefix("GOTRUE_JWT_SECRET: ")  # the value is not shown


def test_the_app_factory_refuses_it_too():
    with pytest.raises(SettingsError):
        create_app(BASE_SETTINGS.replace(**{"jwt.secret": "x" * 15}))


@pytest.mark.parametrize("secret", ["x" * 16, "€" * 6, "correct horse battery",
                                    "super-secret-jwt-token-with-at-least-32-characters-long"])
def test_sixteen_bytes_or_more_start(secret):
    assert from_env({**REQUIRED, "GOTRUE_JWT_SECRET": secret},
                    env_file=None).jwt.secret == secret


def test_a_missing_secret_is_still_required():
    with pytest.raises(SettingsError, match="^GOTRUE_JWT_SECRET: required$"):
        from_env(REQUIRED, env_file=None)
