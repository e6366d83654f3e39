"""Refresh-token rotation and what a password change or identity link requires."""

from __future__ import annotations

from dataclasses import dataclass

from .env import EnvReader, SettingsError

# 0: GoTrue's classic refresh tokens (only hashes stored); 2: tokens signed per session.
REFRESH_TOKEN_ALGORITHMS = (0, 2)


@dataclass(frozen=True)
class SecuritySettings:
    refresh_token_rotation_enabled: bool = True
    refresh_token_reuse_interval: int = 0
    refresh_token_allow_reuse: bool = False
    refresh_token_algorithm_version: int = 0
    update_password_require_reauthentication: bool = False
    update_password_require_current_password: bool = False
    manual_linking_enabled: bool = False
    # GOTRUE_EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED
    create_email_identity_on_password_set: bool = False


def read(env: EnvReader) -> SecuritySettings:
    algorithm = env.int("SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION", 0)
    if algorithm not in REFRESH_TOKEN_ALGORITHMS:
        raise SettingsError("GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION: expected 0 "
                            f"(classic refresh tokens) or 2 (signed per session), got {algorithm}")
    return SecuritySettings(
        refresh_token_rotation_enabled=env.bool(
            "SECURITY_REFRESH_TOKEN_ROTATION_ENABLED", True),
        refresh_token_reuse_interval=env.int(
            "SECURITY_REFRESH_TOKEN_REUSE_INTERVAL", 0, minimum=0),
        refresh_token_allow_reuse=env.bool("SECURITY_REFRESH_TOKEN_ALLOW_REUSE", False),
        refresh_token_algorithm_version=algorithm,
        update_password_require_reauthentication=env.bool(
            "SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION", False),
        update_password_require_current_password=env.bool(
            "SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD", False),
        manual_linking_enabled=env.bool("SECURITY_MANUAL_LINKING_ENABLED", False),
        create_email_identity_on_password_set=env.bool(
            "EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED", False),
    )
