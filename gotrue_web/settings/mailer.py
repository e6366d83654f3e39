"""What the emails say and where their links lead: autoconfirm, code lifetime and length,
link paths, subjects and template URLs, the account-change notifications and the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Mapping

from .env import EnvReader, SettingsError, otp_length
from .smtp import TIMEOUT as SMTP_TIMEOUT

# Account-change notifications (GoTrue's MAILER_NOTIFICATIONS_<KIND>_ENABLED, off by default):
# emails that tell a user about a change already made. Their subject and template variables
# end in _NOTIFICATION (template_variable); the kind names stay short for the 32-character
# kind columns of email_templates and mail_outbox.
NOTIFICATION_KINDS = (
    "password_changed", "email_changed", "phone_changed", "identity_linked",
    "identity_unlinked", "mfa_factor_enrolled", "mfa_factor_unenrolled",
)
MAILER_TEMPLATE_KINDS = (
    "invite", "confirmation", "recovery", "magic_link", "email_change", "reauthentication",
    *NOTIFICATION_KINDS,
)
DEFAULT_SUBJECTS = {
    "invite": "You've been invited",
    "confirmation": "Confirm your email address",
    "recovery": "Reset your password",
    "magic_link": "Your sign-in link",
    "email_change": "Confirm your new email address",
    "reauthentication": "{{ .Token }} is your verification code",
    # GoTrue's defaults.
    "password_changed": "Your password was changed",
    "email_changed": "Your email address was changed",
    "phone_changed": "Your phone number was changed",
    "identity_linked": "A new sign-in method was linked to your account",
    "identity_unlinked": "A sign-in method was removed from your account",
    "mfa_factor_enrolled": "A new verification method was added to your account",
    "mfa_factor_unenrolled": "A verification method was removed from your account",
}
URL_PATH_KINDS = ("invite", "confirmation", "recovery", "email_change")
# Who sends the mail outbox: a thread in each server process, or `flask outbox run` elsewhere.
OUTBOX_DISPATCHERS = ("server", "external")
# The longest one outbox attempt can take: a template URL fetch and the SMTP exchange, each
# bounded by the SMTP timeout (the send_email hook's deadline is shorter). A claim's lease must
# outlast it, or another dispatcher takes the row again while it is still being sent.
LONGEST_ATTEMPT = 2 * SMTP_TIMEOUT


def variable_suffix(kind: str) -> str:
    """"RECOVERY", "PASSWORD_CHANGED_NOTIFICATION": what follows GOTRUE_MAILER_SUBJECTS_ and
    GOTRUE_MAILER_TEMPLATES_ for template ``kind``."""
    return kind.upper() + ("_NOTIFICATION" if kind in NOTIFICATION_KINDS else "")


def template_variable(kind: str, part: str = "TEMPLATES") -> str:
    """The variable of a template's body (``part`` TEMPLATES) or subject (SUBJECTS)."""
    return f"GOTRUE_MAILER_{part}_{variable_suffix(kind)}"


@dataclass(frozen=True)
class NotificationSettings:
    """GOTRUE_MAILER_NOTIFICATIONS_<KIND>_ENABLED, one switch per notification."""

    password_changed_enabled: bool = False
    email_changed_enabled: bool = False
    phone_changed_enabled: bool = False
    identity_linked_enabled: bool = False
    identity_unlinked_enabled: bool = False
    mfa_factor_enrolled_enabled: bool = False
    mfa_factor_unenrolled_enabled: bool = False

    def enabled(self, kind: str) -> bool:
        return bool(getattr(self, f"{kind}_enabled"))

    @classmethod
    def all_on(cls) -> "NotificationSettings":
        return cls(**{f"{kind}_enabled": True for kind in NOTIFICATION_KINDS})


@dataclass(frozen=True)
class MailerSettings:
    autoconfirm: bool = False
    secure_email_change_enabled: bool = True
    otp_exp: int = 86400
    otp_length: int = 6
    url_paths: Mapping[str, str] = field(default_factory=dict)
    subjects: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    # The mail outbox (services/mail/outbox.py): who sends, how often it looks, how many
    # attempts with which first wait (doubled each time), how long a claimed row is held, and
    # an optional key of its own for the stored payloads (else derived from the JWT secret).
    outbox_dispatcher: str = "server"
    outbox_poll_interval: timedelta = timedelta(seconds=5)
    outbox_max_attempts: int = 6
    outbox_retry_backoff: timedelta = timedelta(seconds=30)
    outbox_lease: timedelta = timedelta(seconds=60)
    outbox_key: str = ""


def read(env: EnvReader) -> MailerSettings:
    return MailerSettings(
        autoconfirm=env.bool("MAILER_AUTOCONFIRM", False),
        secure_email_change_enabled=env.bool("MAILER_SECURE_EMAIL_CHANGE_ENABLED", True),
        otp_exp=env.int("MAILER_OTP_EXP", 86400, minimum=1, zero_is_default=True),
        otp_length=otp_length(env.int("MAILER_OTP_LENGTH", 6)),
        url_paths={kind: env.str(f"MAILER_URLPATHS_{kind.upper()}", "/verify")
                   for kind in URL_PATH_KINDS},
        subjects={kind: env.str(f"MAILER_SUBJECTS_{variable_suffix(kind)}",
                                DEFAULT_SUBJECTS[kind])
                  for kind in MAILER_TEMPLATE_KINDS},
        templates={kind: env.str(f"MAILER_TEMPLATES_{variable_suffix(kind)}")
                   for kind in MAILER_TEMPLATE_KINDS
                   if env.str(f"MAILER_TEMPLATES_{variable_suffix(kind)}")},
        notifications=NotificationSettings(**{
            f"{kind}_enabled": env.bool(f"MAILER_NOTIFICATIONS_{kind.upper()}_ENABLED", False)
            for kind in NOTIFICATION_KINDS}),
        outbox_dispatcher=env.str("MAILER_OUTBOX_DISPATCHER", "server").strip().lower(),
        outbox_poll_interval=env.duration("MAILER_OUTBOX_POLL_INTERVAL", timedelta(seconds=5)),
        outbox_max_attempts=env.int("MAILER_OUTBOX_MAX_ATTEMPTS", 6, minimum=1),
        outbox_retry_backoff=env.duration("MAILER_OUTBOX_RETRY_BACKOFF",
                                          timedelta(seconds=30)),
        outbox_lease=env.duration("MAILER_OUTBOX_LEASE", timedelta(seconds=60)),
        outbox_key=env.str("MAILER_OUTBOX_KEY"),
    )


def check(mailer: MailerSettings) -> None:
    if mailer.outbox_dispatcher not in OUTBOX_DISPATCHERS:
        raise SettingsError("GOTRUE_MAILER_OUTBOX_DISPATCHER must be one of "
                            + ", ".join(OUTBOX_DISPATCHERS))
    for name, value in (("POLL_INTERVAL", mailer.outbox_poll_interval),
                        ("RETRY_BACKOFF", mailer.outbox_retry_backoff),
                        ("LEASE", mailer.outbox_lease)):
        if value is None or value <= timedelta(0):
            raise SettingsError(f"GOTRUE_MAILER_OUTBOX_{name} must be a positive duration")
    if mailer.outbox_lease <= LONGEST_ATTEMPT:
        longest = int(LONGEST_ATTEMPT.total_seconds())
        raise SettingsError(
            f"GOTRUE_MAILER_OUTBOX_LEASE must be longer than one send attempt can take "
            f"({longest}s: a template fetch and the SMTP exchange, "
            f"{int(SMTP_TIMEOUT.total_seconds())}s each), or a second dispatcher would send "
            f"an email that is still being sent")
