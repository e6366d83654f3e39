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
import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import sqlalchemy as sa

from ...security.redirects import glob_pattern
from ...settings import DEFAULT_SUBJECTS, Settings

SECRET_NAME = re.compile(r"secret|pass|key|token|private", re.I)
# Named like secrets but public by nature: a kid travels in every token's header.
PUBLIC_NAMES = frozenset({"jwt.key_id"})
MIN_JWT_SECRET_BYTES = 32
MAX_SAFE_REUSE_INTERVAL = 60
MAX_SAFE_JWT_EXP = 24 * 3600
MAX_SAFE_EMAIL_OTP_EXP = 3600

_GROUPS = (
    ("general", "General"),
    ("api", "API"),
    ("db", "Database"),
    ("jwt", "JSON Web Tokens"),
    ("external", "Sign-in providers"),
    ("mailer", "Emails"),
    ("smtp", "SMTP"),
    ("sms", "SMS"),
    ("password", "Passwords"),
    ("security", "Security"),
    ("sessions", "Sessions"),
    ("rate_limit", "Rate limits"),
    ("console", "Operator console"),
)
# Where a setting comes from when it is not GOTRUE_ + the dotted path in capitals; "" means
# it is fixed (no variable).
_VARIABLES = {
    "api.port": "GOTRUE_API_PORT or PORT",
    "api.external_url": "API_EXTERNAL_URL",
    "api.max_request_bytes": "",
    "db.url": "DATABASE_URL or GOTRUE_DB_DATABASE_URL",
    "db.namespace": "DB_NAMESPACE",
    "db.pool_size": "GOTRUE_DB_MAX_POOL_SIZE",
    "db.max_overflow": "",
    "external.providers": "GOTRUE_EXTERNAL_<PROVIDER>_ENABLED",
    "external.flow_state_expiry": "GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION",
    "smtp.password": "GOTRUE_SMTP_PASS",
    "smtp.timeout": "",
    "password.bcrypt_cost": "",
    "console.max_age": "GOTRUE_CONSOLE_SESSION_MAX_AGE",
}
_MAPPING_VARIABLES = {"mailer.url_paths": "GOTRUE_MAILER_URLPATHS_"}
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


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


@dataclass(frozen=True)
class SettingWarning:
    # "danger" (fix before going live), "warn" or "info".
    level: str
    title: str
    why: str
    variables: tuple[str, ...]


# --- values ----------------------------------------------------------------------------------


def variable_of(path: str) -> str:
    """The environment variable behind a dotted settings path such as "smtp.host"."""
    if path in _VARIABLES:
        return _VARIABLES[path]
    for prefix, variable in _MAPPING_VARIABLES.items():
        if path.startswith(prefix + "."):
            return variable + path[len(prefix) + 1:].upper()
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
    if path == "external.providers":
        enabled = sorted(provider for provider, on in value.items() if on)
        return [SettingRow(path, ", ".join(enabled) if enabled else "none", variable_of(path),
                           default=not enabled)]
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
    return [SettingGroup(key, title, tuple(by_group.get(key, ()))) for key, title in _GROUPS]


# --- warnings ----------------------------------------------------------------------------------


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, *.localhost or a loopback address)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Redirect targets an allow-list entry must never accept: other sites and script URLs.
_FOREIGN_TARGETS = (
    "https://attacker", "https://attacker.example", "https://attacker.example/",
    "https://attacker.example/callback", "http://attacker.example/callback",
    "https://a.b.attacker.example/x/y", "javascript:alert(1)", "data:text/html,x",
)


# Schemes that run script or carry content instead of going to a site.
_SCRIPT_SCHEMES = ("javascript", "data", "vbscript")
_WILDCARD = re.compile(r"[*?\[\]{}]")
# A port part, wildcards allowed (http://localhost:*/ is a local choice, not a foreign host).
_PORT_PART = re.compile(r":[0-9*?\[\]{},!-]*\Z")
# {a,b} alternatives without wildcards name fixed hosts: any one stands for the shape.
_FIXED_ALTERNATIVES = re.compile(r"\{([^{}*?\[\]]*)\}")


def _matches(glob: str, text: str) -> bool:
    try:
        return bool(glob_pattern(glob).match(text))
    except ValueError:
        return False


def _open_host(pattern: str) -> bool:
    """Whether the host part of a scheme://host/... glob lets a wildcard decide the site:
    "**" (it crosses into the path, so https://attacker.example/.example.com/ matches), a
    wildcard glued to the domain ("*example.com" takes attackerexample.com), or one in the
    last two labels ("*.com", "example.*"). Wildcards in whole labels below a fixed domain
    ("*.example.com", "app-*.example.com") stay on that domain."""
    scheme, separator, rest = pattern.partition("://")
    if not separator:
        return False
    if _WILDCARD.search(scheme) and any(_matches(scheme, name) for name in _SCRIPT_SCHEMES):
        return True
    host = _PORT_PART.sub("", rest.split("/", 1)[0])
    host = _FIXED_ALTERNATIVES.sub(lambda found: found.group(1).split(",")[0], host)
    if "**" in host:
        return True
    last = max((found.end() for found in _WILDCARD.finditer(host)), default=None)
    if last is None:
        return False
    fixed_domain = host[last:]
    return not (fixed_domain.startswith(".") and fixed_domain.count(".") >= 2)


def too_broad(pattern: str) -> bool:
    """Whether an allow-list glob accepts redirects to hosts nobody chose (or script URLs)."""
    if pattern.strip() in ("*", "**"):
        return True
    if _open_host(pattern.strip()):
        return True
    return any(_matches(pattern, target) for target in _FOREIGN_TARGETS)


def warnings(settings: Settings) -> list[SettingWarning]:
    """Risky values, most serious first; each says why and which variable to change."""
    found: list[SettingWarning] = []
    public = not (is_local_url(settings.site_url) and is_local_url(settings.api.external_url))

    if settings.mailer.autoconfirm and public:
        found.append(SettingWarning(
            "danger", "Email addresses are confirmed without a check",
            "GOTRUE_MAILER_AUTOCONFIRM is on while the site is not on localhost: anyone can "
            "sign up with someone else's address and use it at once.",
            ("GOTRUE_MAILER_AUTOCONFIRM",)))
    if settings.sms.autoconfirm and settings.external.phone_enabled and public:
        found.append(SettingWarning(
            "danger", "Phone numbers are confirmed without a check",
            "GOTRUE_SMS_AUTOCONFIRM is on with phone sign-up enabled: numbers are never "
            "proven to belong to the user.", ("GOTRUE_SMS_AUTOCONFIRM",)))
    secret_size = len(settings.jwt.secret.encode())
    if secret_size < MIN_JWT_SECRET_BYTES:
        found.append(SettingWarning(
            "danger", "The JWT secret is short",
            f"It is {secret_size} bytes; HS256 tokens signed with fewer than "
            f"{MIN_JWT_SECRET_BYTES} random bytes can be forged by guessing the secret offline "
            "from any token. Use a long random value (e.g. openssl rand -base64 48).",
            ("GOTRUE_JWT_SECRET",)))
    for pattern in settings.uri_allow_list:
        if too_broad(pattern):
            found.append(SettingWarning(
                "danger", f"The redirect allow-list entry {pattern!r} is too broad",
                "It accepts redirects to sites you do not control, so sign-in links and "
                "OAuth codes can be sent to an attacker. List your own URLs (wildcards only "
                "in the path or below your own domain).", ("GOTRUE_URI_ALLOW_LIST",)))
    if not settings.smtp.host:
        found.append(SettingWarning(
            "warn" if settings.mailer.autoconfirm else "danger", "Mail is not sent",
            "GOTRUE_SMTP_HOST is empty, so confirmation, invite, magic link and recovery "
            "emails are dropped (the mail log records them as not sent)"
            + ("" if settings.mailer.autoconfirm
               else ", and new users can never confirm their address") + ".",
            ("GOTRUE_SMTP_HOST", "GOTRUE_SMTP_PORT", "GOTRUE_SMTP_USER", "GOTRUE_SMTP_PASS",
             "GOTRUE_SMTP_ADMIN_EMAIL")))
    if not settings.security.refresh_token_rotation_enabled:
        found.append(SettingWarning(
            "warn", "Refresh tokens are not rotated",
            "A stolen refresh token stays usable until its session ends, and reuse cannot be "
            "detected.", ("GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED",)))
    if settings.security.refresh_token_reuse_interval > MAX_SAFE_REUSE_INTERVAL:
        found.append(SettingWarning(
            "warn", "The refresh token reuse interval is long",
            f"An old refresh token is accepted again for "
            f"{settings.security.refresh_token_reuse_interval} seconds after rotation; a few "
            f"seconds cover concurrent refreshes (at most {MAX_SAFE_REUSE_INTERVAL}).",
            ("GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL",)))
    if settings.security.refresh_token_allow_reuse:
        found.append(SettingWarning(
            "warn", "Refresh token reuse is allowed",
            "A refresh token that was already used does not revoke its session, so theft "
            "goes unnoticed.", ("GOTRUE_SECURITY_REFRESH_TOKEN_ALLOW_REUSE",)))
    if settings.password.min_length < 8:
        found.append(SettingWarning(
            "warn", "Passwords may be shorter than 8 characters",
            f"The minimum is {settings.password.min_length}; NIST SP 800-63B and OWASP ASVS "
            "ask for at least 8 (12 or more is better).", ("GOTRUE_PASSWORD_MIN_LENGTH",)))
    if not settings.api.external_url.lower().startswith("https://"):
        local = is_local_url(settings.api.external_url)
        found.append(SettingWarning(
            "info" if local else "warn", "The console cookie is not Secure",
            "API_EXTERNAL_URL is not https, so the console's session cookie may travel over "
            "plain HTTP" + (" (fine on localhost, not in production)." if local else
                            ", where anyone on the path can take over an operator's session."),
            ("API_EXTERNAL_URL",)))
    if settings.external.anonymous_users_enabled and not settings.disable_signup:
        found.append(SettingWarning(
            "warn", "Anyone can create anonymous users",
            "Anonymous sign-ins are on and sign-up is open: each anonymous sign-in adds a user "
            "row, limited only by GOTRUE_RATE_LIMIT_ANONYMOUS_USERS per IP.",
            ("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", "GOTRUE_DISABLE_SIGNUP")))
    if public and not settings.site_url.lower().startswith("https://"):
        found.append(SettingWarning(
            "warn", "The site URL is not https",
            "Links in emails and redirects after sign-in go to a plain HTTP address, where "
            "tokens in the URL can be read on the way.", ("GOTRUE_SITE_URL",)))
    if settings.jwt.exp > MAX_SAFE_JWT_EXP:
        found.append(SettingWarning(
            "warn", "Access tokens live long",
            f"They are valid for {settings.jwt.exp} seconds and cannot be revoked before "
            "they expire (sign-out and bans wait for it); an hour is the usual value.",
            ("GOTRUE_JWT_EXP",)))
    allowed, _, _ = settings.rate_limit.email_sent.partition("/")
    try:
        no_email = float(allowed) <= 0
    except ValueError:
        no_email = False
    if no_email:
        found.append(SettingWarning(
            "warn", "No email may be sent",
            "GOTRUE_RATE_LIMIT_EMAIL_SENT is 0: every email is refused with 429.",
            ("GOTRUE_RATE_LIMIT_EMAIL_SENT",)))
    if settings.mailer.otp_exp > MAX_SAFE_EMAIL_OTP_EXP:
        found.append(SettingWarning(
            "info", "Email codes and links stay valid long",
            f"They are valid for {go_duration(timedelta(seconds=settings.mailer.otp_exp))}; "
            "a leaked or forwarded email stays usable that long (OWASP suggests minutes).",
            ("GOTRUE_MAILER_OTP_EXP",)))
    order = {"danger": 0, "warn": 1, "info": 2}
    return sorted(found, key=lambda warning: order[warning.level])
