"""Refresh-token rotation and what a password change or identity link requires."""

from __future__ import annotations

from dataclasses import dataclass

from .env import EnvReader


@dataclass(frozen=True)
class SecuritySettings:
    refresh_token_rotation_enabled: bool = True
    refresh_token_reuse_interval: int = 0
    refresh_token_allow_reuse: bool = False
    update_password_require_reauthentication: bool = False
    update_password_require_current_password: bool = False
    manual_linking_enabled: bool = False


def read(env: EnvReader) -> SecuritySettings:
    return SecuritySettings(
        refresh_token_rotation_enabled=env.bool(
            "SECURITY_REFRESH_TOKEN_ROTATION_ENABLED", True),
        refresh_token_reuse_interval=env.int(
            "SECURITY_REFRESH_TOKEN_REUSE_INTERVAL", 0, minimum=0),
        refresh_token_allow_reuse=env.bool("SECURITY_REFRESH_TOKEN_ALLOW_REUSE", False),
        update_password_require_reauthentication=env.bool(
            "SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION", False),
        update_password_require_current_password=env.bool(
            "SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD", False),
        manual_linking_enabled=env.bool("SECURITY_MANUAL_LINKING_ENABLED", False),
    )
