"""Configuration, read once at start-up from GoTrue's own environment variables.

An existing GoTrue env file means the same thing here: every variable keeps its GoTrue name
(``GOTRUE_`` prefix; ``DATABASE_URL``, ``API_EXTERNAL_URL``, ``PORT`` and ``DB_NAMESPACE`` also
without it) and its GoTrue default, including GoTrue's habit of reading 0 as "use the default" for
some numbers. Nothing outside this package reads ``os.environ``.

Settings are groups, as GoTrue's configuration is: each group is one module here with a frozen
dataclass, a ``read(env)`` and, where values can be wrong together, a ``check(group)``. A new
feature adds a module and one line each in Settings and GROUPS (the console's settings page
lists every group; console.operations.settings_report gives it a title), and its variables to
settings/catalogue (tests/settings/test_catalogue_agreement.py fails until it does; then
``python -m gotrue_web.settings.catalogue --write`` updates the README).
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
    metrics,
    mfa,
    oauth_server,
    passkeys,
    password,
    rate_limit,
    saml,
    security,
    sessions,
    sms,
    smtp,
    tracing,
    web3,
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
from .metrics import MetricsSettings
from .mfa import MFASettings
from .oauth_server import OAuthServerSettings
from .passkeys import PasskeySettings
from .passkeys.webauthn import WebAuthnSettings
from .password import PasswordSettings
from .rate_limit import RateLimitSettings
from .saml import SAMLSettings
from .security import SecuritySettings
from .sessions import SessionsSettings
from .sms import SMSSettings
from .smtp import SMTPSettings
from .tracing import TracingSettings
from .web3 import Web3Settings
from .webhook import WebhookSettings

__all__ = [
    "APISettings", "ConsoleSettings", "DBSettings", "DEFAULT_SUBJECTS", "EXTERNAL_PROVIDERS",
    "EmailProviderSettings", "ExternalSettings", "HOOK_NAMES", "HookConfig", "HooksSettings",
    "JWTSettings", "MAILER_TEMPLATE_KINDS", "MFASettings", "MailerSettings", "MetricsSettings",
    "OAuthServerSettings",
    "PREFIX",
    "PasskeySettings", "PasswordSettings", "RateLimitSettings", "SAMLSettings", "SMSSettings",
    "SMTPSettings",
    "SecuritySettings",
    "SessionsSettings", "Settings", "SettingsError", "TracingSettings", "URL_PATH_KINDS",
    "Web3Settings", "WebAuthnSettings", "WebhookSettings",
    "environment_values", "from_env", "normalize_database_url", "parse_required_characters",
    "read", "validate", "variable_origin",
]


@dataclass(frozen=True)
class Settings:
    site_url: str = ""
    uri_allow_list: tuple[str, ...] = ()
    disable_signup: bool = False
    log_level: str = "info"
    # GOTRUE_LOG_FILE: the JSON log goes to this file instead of stdout and stderr.
    log_file: str = ""
    # GOTRUE_STRICT_CONFIG: a variable set but not honoured stops start-up instead of a warning.
    strict_config: bool = False
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
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    saml: SAMLSettings = field(default_factory=SAMLSettings)
    oauth_server: OAuthServerSettings = field(default_factory=OAuthServerSettings)
    web3: Web3Settings = field(default_factory=Web3Settings)
    passkeys: PasskeySettings = field(default_factory=PasskeySettings)
    webauthn: WebAuthnSettings = field(default_factory=WebAuthnSettings)

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
    "webhook": webhook, "metrics": metrics, "tracing": tracing, "saml": saml,
    "oauth_server": oauth_server, "web3": web3, "passkeys": passkeys,
    "webauthn": passkeys.webauthn,
}


def environment_values(environ: Mapping[str, str] | None = None,
                       env_file: str | os.PathLike | None = ".env") -> dict[str, str]:
    """The variables from_env() reads: the .env file's, then the environment's over them
    (real environment variables win, as godotenv.Load does for GoTrue)."""
    values: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def from_env(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = ".env",
             ) -> Settings:
    """Build and validate Settings from the environment and an optional .env file."""
    settings = read(EnvReader(environment_values(environ, env_file)))
    validate(settings)
    return settings


def read(env: EnvReader) -> Settings:
    """Settings from ``env``, not yet validated (every variable is looked up through ``env``,
    which records the names: see settings/catalogue)."""
    return Settings(
        site_url=env.str("SITE_URL"),
        uri_allow_list=env.list("URI_ALLOW_LIST", keep_braces=True),
        disable_signup=env.bool("DISABLE_SIGNUP", False),
        # Unprefixed LOG_LEVEL and LOG_FILE too, as the seed README names them.
        log_level=env.str("LOG_LEVEL", "info", "LOG_LEVEL").lower(),
        log_file=env.str("LOG_FILE", "", "LOG_FILE"),
        strict_config=env.bool("STRICT_CONFIG", False),
        **{name: module.read(env) for name, module in GROUPS.items()},
    )


def variable_origin(variable: str, environ: Mapping[str, str] | None = None,
                    env_file: str | os.PathLike | None = ".env") -> str:
    """Where from_env() finds ``variable``: "environment", ".env", or "" (unset: the default).

    The same precedence as from_env(): a real environment variable wins over the file."""
    values = os.environ if environ is None else environ
    if values.get(variable):
        return "environment"
    if env_file and Path(env_file).is_file() and dotenv_values(env_file).get(variable):
        return ".env"
    return ""


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
