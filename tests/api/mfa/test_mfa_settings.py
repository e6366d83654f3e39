"""GOTRUE_MFA_* and the MFA-related session and rate-limit variables read from the environment
(api-contract section 9), and the settings as the API applies them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.settings import from_env

from ...conftest import api_for
from ...factories import freeze_clock
from .support import (
    app_now,
    assert_error,
    challenge,
    challenged,
    enroll_totp,
    enrolled_totp,
    signed_in,
    totp_code,
    verify,
    wrong_code,
)

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
}


def load(**variables: str):
    return from_env({**REQUIRED, **variables}, env_file=None)


# --- parsing ----------------------------------------------------------------------------------


def test_mfa_defaults():
    settings = load()
    mfa = settings.mfa
    assert (mfa.totp_enroll_enabled, mfa.totp_verify_enabled) == (True, True)
    assert (mfa.phone_enroll_enabled, mfa.phone_verify_enabled) == (False, False)
    assert mfa.phone_otp_length == 6
    assert mfa.phone_max_frequency == timedelta(seconds=60)
    assert mfa.phone_template == "Your code is {{ .Code }}"
    assert (mfa.max_enrolled_factors, mfa.max_verified_factors) == (10, 10)
    assert mfa.challenge_expiry == timedelta(seconds=300)
    assert mfa.factor_expiry == timedelta(seconds=300)
    assert mfa.max_code_attempts == 5
    assert settings.rate_limit.mfa_challenge_and_verify == 15
    assert settings.sessions.allow_low_aal is None


def test_mfa_variables_are_read():
    mfa = load(GOTRUE_MFA_TOTP_ENROLL_ENABLED="false", GOTRUE_MFA_TOTP_VERIFY_ENABLED="false",
               GOTRUE_MFA_PHONE_ENROLL_ENABLED="true", GOTRUE_MFA_PHONE_VERIFY_ENABLED="true",
               GOTRUE_MFA_PHONE_OTP_LENGTH="8", GOTRUE_MFA_PHONE_MAX_FREQUENCY="2m",
               GOTRUE_MFA_PHONE_TEMPLATE="Code: {{ .Code }}",
               GOTRUE_MFA_MAX_ENROLLED_FACTORS="3", GOTRUE_MFA_MAX_VERIFIED_FACTORS="2",
               GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION="600",
               GOTRUE_MFA_FACTOR_EXPIRY_DURATION="10m",
               GOTRUE_MFA_MAX_CODE_ATTEMPTS="3").mfa
    assert (mfa.totp_enroll_enabled, mfa.totp_verify_enabled) == (False, False)
    assert (mfa.phone_enroll_enabled, mfa.phone_verify_enabled) == (True, True)
    assert mfa.phone_otp_length == 8
    assert mfa.phone_max_frequency == timedelta(minutes=2)
    assert mfa.phone_template == "Code: {{ .Code }}"
    assert (mfa.max_enrolled_factors, mfa.max_verified_factors) == (3, 2)
    assert mfa.challenge_expiry == timedelta(seconds=600)
    assert mfa.factor_expiry == timedelta(minutes=10)
    assert mfa.max_code_attempts == 3


@pytest.mark.parametrize(("raw", "expected"), [
    ("0", 300), ("60", 300), ("299", 300), ("300", 300), ("301", 301), ("3600", 3600),
])
def test_challenge_expiry_is_at_least_300_seconds(raw, expected):
    mfa = load(GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION=raw).mfa
    assert mfa.challenge_expiry == timedelta(seconds=expected)


@pytest.mark.parametrize(("raw", "expected"), [
    ("5", 6), ("6", 6), ("8", 8), ("10", 10), ("11", 6), ("0", 6),
])
def test_phone_otp_length_outside_6_to_10_is_6(raw, expected):
    assert load(GOTRUE_MFA_PHONE_OTP_LENGTH=raw).mfa.phone_otp_length == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("0", timedelta(minutes=1)), ("0s", timedelta(minutes=1)), ("90", timedelta(seconds=90)),
    ("30s", timedelta(seconds=30)), ("2m", timedelta(minutes=2)),
])
def test_phone_max_frequency(raw, expected):
    assert load(GOTRUE_MFA_PHONE_MAX_FREQUENCY=raw).mfa.phone_max_frequency == expected


def test_mfa_rate_limit_and_low_aal_variables():
    settings = load(GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY="5",
                    GOTRUE_SESSIONS_ALLOW_LOW_AAL="30m")
    assert settings.rate_limit.mfa_challenge_and_verify == 5
    assert settings.sessions.allow_low_aal == timedelta(minutes=30)


# --- the settings through the API -------------------------------------------------------------


def test_challenge_expiry_setting_moves_the_expiry(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True,
                      "mfa.challenge_expiry": timedelta(seconds=600)})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    secret = factor["totp"]["secret"]
    clock = freeze_clock(app)
    chal = challenged(api, token, factor["id"])
    assert chal["expires_at"] == int(clock.now.timestamp()) + 600
    clock.advance(seconds=590)
    response = verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_challenge_expiry_setting_expires(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True,
                      "mfa.challenge_expiry": timedelta(seconds=600)})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    clock = freeze_clock(app)
    chal = challenged(api, token, factor["id"])
    clock.advance(seconds=601)
    response = verify(api, token, factor["id"], chal["id"],
                      totp_code(factor["totp"]["secret"], app_now(app)))
    assert_error(response, 422, "mfa_challenge_expired")


def test_zero_max_code_attempts_means_no_limit(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.max_code_attempts": 0})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    secret = factor["totp"]["secret"]
    chal = challenged(api, token, factor["id"])
    for _ in range(7):
        assert_error(verify(api, token, factor["id"], chal["id"],
                            wrong_code(secret, app_now(app))), 422, "mfa_verification_failed")
    response = verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_totp_enrolment_off_leaves_verification_on(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"])
    closed = make_app(**{"mailer.autoconfirm": True, "mfa.totp_enroll_enabled": False})
    closed_api = api_for(closed, service_role_token)
    token = session["access_token"]
    assert_error(enroll_totp(closed_api, token), 422, "mfa_totp_enroll_not_enabled")
    chal = challenge(closed_api, token, factor["id"])
    assert chal.status_code == 200, chal.get_data(as_text=True)
    response = verify(closed_api, token, factor["id"], chal.get_json()["id"],
                      totp_code(factor["totp"]["secret"], app_now(closed)))
    assert response.status_code == 200, response.get_data(as_text=True)
