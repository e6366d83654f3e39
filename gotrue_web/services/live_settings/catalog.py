"""The settings an operator may change while the server runs, and how their values are read.

Each is named by its path in ``Settings`` (``rate_limit.verify``), which is also the name of its
``runtime_settings`` row. A value typed in the console is read by the very code that reads the
environment (the group's ``read`` on an EnvReader holding just that variable), then the whole
configuration with it is checked by ``settings.validate``: what the environment would refuse at
start-up is refused here, with the same message naming the variable.

Left out on purpose (RESTART_ONLY): what other objects are built from once, or what every
process must switch at the same instant (keys, the database, SMTP, the site URL).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from typing import Any, Callable

from ...settings import GROUPS, Settings, SettingsError, validate
from ...settings.env import EnvReader

# Longest text accepted for one value (an allow-list of a few hundred entries fits).
MAX_TEXT = 20_000


@dataclass(frozen=True)
class LiveSetting:
    path: str
    group: str
    label: str
    # switch (on/off), number (>= 0, fractions allowed), count (whole number >= 0),
    # budget ("N" or "N/duration") or list (the allow-list's entries).
    kind: str
    variable: str
    help: str

    @property
    def slug(self) -> str:
        """The path as an HTML id (a dot would read as a class in a CSS selector)."""
        return self.path.replace(".", "-")


def _switch(path, group, label, variable, help_text) -> LiveSetting:
    return LiveSetting(path, group, label, "switch", variable, help_text)


def _limit(path, label, variable, help_text, kind="number") -> LiveSetting:
    return LiveSetting(path, "rate_limits", label, kind, variable, help_text)


GROUP_TITLES = (
    ("redirects", "Redirect allow-list",
     "Where a flow may send the browser back to (redirect_to); anything else goes to "
     "GOTRUE_SITE_URL."),
    ("signup", "Sign-up and sign-in methods",
     "Who may create an account, and with what; GET /settings reports these to clients."),
    ("mfa", "Multi-factor authentication",
     "Which factor types users may enrol and verify, and how many they may have."),
    ("rate_limits", "Rate limits",
     "Requests and messages allowed per window. A changed limit counts afresh from the change."),
)

CATALOG: tuple[LiveSetting, ...] = (
    LiveSetting("uri_allow_list", "redirects", "Allowed redirect URLs", "list",
                "GOTRUE_URI_ALLOW_LIST",
                "One entry per line (or comma-separated). Globs: * stays within a host label or "
                "path segment, ** crosses them, {a,b} and [abc] as in GoTrue."),
    _switch("disable_signup", "signup", "Sign-ups disabled", "GOTRUE_DISABLE_SIGNUP",
            "On: POST /signup and every other way of creating an account answer 422 "
            "signup_disabled; existing users still sign in."),
    _switch("external.email.enabled", "signup", "Email sign-in", "GOTRUE_EXTERNAL_EMAIL_ENABLED",
            "Off: sign-up and sign-in with an email address are refused "
            "(email_provider_disabled)."),
    _switch("external.phone_enabled", "signup", "Phone sign-in", "GOTRUE_EXTERNAL_PHONE_ENABLED",
            "Off: sign-up and sign-in with a phone number are refused "
            "(phone_provider_disabled)."),
    _switch("external.anonymous_users_enabled", "signup", "Anonymous sign-ins",
            "GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED",
            "On: POST /signup without email or phone creates an anonymous user."),
    _switch("mailer.autoconfirm", "signup", "Confirm email addresses without a link",
            "GOTRUE_MAILER_AUTOCONFIRM",
            "On: new email users get a session at once, without proving they own the address."),
    _switch("sms.autoconfirm", "signup", "Confirm phone numbers without a code",
            "GOTRUE_SMS_AUTOCONFIRM",
            "On: new phone users get a session at once, without proving they own the number."),
    _switch("mfa.totp_enroll_enabled", "mfa", "TOTP enrolment", "GOTRUE_MFA_TOTP_ENROLL_ENABLED",
            "Off: POST /factors with factor_type totp answers 422 mfa_totp_enroll_not_enabled."),
    _switch("mfa.totp_verify_enabled", "mfa", "TOTP verification",
            "GOTRUE_MFA_TOTP_VERIFY_ENABLED",
            "Off: challenges and verifications of TOTP factors are refused."),
    _switch("mfa.phone_enroll_enabled", "mfa", "Phone enrolment",
            "GOTRUE_MFA_PHONE_ENROLL_ENABLED",
            "On: users may enrol a phone factor (codes are texted by the SMS provider)."),
    _switch("mfa.phone_verify_enabled", "mfa", "Phone verification",
            "GOTRUE_MFA_PHONE_VERIFY_ENABLED",
            "Off: challenges and verifications of phone factors are refused."),
    LiveSetting("mfa.max_enrolled_factors", "mfa", "Factors per user", "count",
                "GOTRUE_MFA_MAX_ENROLLED_FACTORS",
                "Factors a user may have, verified or not; enrolling beyond is refused."),
    LiveSetting("mfa.max_verified_factors", "mfa", "Verified factors per user", "count",
                "GOTRUE_MFA_MAX_VERIFIED_FACTORS",
                "Verified factors a user may have."),
    _limit("rate_limit.email_sent", "Emails sent by the server", "GOTRUE_RATE_LIMIT_EMAIL_SENT",
           "Per hour, or N/duration (10/15m); 0 sends none. Off under email autoconfirm.",
           "budget"),
    _limit("rate_limit.sms_sent", "Text messages sent by the server",
           "GOTRUE_RATE_LIMIT_SMS_SENT", "Per hour, or N/duration; 0 sends none.", "budget"),
    _limit("rate_limit.verify", "Verifications per client", "GOTRUE_RATE_LIMIT_VERIFY",
           "GET and POST /verify, per 5 minutes."),
    _limit("rate_limit.token_refresh", "Token requests per client",
           "GOTRUE_RATE_LIMIT_TOKEN_REFRESH", "POST /token (every grant), per 5 minutes."),
    _limit("rate_limit.otp", "Sign-ups and codes per client", "GOTRUE_RATE_LIMIT_OTP",
           "/signup, /otp, /magiclink, /recover, /resend and PUT /user, per 5 minutes."),
    _limit("rate_limit.anonymous_users", "Anonymous sign-ins per client",
           "GOTRUE_RATE_LIMIT_ANONYMOUS_USERS", "Per hour."),
    _limit("rate_limit.mfa_challenge_and_verify", "MFA challenges and verifications per client",
           "GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY", "Per minute (bursts of twice as many)."),
    _limit("rate_limit.email_sent_per_client", "Emails one client may cause",
           "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_CLIENT", "Per hour; 0 is off."),
    _limit("rate_limit.email_sent_per_address", "Emails one address may receive",
           "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_ADDRESS", "Per hour; 0 is off."),
    _limit("rate_limit.password_failures", "Wrong passwords per account",
           "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES", "From anywhere, per hour; 0 is off."),
    _limit("rate_limit.password_failures_per_client", "Wrong passwords per account and client",
           "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES_PER_CLIENT", "Per 15 minutes; 0 is off."),
)
BY_PATH = {setting.path: setting for setting in CATALOG}

# What cannot change here, and why: shown on the page so nobody looks for it.
RESTART_ONLY = (
    ("Secrets and signing keys", "GOTRUE_JWT_SECRET, GOTRUE_JWT_KEYS, GOTRUE_MAILER_OUTBOX_KEY, "
     "hook and provider secrets",
     "Every process must switch at the same instant, or tokens one worker signs are refused "
     "by the next; and a secret must not be stored in the database it protects."),
    ("Database", "GOTRUE_DB_DATABASE_URL, GOTRUE_DB_NAMESPACE, GOTRUE_DB_MAX_POOL_SIZE",
     "The connection pools are opened at start-up, and the settings stored here live in that "
     "database."),
    ("SMTP", "GOTRUE_SMTP_*",
     "The mail transport is built once per process with these credentials."),
    ("Site and API URLs", "GOTRUE_SITE_URL, API_EXTERNAL_URL",
     "Links already sent, cookies and OAuth redirect URIs registered at providers depend on "
     "them."),
    ("Rate-limit storage and client header", "GOTRUE_RATE_LIMIT_STORAGE_URL, "
     "GOTRUE_RATE_LIMIT_HEADER",
     "The counter storage is connected once; the header must match what the proxy sets."),
)

# Values the top-level fields take from the environment, read exactly as from_env() reads them.
_TOP_LEVEL: dict[str, Callable[[EnvReader], Any]] = {
    "uri_allow_list": lambda env: env.list("URI_ALLOW_LIST", keep_braces=True),
    "disable_signup": lambda env: env.bool("DISABLE_SIGNUP", False),
}


def value_at(settings: Any, path: str) -> Any:
    return reduce(getattr, path.split("."), settings)


def with_values(settings: Any, values: dict[str, Any]) -> Any:
    """A copy of ``settings`` with each dotted path set, at any depth
    (``external.email.enabled``)."""
    nested: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    for path, value in values.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, inner in nested.items():
        direct[head] = with_values(getattr(settings, head), inner)
    return dataclasses.replace(settings, **direct) if direct else settings


def read_text(setting: LiveSetting, text: str) -> Any:
    """``text`` read as the environment variable would be; SettingsError names the variable."""
    if len(text) > MAX_TEXT:
        raise SettingsError(f"{setting.variable}: longer than {MAX_TEXT} characters")
    if setting.kind == "list":
        # One entry per line in the console's form; commas separate entries as in the variable.
        text = ",".join(line for line in text.splitlines() if line.strip())
    elif not text.strip():
        raise SettingsError(f"{setting.variable}: enter a value (or revert to the environment's)")
    env = EnvReader({setting.variable: text})
    head, _, rest = setting.path.partition(".")
    if not rest:
        return _TOP_LEVEL[setting.path](env)
    return value_at(GROUPS[head].read(env), rest)


def checked(setting: LiveSetting, value: Any, current: Settings) -> Settings:
    """``current`` with ``value`` in place, after the checks start-up runs on a configuration."""
    candidate = with_values(current, {setting.path: value})
    validate(candidate)
    return candidate


def parse(setting: LiveSetting, text: str, current: Settings) -> Any:
    """The value ``text`` gives ``setting``, refused (SettingsError) where start-up would be."""
    value = read_text(setting, text)
    checked(setting, value, current)
    return value


# --- the forms a value takes -----------------------------------------------------------------


def as_text(value: Any) -> str:
    """The value as its environment variable would spell it (what read_text reads back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    return str(value)


def shown(setting: LiveSetting, value: Any) -> str:
    """The value in words, for the page and the audit log."""
    if setting.kind == "switch":
        return "on" if value else "off"
    if setting.kind == "list":
        return ", ".join(value) if value else "none"
    return as_text(value)


def form_text(setting: LiveSetting, value: Any) -> str:
    """What the edit form holds: the allow-list one entry per line."""
    if setting.kind == "list":
        return "\n".join(value)
    return as_text(value)


def to_json(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def from_json(setting: LiveSetting, stored: str) -> Any:
    """A stored value, read back through read_text (a row that no longer reads is refused with
    SettingsError, as the environment would be)."""
    try:
        raw = json.loads(stored)
    except ValueError:
        raise SettingsError(f"{setting.variable}: the stored value is not JSON") from None
    if setting.kind == "list":
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise SettingsError(f"{setting.variable}: the stored value is not a list of text")
        return read_text(setting, "\n".join(raw))
    if isinstance(raw, (list, dict)) or raw is None:
        raise SettingsError(f"{setting.variable}: the stored value is not a single value")
    return read_text(setting, as_text(raw))
