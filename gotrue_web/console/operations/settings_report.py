"""The effective configuration as the console's settings page shows it: grouped, every secret
masked, and the risky values flagged with why they are risky and which variable to change.

Pure functions of Settings (no I/O). A secret is never part of the output: strings whose name
says secret, pass, key, token or private show only whether they are set and their length (the
JWT secret also a short SHA-256 fingerprint, to compare deployments; an HS256 token already
allows as much guessing as the fingerprint does); JWT keys show their public facts and an RFC
7638 thumbprint of the public half; the database URL loses its password.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import sqlalchemy as sa

from ...settings import DEFAULT_SUBJECTS, Settings, environment_values
from ...settings.mailer import NOTIFICATION_KINDS, template_variable

SECRET_NAME = re.compile(r"secret|pass|key|token|private", re.I)
# Named like secrets but public by nature: a kid travels in every token's header; the
# password-changed notification's subject and template URL are text like any other's.
PUBLIC_NAMES = frozenset({"jwt.key_id", "mailer.subjects.password_changed",
                          "mailer.templates.password_changed", "security.db_encryption.key_id"})

_GROUPS = (
    ("general", "General"),
    ("api", "API"),
    ("db", "Database"),
    ("jwt", "JSON Web Tokens"),
    ("external", "Sign-in providers"),
    ("mailer", "Emails"),
    ("smtp", "SMTP"),
    ("sms", "SMS"),
    ("mfa", "Multi-factor authentication"),
    ("password", "Passwords"),
    ("security", "Security"),
    ("captcha", "Captcha"),
    ("sessions", "Sessions"),
    ("rate_limit", "Rate limits"),
    ("console", "Operator console"),
    ("hooks", "Auth hooks"),
    ("webhook", "Legacy webhook"),
    ("metrics", "Metrics"),
    ("tracing", "Tracing"),
    ("saml", "SAML SSO"),
    ("oauth_server", "OAuth 2.1 server"),
    ("web3", "Web3 sign-in"),
)
# Where a setting comes from when it is not GOTRUE_ + the dotted path in capitals; "" means
# it is fixed (no variable).
_VARIABLES = {
    "api.port": "GOTRUE_API_PORT or PORT",
    "api.external_url": "API_EXTERNAL_URL",
    "api.max_request_bytes": "",
    "external.custom_oauth_enabled": "GOTRUE_CUSTOM_OAUTH_ENABLED",
    "external.custom_oauth_max_providers": "GOTRUE_CUSTOM_OAUTH_MAX_PROVIDERS",
    "external.custom_oauth_external_url": "GOTRUE_CUSTOM_OAUTH_EXTERNAL_URL",
    "external.custom_oauth_allow_private_urls": "",
    "mfa.challenge_expiry": "GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION",
    "mfa.factor_expiry": "GOTRUE_MFA_FACTOR_EXPIRY_DURATION",
    "rate_limit.mfa_challenge_and_verify": "GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY",
    "rate_limit.saml_assertion": "GOTRUE_SAML_RATE_LIMIT_ASSERTION",
    "saml.allow_http_metadata_urls": "",
    "rate_limit.oauth_client_register": ("GOTRUE_RATE_LIMIT_OAUTH_DYNAMIC_CLIENT_REGISTER or "
                                         "GOTRUE_RATE_LIMIT_O_AUTH_DYNAMIC_CLIENT_REGISTER"),
    "security.create_email_identity_on_password_set": (
        "GOTRUE_EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED"),
    "security.db_encryption.key_id": "GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY_ID",
    "security.db_encryption.keys": ("GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY and "
                                    "_DECRYPTION_KEYS"),
    "webhook.url": "GOTRUE_WEBHOOK_URL or WEBHOOK_URL",
    "webhook.secret": "GOTRUE_WEBHOOK_SECRET or WEBHOOK_SECRET",
    "webhook.retries": "GOTRUE_WEBHOOK_RETRIES or WEBHOOK_RETRIES",
    "webhook.timeout": "GOTRUE_WEBHOOK_TIMEOUT_SEC or WEBHOOK_TIMEOUT_SEC",
    "webhook.events": "GOTRUE_WEBHOOK_EVENTS or WEBHOOK_EVENTS",
    "db.url": "DATABASE_URL or GOTRUE_DB_DATABASE_URL",
    "db.namespace": "DB_NAMESPACE",
    "db.pool_size": "GOTRUE_DB_MAX_POOL_SIZE",
    "db.max_overflow": "",
    "external.providers": "GOTRUE_EXTERNAL_<PROVIDER>_ENABLED",
    "external.flow_state_expiry": "GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION",
    "external.http_timeout": "GOTRUE_INTERNAL_HTTP_TIMEOUT",
    "external.allow_unverified_email_sign_ins": "GOTRUE_MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS",
    "external.linking_domains": "GOTRUE_EXPERIMENTAL_PROVIDER_LINKING_DOMAINS",
    "smtp.password": "GOTRUE_SMTP_PASS",
    "smtp.timeout": "",
    "password.bcrypt_cost": "",
    "console.max_age": "GOTRUE_CONSOLE_SESSION_MAX_AGE",
    "sms.vonage.from_": "GOTRUE_SMS_VONAGE_FROM",
    "sms.test_otp": "GOTRUE_SMS_TEST_OTP",
    "tracing.enabled": "GOTRUE_TRACING_ENABLED or TRACING_ENABLED",
    "tracing.service_name": "OTEL_SERVICE_NAME, GOTRUE_TRACING_SERVICE_NAME or SERVICE_NAME",
    "tracing.endpoint": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT or "
                         "GOTRUE_TRACING_HOST and _PORT"),
    "tracing.resource_attributes": "OTEL_RESOURCE_ATTRIBUTES or GOTRUE_TRACING_TAGS",
}
# A notification's subject and template end in _NOTIFICATION (GOTRUE_MAILER_SUBJECTS_<KIND>_...).
_VARIABLES.update({f"mailer.{part.lower()}.{kind}": template_variable(kind, part)
                   for kind in NOTIFICATION_KINDS for part in ("SUBJECTS", "TEMPLATES")})
_MAPPING_VARIABLES = {"mailer.url_paths": "GOTRUE_MAILER_URLPATHS_"}
# Groups whose variables are not GOTRUE_ + the group name (GoTrue nests captcha in security,
# and Web3 in external).
_GROUP_PREFIXES = {"captcha": "GOTRUE_SECURITY_CAPTCHA_", "web3": "GOTRUE_EXTERNAL_WEB3_"}


def _mapping_default(path: str, key: str):
    # What from_env fills in when the variable is unset.
    if path == "mailer.url_paths":
        return "/verify"
    if path == "mailer.subjects":
        return DEFAULT_SUBJECTS.get(key)
    return None


@dataclass(frozen=True)
class SettingRow:
    name: str
    value: str
    # The environment variable that sets it ("" when it cannot be configured).
    variable: str
    masked: bool = False
    default: bool = False


@dataclass(frozen=True)
class SettingGroup:
    key: str
    title: str
    rows: tuple[SettingRow, ...]


# --- values ----------------------------------------------------------------------------------


def variable_of(path: str) -> str:
    """The environment variable behind a dotted settings path such as "smtp.host"."""
    if path in _VARIABLES:
        return _VARIABLES[path]
    for prefix, variable in _MAPPING_VARIABLES.items():
        if path.startswith(prefix + "."):
            return variable + path[len(prefix) + 1:].upper()
    group, _, name = path.partition(".")
    if group in _GROUP_PREFIXES and name:
        return _GROUP_PREFIXES[group] + name.replace(".", "_").upper()
    return "GOTRUE_" + path.replace(".", "_").upper()


def go_duration(value: timedelta) -> str:
    """"1h30m", "45s", "0s": how GoTrue's variables write durations."""
    total = int(value.total_seconds())
    if total == 0 and value.microseconds:
        return f"{value.microseconds // 1000}ms"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{seconds}s" if seconds or not (hours or minutes) else ""]
    return "".join(parts)


def without_credentials(text: str) -> str:
    """``text`` with what a URL may carry of a secret hidden: the password of its user part
    and the values of password-like query parameters. Anything else comes back unchanged."""
    try:
        parts = urlsplit(text)
        has_password = parts.password is not None
    except ValueError:
        return text
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if has_password:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = "&".join(
        f"{name}=***" if SECRET_NAME.search(unquote(name)) and sep else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&")))
    return urlunsplit(parts._replace(netloc=netloc, query=query if parts.query else ""))


def _plain(value) -> str:
    if value is None or value == "":
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, timedelta):
        return go_duration(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (tuple, list)):
        return ", ".join(without_credentials(str(item)) for item in value) if value else "none"
    return without_credentials(str(value))


def masked(value: str, *, fingerprint: bool = False) -> str:
    """What the page shows of a secret: whether it is set, its length, maybe a fingerprint."""
    if not value:
        return "not set"
    size = len(value.encode())
    text = f"set, {size} bytes"
    if fingerprint:
        text += ", sha256 " + hashlib.sha256(value.encode()).hexdigest()[:8]
    return text


def _b64_length(value: object) -> int:
    if not isinstance(value, str):
        return 0
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return 0


_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                       "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk: Mapping) -> str:
    """RFC 7638 SHA-256 thumbprint of a key's public members ("" for symmetric keys)."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if not members or any(name not in jwk for name in members):
        return ""
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def describe_jwk(jwk: Mapping) -> str:
    """A key's public facts: algorithm, type, operations and thumbprint (never its secrets)."""
    kty = str(jwk.get("kty", "?"))
    parts = [str(jwk.get("alg") or ""), kty, "/".join(str(op) for op in jwk.get("key_ops") or ())]
    if kty == "oct":
        parts.append(f"shared secret, {_b64_length(jwk.get('k'))} bytes")
    else:
        thumbprint = jwk_thumbprint(jwk)
        parts.append(f"thumbprint {thumbprint}" if thumbprint else "")
    return ", ".join(part for part in parts if part)


def masked_database_url(url: str | None) -> str:
    """The database URL without its password (nor password-like query parameters)."""
    if not url:
        return "not set (SQLite file in the instance folder)"
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return "set (not shown: it could not be parsed to hide its password)"
    # Password-like query parameters (libpq's password=...) are hidden as well.
    query = "&".join(
        f"{name}={'***' if SECRET_NAME.search(name) else value}"
        for name, values in parsed.query.items()
        for value in ((values,) if isinstance(values, str) else values))
    text = parsed.set(query={}).render_as_string(hide_password=True)
    return text + ("?" + query if query else "")


# --- groups ------------------------------------------------------------------------------------


def _rows_of(path: str, value, default) -> list[SettingRow]:
    name = path.rsplit(".", 1)[-1]
    if path == "jwt.keys":
        if not value:
            return [SettingRow(path, "none (HS256 with GOTRUE_JWT_SECRET)", variable_of(path),
                               default=True)]
        return [SettingRow(f"jwt.keys[{jwk.get('kid', '?')}]", describe_jwk(jwk),
                           variable_of(path), masked=True) for jwk in value]
    if path == "db.url":
        return [SettingRow(path, masked_database_url(value), variable_of(path), masked=True,
                           default=value == default)]
    if path == "captcha":
        return _captcha_rows(value, default)
    if path == "rate_limit":
        return _rate_limit_rows(value, default)
    if path == "external.providers":
        enabled = sorted(provider for provider, on in value.items() if on)
        return [SettingRow(path, ", ".join(enabled) if enabled else "none", variable_of(path),
                           default=not enabled)]
    if path == "external.oauth":
        return _oauth_rows(value)
    if path == "sms.test_otp":
        # Test codes sign anyone in as those numbers: the numbers are shown, the codes not.
        text = ", ".join(f"{phone}=***" for phone in sorted(value)) or "none"
        return [SettingRow(path, text, variable_of(path), masked=bool(value),
                           default=not value)]
    if path == "smtp.headers":
        text = "; ".join(f"{header}: {', '.join(values)}" for header, values in value) or "none"
        return [SettingRow(path, without_credentials(text), variable_of(path),
                           default=not value)]
    if path == "security.db_encryption.keys":
        # The ids only: the keys open every encrypted secret.
        text = ", ".join(f"{key_id}=***" for key_id, _ in value) or "none"
        return [SettingRow(path, text, variable_of(path), masked=bool(value),
                           default=not value)]
    if path == "external.linking_domains":
        text = ", ".join(f"{p}={d}" for p, d in sorted(value.items())) or "none"
        return [SettingRow(path, text, variable_of(path), default=not value)]
    if dataclasses.is_dataclass(value):
        rows = []
        for item in dataclasses.fields(value):
            rows += _rows_of(f"{path}.{item.name}", getattr(value, item.name),
                             getattr(default, item.name))
        return rows
    if isinstance(value, Mapping):
        return [row for key in sorted(value)
                for row in _rows_of(f"{path}.{key}", value[key], _mapping_default(path, key))]
    if isinstance(value, str) and SECRET_NAME.search(name) and path not in PUBLIC_NAMES:
        text = str(value or "")
        return [SettingRow(path, masked(text, fingerprint=path == "jwt.secret"),
                           variable_of(path), masked=True, default=value == default)]
    text = _plain(value)
    # A URL that carried a password is shown masked, like the named secrets.
    return [SettingRow(path, text, variable_of(path), masked="***" in text
                       and "***" not in str(value), default=value == default)]


def _oauth_rows(providers) -> list[SettingRow]:
    """GOTRUE_EXTERNAL_<P>_* of the providers that have anything set; the secret masked."""
    rows = []
    for name in sorted(providers):
        config = providers[name]
        unset = type(config)()
        if config == unset:
            continue
        prefix = f"GOTRUE_EXTERNAL_{name.upper()}_"
        for item in dataclasses.fields(config):
            value = getattr(config, item.name)
            secret = item.name == "secret"
            rows.append(SettingRow(
                f"external.oauth.{name}.{item.name}", masked(value) if secret else _plain(value),
                prefix + ("CLIENT_ID" if item.name == "client_ids" else item.name.upper()),
                masked=secret, default=value == getattr(unset, item.name)))
    return rows


def _captcha_rows(captcha, default) -> list[SettingRow]:
    """The captcha group, showing the endpoint tokens are really checked at (the provider's,
    or its path on GOTRUE_SECURITY_CAPTCHA_URL's host) instead of the bare override."""
    rows = [row for item in dataclasses.fields(captcha) if item.name != "url"
            for row in _rows_of(f"captcha.{item.name}", getattr(captcha, item.name),
                                getattr(default, item.name))]
    rows.append(SettingRow("captcha.verify_url", without_credentials(captcha.verify_url),
                           variable_of("captcha.url") + " (scheme and host)",
                           default=not captcha.url))
    return rows


def _storage_note(url: str) -> str:
    if not url:
        return "not set: a SQLite file shared by every worker of this server"
    if url.startswith("memory:"):
        return f"{url}: this process only (not for several workers)"
    if url.startswith("sqlite:"):
        return f"{url}: shared by every worker of this server"
    return f"{without_credentials(url)}: shared by every server using it"


def _rate_limit_rows(rate_limit, default) -> list[SettingRow]:
    """The rate limit group, saying who a client is and where the counters live: the limits
    apply whether or not these two are set."""
    header = rate_limit.header
    notes = {
        "rate_limit.header": (f"{header}: per-client limits count its first value (else the "
                              "client address)" if header
                              else "not set: per-client limits count the client address"),
        "rate_limit.storage_url": _storage_note(rate_limit.storage_url),
    }
    rows = [row for item in dataclasses.fields(rate_limit)
            for row in _rows_of(f"rate_limit.{item.name}", getattr(rate_limit, item.name),
                                getattr(default, item.name))]
    return [dataclasses.replace(row, value=notes[row.name]) if row.name in notes else row
            for row in rows]


def groups(settings: Settings) -> list[SettingGroup]:
    """Every setting, grouped as on the page, secrets masked."""
    defaults = Settings()
    general: list[SettingRow] = []
    by_group: dict[str, list[SettingRow]] = {}
    for item in dataclasses.fields(settings):
        value, default = getattr(settings, item.name), getattr(defaults, item.name)
        if dataclasses.is_dataclass(value):
            by_group[item.name] = _rows_of(item.name, value, default)
        else:
            general += _rows_of(item.name, value, default)
    by_group["general"] = general
    titles = dict(_GROUPS)
    # A group without a title here still shows, after the others, under its own name.
    titles.update({key: key.replace("_", " ").capitalize() for key in by_group
                   if key not in titles})
    return [SettingGroup(key, title, tuple(by_group.get(key, ()))) for key, title in titles.items()]


def origins(groups, environ=None, env_file=".env") -> dict[str, str]:
    """Where each row's variable was found: "environment", ".env" or "default" (not set), by
    variable as the rows name it ("A or B" for a variable with an older name). The .env file
    is read once."""
    environ = os.environ if environ is None else environ
    from_file = environment_values({}, env_file)
    found: dict[str, str] = {}
    for group in groups:
        for row in group.rows:
            if not row.variable or row.variable in found:
                continue
            names = [name.strip() for name in row.variable.split(" or ")]
            origin = "default"
            if any(environ.get(name) for name in names):
                origin = "environment"
            elif any(from_file.get(name) for name in names):
                origin = ".env"
            found[row.variable] = origin
    return found

