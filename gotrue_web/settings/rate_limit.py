"""Rate limits: the global email and SMS budgets, and the per-client request limits that
apply when RATE_LIMIT_HEADER names the header identifying the client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from ..durations import parse_go_duration
from .env import EnvReader, SettingsError


@dataclass(frozen=True)
class RateLimitSettings:
    header: str = ""
    email_sent: str = "30"
    sms_sent: str = "30"
    verify: float = 30
    token_refresh: float = 150
    otp: float = 30
    anonymous_users: float = 30


def read(env: EnvReader) -> RateLimitSettings:
    return RateLimitSettings(
        header=env.str("RATE_LIMIT_HEADER"),
        email_sent=env.str("RATE_LIMIT_EMAIL_SENT", "30"),
        sms_sent=env.str("RATE_LIMIT_SMS_SENT", "30"),
        verify=env.float("RATE_LIMIT_VERIFY", 30),
        token_refresh=env.float("RATE_LIMIT_TOKEN_REFRESH", 150),
        otp=env.float("RATE_LIMIT_OTP", 30),
        anonymous_users=env.float("RATE_LIMIT_ANONYMOUS_USERS", 30),
    )


def check(rate_limit: RateLimitSettings) -> None:
    for kind in ("email_sent", "sms_sent"):
        value = getattr(rate_limit, kind)
        if not re.fullmatch(r"\d+(\.\d+)?(/\S+)?", value):
            raise SettingsError(
                f"GOTRUE_RATE_LIMIT_{kind.upper()}: expected a number or N/duration, got {value!r}"
            )
        if "/" in value:
            try:
                period = parse_go_duration(value.split("/", 1)[1])
            except ValueError:
                raise SettingsError(
                    f"GOTRUE_RATE_LIMIT_{kind.upper()}: bad duration in {value!r}") from None
            if period <= timedelta(0):
                raise SettingsError(
                    f"GOTRUE_RATE_LIMIT_{kind.upper()}: the period must be positive in {value!r}")
