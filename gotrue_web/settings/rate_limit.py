"""Rate limits: the global email and SMS budgets, GoTrue's per-client request limits, this
server's per-client and per-address email budgets and password-failure throttle, and the
storage the counters live in."""

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
    mfa_challenge_and_verify: float = 15
    # POST /sso, and SAML assertions posted to /sso/saml/acs (GOTRUE_SAML_RATE_LIMIT_ASSERTION,
    # which GoTrue keeps with the SAML settings), per client per 5 minutes.
    sso: float = 30
    saml_assertion: float = 15
    # POST /oauth/clients/register (dynamic client registration), per client per 5 minutes.
    oauth_client_register: float = 10
    # POST /token?grant_type=web3, per client per 5 minutes.
    web3: float = 30
    # POST /passkeys/authentication/options, per client per 5 minutes.
    passkey: float = 30
    # Beyond GoTrue: where counters live (redis://...; empty = a SQLite file every worker of
    # this server shares; memory:// = this process only, for tests).
    storage_url: str = ""
    # Beyond GoTrue (0 = off): emails one client may cause, and one address may receive, per
    # hour; wrong passwords per account per hour, and per account and client per 15 minutes.
    email_sent_per_client: float = 10
    email_sent_per_address: float = 5
    password_failures: float = 100
    password_failures_per_client: float = 10


def read(env: EnvReader) -> RateLimitSettings:
    return RateLimitSettings(
        header=env.str("RATE_LIMIT_HEADER"),
        email_sent=env.str("RATE_LIMIT_EMAIL_SENT", "30"),
        sms_sent=env.str("RATE_LIMIT_SMS_SENT", "30"),
        verify=env.float("RATE_LIMIT_VERIFY", 30),
        token_refresh=env.float("RATE_LIMIT_TOKEN_REFRESH", 150),
        otp=env.float("RATE_LIMIT_OTP", 30),
        anonymous_users=env.float("RATE_LIMIT_ANONYMOUS_USERS", 30),
        mfa_challenge_and_verify=env.float("MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY", 15),
        sso=env.float("RATE_LIMIT_SSO", 30),
        saml_assertion=env.float("SAML_RATE_LIMIT_ASSERTION", 15),
        # GoTrue's envconfig reads the _O_AUTH_ spelling; both are accepted.
        oauth_client_register=env.float(
            "RATE_LIMIT_OAUTH_DYNAMIC_CLIENT_REGISTER",
            env.float("RATE_LIMIT_O_AUTH_DYNAMIC_CLIENT_REGISTER", 10)),
        web3=env.float("RATE_LIMIT_WEB3", 30),
        passkey=env.float("RATE_LIMIT_PASSKEY", 30),
        storage_url=env.str("RATE_LIMIT_STORAGE_URL"),
        email_sent_per_client=env.float("RATE_LIMIT_EMAIL_SENT_PER_CLIENT", 10),
        email_sent_per_address=env.float("RATE_LIMIT_EMAIL_SENT_PER_ADDRESS", 5),
        password_failures=env.float("RATE_LIMIT_PASSWORD_FAILURES", 100),
        password_failures_per_client=env.float("RATE_LIMIT_PASSWORD_FAILURES_PER_CLIENT", 10),
    )

def sent_budget(value: str) -> tuple[int, timedelta]:
    """A checked RATE_LIMIT_EMAIL_SENT / RATE_LIMIT_SMS_SENT value as (messages, window): "N"
    per hour or "N/duration". A fraction above zero still allows one; "0" allows none."""
    count, _, period = value.strip().partition("/")
    number = float(count)
    allowed = int(number) if number >= 1 or number <= 0 else 1
    return allowed, parse_go_duration(period) if period else timedelta(hours=1)


# Storages the limiter can use (limits' schemes, and sqlite_storage's file).
STORAGE_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster",
                   "sqlite", "memory")


def check(rate_limit: RateLimitSettings) -> None:
    scheme, sep, rest = rate_limit.storage_url.partition("://")
    if rate_limit.storage_url and (not sep or scheme not in STORAGE_SCHEMES):
        raise SettingsError(
            "GOTRUE_RATE_LIMIT_STORAGE_URL: expected redis://host:port/db, "
            "sqlite:///absolute/path or memory://")
    if scheme == "sqlite" and not rest.startswith("/"):
        raise SettingsError("GOTRUE_RATE_LIMIT_STORAGE_URL: sqlite:/// needs an absolute path")
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
