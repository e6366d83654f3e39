"""What the emails say and where their links lead: autoconfirm, code lifetime and length,
link paths, subjects and template URLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .env import EnvReader, otp_length

MAILER_TEMPLATE_KINDS = (
    "invite", "confirmation", "recovery", "magic_link", "email_change", "reauthentication",
)
DEFAULT_SUBJECTS = {
    "invite": "You've been invited",
    "confirmation": "Confirm your email address",
    "recovery": "Reset your password",
    "magic_link": "Your sign-in link",
    "email_change": "Confirm your new email address",
    "reauthentication": "{{ .Token }} is your verification code",
}
URL_PATH_KINDS = ("invite", "confirmation", "recovery", "email_change")


@dataclass(frozen=True)
class MailerSettings:
    autoconfirm: bool = False
    secure_email_change_enabled: bool = True
    otp_exp: int = 86400
    otp_length: int = 6
    url_paths: Mapping[str, str] = field(default_factory=dict)
    subjects: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)


def read(env: EnvReader) -> MailerSettings:
    return MailerSettings(
        autoconfirm=env.bool("MAILER_AUTOCONFIRM", False),
        secure_email_change_enabled=env.bool("MAILER_SECURE_EMAIL_CHANGE_ENABLED", True),
        otp_exp=env.int("MAILER_OTP_EXP", 86400, minimum=1, zero_is_default=True),
        otp_length=otp_length(env.int("MAILER_OTP_LENGTH", 6)),
        url_paths={kind: env.str(f"MAILER_URLPATHS_{kind.upper()}", "/verify")
                   for kind in URL_PATH_KINDS},
        subjects={kind: env.str(f"MAILER_SUBJECTS_{kind.upper()}", DEFAULT_SUBJECTS[kind])
                  for kind in MAILER_TEMPLATE_KINDS},
        templates={kind: env.str(f"MAILER_TEMPLATES_{kind.upper()}")
                   for kind in MAILER_TEMPLATE_KINDS
                   if env.str(f"MAILER_TEMPLATES_{kind.upper()}")},
    )
