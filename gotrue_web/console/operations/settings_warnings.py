"""The settings page's warnings: risky values flagged with why they are risky and which
variable to change. Pure functions of Settings (no I/O)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from ...security.redirects import glob_pattern
from ...settings import Settings
from .settings_report import go_duration, without_credentials

MIN_JWT_SECRET_BYTES = 32
MAX_SAFE_REUSE_INTERVAL = 60
MAX_SAFE_JWT_EXP = 24 * 3600
MAX_SAFE_EMAIL_OTP_EXP = 3600
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class SettingWarning:
    # "danger" (fix before going live), "warn" or "info".
    level: str
    title: str
    why: str
    variables: tuple[str, ...]


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


def _rate_limit_storage(settings: Settings, public: bool,
                        storage_answers: bool) -> list[SettingWarning]:
    """The counter storage: down (limits let everything through, email budgets refuse), or
    memory:// (one process's counts, which several workers multiply)."""
    url = settings.rate_limit.storage_url
    if not storage_answers:
        where = without_credentials(url) if url else "The shared SQLite counter file"
        limits = settings.rate_limit
        emails = (" and the per-client and per-address email budgets refuse every email"
                  if limits.email_sent_per_client > 0 or limits.email_sent_per_address > 0
                  else "")
        return [SettingWarning(
            "danger", "The rate-limit counter storage does not answer",
            f"{where} cannot be reached: request limits are letting every request through "
            f"(password and code guessing included){emails} until it answers. The Rate "
            "limits page shows its state.", ("GOTRUE_RATE_LIMIT_STORAGE_URL",))]
    if url.startswith("memory:"):
        return [SettingWarning(
            "warn" if public else "info", "Rate limits are counted in one process only",
            "GOTRUE_RATE_LIMIT_STORAGE_URL is memory://: each worker counts on its own, so "
            "several workers multiply every limit, and a restart forgets every count. Use a "
            "redis:// URL, or leave it unset for a file every worker of this server shares.",
            ("GOTRUE_RATE_LIMIT_STORAGE_URL",))]
    return []


def warnings(settings: Settings, *, storage_answers: bool = True) -> list[SettingWarning]:
    """Risky values, most serious first; each says why and which variable to change.

    ``storage_answers``: whether the rate-limit counter storage answered just now.
    """
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
    security = settings.security
    if (security.refresh_token_algorithm_version == 2 and security.refresh_token_rotation_enabled
            and not security.refresh_token_reuse_interval
            and not security.refresh_token_allow_reuse):
        found.append(SettingWarning(
            "warn", "Signed refresh tokens without a reuse interval",
            "Two tabs or devices refreshing the same token at the same moment end their session "
            "(the slower one counts as reuse); a few seconds of reuse interval prevent it.",
            ("GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION",
             "GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL")))
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
    captcha = settings.captcha
    if (captcha.enabled and captcha.verify_url.lower().startswith("http://")
            and not is_local_url(captcha.verify_url)):
        found.append(SettingWarning(
            "warn", "The captcha secret is sent over plain HTTP",
            f"Captcha tokens are checked at {captcha.verify_url}, so the secret and every "
            "token can be read on the way. Use an https URL.",
            ("GOTRUE_SECURITY_CAPTCHA_URL",)))
    found += _rate_limit_storage(settings, public, storage_answers)
    order = {"danger": 0, "warn": 1, "info": 2}
    return sorted(found, key=lambda warning: order[warning.level])
