"""Multi-factor authentication: which factor types can be enrolled and verified, how many a
user may have, and how long challenges and unfinished enrolments live (GOTRUE_MFA_*)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .env import EnvReader, SettingsError, otp_length
from .sms import template_parts

DEFAULT_PHONE_TEMPLATE = "Your code is {{ .Code }}"
# GoTrue never lets a challenge live shorter than this.
MIN_CHALLENGE_EXPIRY = timedelta(seconds=300)


@dataclass(frozen=True)
class MFASettings:
    totp_enroll_enabled: bool = True
    totp_verify_enabled: bool = True
    phone_enroll_enabled: bool = False
    phone_verify_enabled: bool = False
    webauthn_enroll_enabled: bool = False
    webauthn_verify_enabled: bool = False
    phone_otp_length: int = 6
    phone_max_frequency: timedelta = timedelta(minutes=1)
    phone_template: str = DEFAULT_PHONE_TEMPLATE
    max_enrolled_factors: int = 10
    max_verified_factors: int = 10
    challenge_expiry: timedelta = MIN_CHALLENGE_EXPIRY
    factor_expiry: timedelta = timedelta(seconds=300)
    # Beyond GoTrue: wrong codes after which a challenge is dead (0 = no limit).
    max_code_attempts: int = 5


def read(env: EnvReader) -> MFASettings:
    challenge_expiry = timedelta(seconds=env.float("MFA_CHALLENGE_EXPIRY_DURATION", 300))
    return MFASettings(
        totp_enroll_enabled=env.bool("MFA_TOTP_ENROLL_ENABLED", True),
        totp_verify_enabled=env.bool("MFA_TOTP_VERIFY_ENABLED", True),
        phone_enroll_enabled=env.bool("MFA_PHONE_ENROLL_ENABLED", False),
        phone_verify_enabled=env.bool("MFA_PHONE_VERIFY_ENABLED", False),
        webauthn_enroll_enabled=env.bool("MFA_WEB_AUTHN_ENROLL_ENABLED", False),
        webauthn_verify_enabled=env.bool("MFA_WEB_AUTHN_VERIFY_ENABLED", False),
        phone_otp_length=otp_length(env.int("MFA_PHONE_OTP_LENGTH", 6)),
        phone_max_frequency=env.duration("MFA_PHONE_MAX_FREQUENCY", timedelta(minutes=1),
                                         zero_is_default=True),
        phone_template=env.str("MFA_PHONE_TEMPLATE", DEFAULT_PHONE_TEMPLATE),
        max_enrolled_factors=env.int("MFA_MAX_ENROLLED_FACTORS", 10, minimum=0),
        max_verified_factors=env.int("MFA_MAX_VERIFIED_FACTORS", 10, minimum=0),
        challenge_expiry=max(challenge_expiry, MIN_CHALLENGE_EXPIRY),
        factor_expiry=env.duration("MFA_FACTOR_EXPIRY_DURATION", timedelta(seconds=300),
                                   zero_is_default=True),
        max_code_attempts=env.int("MFA_MAX_CODE_ATTEMPTS", 5, minimum=0),
    )



def check(mfa: MFASettings) -> None:
    """GoTrue parses the MFA text only when phone factors are on; a bad one stops start-up."""
    if mfa.phone_enroll_enabled or mfa.phone_verify_enabled:
        try:
            template_parts(mfa.phone_template)
        except ValueError as error:
            raise SettingsError(f"GOTRUE_MFA_PHONE_TEMPLATE: {error}") from None
