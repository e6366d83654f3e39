"""Auth hooks: GOTRUE_HOOK_<NAME>_{ENABLED,URI,SECRETS}.

A hook's URI is an https:// endpoint (http:// only on this machine or host.docker.internal),
signed per Standard Webhooks with the ``v1,whsec_...`` secrets, or a PostgreSQL function
``pg-functions://<any>/<schema>/<function>``; anything else stops start-up, as in GoTrue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .env import EnvReader, SettingsError

HOOK_NAMES = ("send_email", "send_sms", "custom_access_token", "mfa_verification_attempt",
              "password_verification_attempt", "before_user_created", "after_user_created")
LOCAL_HTTP_HOSTS = ("localhost", "127.0.0.1", "::1", "host.docker.internal")
PG_FUNCTIONS_SCHEME = "pg-functions"
_PG_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,62}")
_SYMMETRIC_SECRET = re.compile(r"v1,whsec_[A-Za-z0-9+/=]{32,88}")
_ASYMMETRIC_SECRET = re.compile(r"v1a,whpk_.+:whsk_.+")


@dataclass(frozen=True)
class HookConfig:
    enabled: bool = False
    uri: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def is_pg_function(self) -> bool:
        return self.uri.lower().startswith(PG_FUNCTIONS_SCHEME + "://")

    def pg_function(self) -> tuple[str, str]:
        """(schema, function) of a pg-functions:// URI (checked at start-up)."""
        parts = [part for part in urlsplit(self.uri).path.split("/") if part]
        return parts[0], parts[1]


@dataclass(frozen=True)
class HooksSettings:
    send_email: HookConfig = HookConfig()
    send_sms: HookConfig = HookConfig()
    custom_access_token: HookConfig = HookConfig()
    mfa_verification_attempt: HookConfig = HookConfig()
    password_verification_attempt: HookConfig = HookConfig()
    before_user_created: HookConfig = HookConfig()
    after_user_created: HookConfig = HookConfig()
    # Beyond GoTrue: days the console keeps the hook delivery log.
    delivery_log_days: int = 7

    def get(self, name: str) -> HookConfig:
        return getattr(self, name)

    def enabled(self, name: str) -> bool:
        return self.get(name).enabled


def _hook(env: EnvReader, name: str) -> HookConfig:
    prefix = f"HOOK_{name.upper()}_"
    secrets = tuple(part.strip() for part in env.str(prefix + "SECRETS").split("|")
                    if part.strip())
    return HookConfig(enabled=env.bool(prefix + "ENABLED", False), uri=env.str(prefix + "URI"),
                      secrets=secrets)


def read(env: EnvReader) -> HooksSettings:
    return HooksSettings(**{name: _hook(env, name) for name in HOOK_NAMES},
                         delivery_log_days=env.int("HOOK_DELIVERY_LOG_DAYS", 7, minimum=1))


def check(hooks: HooksSettings) -> None:
    for name in HOOK_NAMES:
        config = hooks.get(name)
        variable = f"GOTRUE_HOOK_{name.upper()}_URI"
        if config.uri:
            check_uri(variable, config.uri)
        if config.is_pg_function:
            continue  # PostgreSQL functions are not signed: their secrets are ignored
        for secret in config.secrets:
            if not (_SYMMETRIC_SECRET.match(secret) or _ASYMMETRIC_SECRET.fullmatch(secret)):
                raise SettingsError(
                    f"GOTRUE_HOOK_{name.upper()}_SECRETS: expected v1,whsec_<base64> entries "
                    "separated by |")


def check_uri(variable: str, uri: str) -> None:
    """GoTrue's rules for a hook URI (see the module docstring); SettingsError otherwise."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        raise SettingsError(f"{variable}: not a valid URI: {uri!r}") from None
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return
    if scheme == "http":
        if host in LOCAL_HTTP_HOSTS:
            return
        raise SettingsError(f"{variable}: http:// is allowed only for localhost, 127.0.0.1, "
                            f"::1 and host.docker.internal; use https:// for {host!r}")
    if scheme == PG_FUNCTIONS_SCHEME:
        names = [part for part in parts.path.split("/") if part]
        if len(names) >= 2 and all(_PG_NAME.fullmatch(name) for name in names[:2]):
            return
        raise SettingsError(f"{variable}: expected pg-functions://<db>/<schema>/<function> "
                            "with PostgreSQL identifiers")
    raise SettingsError(f"{variable}: expected an https://, http://localhost or "
                        f"pg-functions:// URI, got {uri!r}")
