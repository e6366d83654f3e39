"""Refresh-token rotation, what a password change or identity link requires, and the
encryption of secrets stored in the database."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from .env import EnvReader, SettingsError

# 0: GoTrue's classic refresh tokens (only hashes stored); 2: tokens signed per session.
REFRESH_TOKEN_ALGORITHMS = (0, 2)


@dataclass(frozen=True)
class DBEncryption:
    """GOTRUE_SECURITY_DB_ENCRYPTION_*: new secrets are encrypted under ``key_id`` when
    ``encrypt`` is on; ``keys`` (id -> 32 bytes) open what was encrypted, under the current key
    or an older one (security.db_encryption)."""

    encrypt: bool = False
    key_id: str = ""
    keys: tuple[tuple[str, bytes], ...] = ()

    def key(self, key_id: str) -> bytes | None:
        return next((key for name, key in self.keys if name == key_id), None)


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
    db_encryption: DBEncryption = field(default_factory=DBEncryption)


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
        db_encryption=_db_encryption(env),
    )


_DB_ENCRYPTION = "GOTRUE_SECURITY_DB_ENCRYPTION_"


def _db_encryption(env: EnvReader) -> DBEncryption:
    keys: dict[str, bytes] = {}
    for item in env.list("SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS"):
        key_id, colon, value = item.partition(":")
        if not colon or not key_id.strip():
            raise SettingsError(f"{_DB_ENCRYPTION}DECRYPTION_KEYS: expected id:key pairs "
                                "separated by commas")
        keys[key_id.strip()] = _key_bytes("DECRYPTION_KEYS", value)
    encrypt = env.bool("SECURITY_DB_ENCRYPTION_ENCRYPT", False)
    key_id = env.str("SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY_ID")
    key = env.str("SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY")
    if encrypt and not (key_id and key):
        raise SettingsError(f"{_DB_ENCRYPTION}ENCRYPT: needs {_DB_ENCRYPTION}ENCRYPTION_KEY_ID "
                            f"and {_DB_ENCRYPTION}ENCRYPTION_KEY")
    if key_id and key:
        # The key new values use opens them too.
        keys[key_id] = _key_bytes("ENCRYPTION_KEY", key)
    return DBEncryption(encrypt=encrypt, key_id=key_id, keys=tuple(keys.items()))


def _key_bytes(name: str, value: str) -> bytes:
    """A key as GoTrue takes it: 32 bytes in base64url without padding."""
    text = value.strip()
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise SettingsError(f"{_DB_ENCRYPTION}{name}: a key is 32 bytes in base64url "
                            "(such as the output of: openssl rand 32 | basenc --base64url)")
    return key
