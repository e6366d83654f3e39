"""Access tokens: the HS256 secret or the JWT_KEYS key set, lifetime, audience and roles."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..security.access_tokens import KeyRing
from .env import EnvReader, SettingsError


@dataclass(frozen=True)
class JWTSettings:
    secret: str = ""
    exp: int = 3600
    aud: str = ""
    default_group_name: str = ""
    admin_group_name: str = "admin"
    admin_roles: tuple[str, ...] = ("service_role", "supabase_admin")
    issuer: str = ""
    key_id: str = ""
    # Private JWKs from GOTRUE_JWT_KEYS, as parsed JSON objects.
    keys: tuple[dict, ...] = ()
    valid_methods: tuple[str, ...] = ()


def read(env: EnvReader) -> JWTSettings:
    return JWTSettings(
        secret=env.str("JWT_SECRET"),
        exp=env.int("JWT_EXP", 3600, minimum=1, zero_is_default=True),
        aud=env.str("JWT_AUD"),
        default_group_name=env.str("JWT_DEFAULT_GROUP_NAME"),
        admin_group_name=env.str("JWT_ADMIN_GROUP_NAME", "admin"),
        admin_roles=env.list("JWT_ADMIN_ROLES") or ("service_role", "supabase_admin"),
        issuer=env.str("JWT_ISSUER"),
        key_id=env.str("JWT_KEY_ID"),
        keys=_jwt_keys(env),
        valid_methods=env.list("JWT_VALID_METHODS"),
    )


def _jwt_keys(env: EnvReader) -> tuple[dict, ...]:
    """GOTRUE_JWT_KEYS: a JSON array of JWKs, or a JWK set ``{"keys": [...]}``."""
    found = env.raw("JWT_KEYS")
    if not found:
        return ()
    key, value = found
    try:
        keys = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{key}: not valid JSON ({exc.msg})") from None
    if isinstance(keys, dict) and "keys" in keys:
        keys = keys["keys"]
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise SettingsError(f"{key}: expected a JSON array of JWK objects or {{\"keys\": [...]}}")
    return tuple(keys)


# Below this an HS256 secret falls to an offline search from any one token, after which every
# token (admin ones too) can be forged; the console warns up to 32 bytes (Supabase's minimum).
# Also the key material of the stored one-time code digests (security.codes.code_key).
MIN_SECRET_BYTES = 16


def check(jwt_settings: JWTSettings) -> None:
    if not jwt_settings.secret:
        raise SettingsError("GOTRUE_JWT_SECRET: required")
    size = len(jwt_settings.secret.encode())
    if size < MIN_SECRET_BYTES:
        raise SettingsError(
            f"GOTRUE_JWT_SECRET: {size} bytes is too short: a secret under {MIN_SECRET_BYTES} "
            "bytes can be guessed offline from any token, and then every token forged. Use a "
            "long random value of 32 bytes or more (e.g. openssl rand -base64 48)")
    if jwt_settings.keys:
        _check_keys(jwt_settings)


def _check_keys(jwt_settings: JWTSettings) -> None:
    for key in jwt_settings.keys:
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise SettingsError("GOTRUE_JWT_KEYS: every key needs a kid")
        if not isinstance(key.get("key_ops", []), list):
            raise SettingsError(f"GOTRUE_JWT_KEYS: key_ops of {key['kid']!r} must be a list")
    kids = [key["kid"] for key in jwt_settings.keys]
    if len(set(kids)) != len(kids):
        raise SettingsError("GOTRUE_JWT_KEYS: two keys share a kid")
    signing = [k for k in jwt_settings.keys if "sign" in (k.get("key_ops") or [])]
    if len(signing) != 1:
        raise SettingsError(
            "GOTRUE_JWT_KEYS: exactly one key must have \"sign\" in its key_ops, "
            f"found {len(signing)}")
    try:
        KeyRing(jwt_settings)
    except Exception as exc:  # any parse failure of the key material
        raise SettingsError(f"GOTRUE_JWT_KEYS: unusable key ({exc})") from None
