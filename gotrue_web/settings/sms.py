"""SMS: the provider, autoconfirm, and the codes' lifetime, length, spacing and text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .env import EnvReader, otp_length


@dataclass(frozen=True)
class SMSSettings:
    provider: str = ""
    autoconfirm: bool = False
    max_frequency: timedelta = timedelta(seconds=60)
    otp_exp: int = 60
    otp_length: int = 6
    template: str = "Your code is {{ .Code }}"


def read(env: EnvReader) -> SMSSettings:
    return SMSSettings(
        provider=env.str("SMS_PROVIDER"),
        autoconfirm=env.bool("SMS_AUTOCONFIRM", False),
        max_frequency=env.duration("SMS_MAX_FREQUENCY", timedelta(seconds=60),
                                   zero_is_default=True),
        otp_exp=env.int("SMS_OTP_EXP", 60, minimum=1, zero_is_default=True),
        otp_length=otp_length(env.int("SMS_OTP_LENGTH", 6)),
        template=env.str("SMS_TEMPLATE", "Your code is {{ .Code }}"),
    )
