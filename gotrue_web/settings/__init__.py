"""Configuration, read once at start-up from GoTrue's own environment variables.

An existing GoTrue env file means the same thing here: every variable keeps its GoTrue name
(``GOTRUE_`` prefix; ``DATABASE_URL``, ``API_EXTERNAL_URL``, ``PORT`` and ``DB_NAMESPACE`` also
without it) and its GoTrue default, including GoTrue's habit of reading 0 as "use the default" for
some numbers. Nothing outside this package reads ``os.environ``.

Settings are groups, as GoTrue's configuration is: each group is one module here with a frozen
dataclass, a ``read(env)`` and, where values can be wrong together, a ``check(group)``. A new
feature adds a module and one line each in Settings and GROUPS (the console's settings page
lists every group; console.operations.settings_report gives it a title).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

from ..security.redirects import glob_pattern
from . import (
    api,
    captcha,
    console,
    db,
    external,
    hooks,
    jwt,
    mailer,
    mfa,
    password,
    rate_limit,
    security,
    sessions,
    sms,
    smtp,
    webhook,
)
from .api import APISettings
from .captcha import CaptchaSettings
from .console import ConsoleSettings
from .database_url import normalize_database_url
from .db import DBSettings
from .env import PREFIX, EnvReader, SettingsError, check_url, parse_required_characters
from .external import EXTERNAL_PROVIDERS, EmailProviderSettings, ExternalSettings
from .hooks import HOOK_NAMES, HookConfig, HooksSettings
from .jwt import JWTSettings
from .mailer import DEFAULT_SUBJECTS, MAILER_TEMPLATE_KINDS, URL_PATH_KINDS, MailerSettings
from .mfa import MFASettings
from .password import PasswordSettings
from .rate_limit import RateLimitSettings
from .security import SecuritySettings
from .sessions import SessionsSettings
from .sms import SMSSettings
from .smtp import SMTPSettings
from .webhook import WebhookSettings

__all__ = [
    "APISettings", "ConsoleSettings", "DBSettings", "DEFAULT_SUBJECTS", "EXTERNAL_PROVIDERS",
    "EmailProviderSettings", "ExternalSettings", "HOOK_NAMES", "HookConfig", "HooksSettings",
    "JWTSettings", "MAILER_TEMPLATE_KINDS", "MFASettings", "MailerSettings", "PREFIX",
    "PasswordSettings", "RateLimitSettings", "SMSSettings", "SMTPSettings", "SecuritySettings",
    "SessionsSettings", "Settings", "SettingsError", "URL_PATH_KINDS", "WebhookSettings",
    "from_env", "normalize_database_url", "parse_required_characters", "validate",
]


@dataclass(frozen=True)
class Settings:
    site_url: str = ""
    uri_allow_list: tuple[str, ...] = ()
    disable_signup: bool = False
    log_level: str = "info"
    api: APISettings = field(default_factory=APISettings)
    db: DBSettings = field(default_factory=DBSettings)
    jwt: JWTSettings = field(default_factory=JWTSettings)
    external: ExternalSettings = field(default_factory=ExternalSettings)
    mailer: MailerSettings = field(default_factory=MailerSettings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    sms: SMSSettings = field(default_factory=SMSSettings)
    mfa: MFASettings = field(default_factory=MFASettings)
    password: PasswordSettings = field(default_factory=PasswordSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    captcha: CaptchaSettings = field(default_factory=CaptchaSettings)
    sessions: SessionsSettings = field(default_factory=SessionsSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    hooks: HooksSettings = field(default_factory=HooksSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)

    def replace(self, **changes) -> "Settings":
        """A copy with top-level fields or dotted group fields (``"jwt.exp"``) changed."""
        grouped: dict[str, dict] = {}
        top: dict = {}
        for key, value in changes.items():
            group, _, name = key.partition("__") if "__" in key else key.partition(".")
            if name:
                grouped.setdefault(group, {})[name] = value
            else:
                top[key] = value
        for group, values in grouped.items():
            top[group] = dataclasses.replace(getattr(self, group), **values)
        return dataclasses.replace(self, **top)


# Each Settings group and the module that reads (and checks) it, in the order validate()
# checks them.
GROUPS = {
    "smtp": smtp, "api": api, "jwt": jwt, "db": db, "external": external, "mailer": mailer,
    "sms": sms, "mfa": mfa, "password": password, "security": security, "sessions": sessions,
    "rate_limit": rate_limit, "console": console, "captcha": captcha, "hooks": hooks,
    "webhook": webhook,
}


def from_env(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = ".env",
             ) -> Settings:
    """Build and validate Settings from the environment and an optional .env file.

    Real environment variables win over the file (as godotenv.Load does for GoTrue).
    """
    values: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    env = EnvReader(values)
    settings = Settings(
        site_url=env.str("SITE_URL"),
        uri_allow_list=env.list("URI_ALLOW_LIST", keep_braces=True),
        disable_signup=env.bool("DISABLE_SIGNUP", False),
        log_level=env.str("LOG_LEVEL", "info").lower(),
        **{name: module.read(env) for name, module in GROUPS.items()},
    )
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Fail start-up with an error that names the variable at fault."""
    if not settings.site_url:
        raise SettingsError("GOTRUE_SITE_URL: required")
    check_url("GOTRUE_SITE_URL", settings.site_url, http_only=False)
    for pattern in settings.uri_allow_list:
        try:
            glob_pattern(pattern)
        except ValueError as exc:
            raise SettingsError(f"GOTRUE_URI_ALLOW_LIST: {pattern!r}: {exc}") from None
    _check_pg_hooks(settings)
    for name, module in GROUPS.items():
        check = getattr(module, "check", None)
        if check is not None:
            check(getattr(settings, name))


def _check_pg_hooks(settings: Settings) -> None:
    """pg-functions:// hooks run SQL functions, which only PostgreSQL has."""
    url = settings.db.url or ""
    if url.startswith(("postgres://", "postgresql")):
        return
    for name in HOOK_NAMES:
        config = settings.hooks.get(name)
        if config.enabled and config.is_pg_function:
            raise SettingsError(
                f"GOTRUE_HOOK_{name.upper()}_URI: pg-functions:// hooks need PostgreSQL; "
                "this server's database is not (use an https:// hook)")
