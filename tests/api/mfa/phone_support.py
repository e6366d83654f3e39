"""Helpers of the MFA phone-factor tests (spec phone-sms §3): an app with phone factors on that
texts through a fake provider of tests/support/fake_sms.py, enrolment of phone factors, and
the code a challenge texted."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from gotrue_web.models import Challenge, Factor

from ...conftest import api_for, table_rows
from ...support.fake_sms import sms_settings
from ..phone.send_support import PHONE, form
from .support import challenged, enroll, signed_in

# Both switches of phone factors (off by default); nothing else: EXTERNAL_PHONE_ENABLED is
# irrelevant to MFA (spec §3), so these apps leave phone sign-in off.
PHONE_MFA = {"mfa.phone_enroll_enabled": True, "mfa.phone_verify_enabled": True}
CLIENT = "127.0.0.1"  # the test client's address
ELSEWHERE = {"REMOTE_ADDR": "192.0.2.9"}
SEND_FAILED = {"code": "unexpected_failure", "message": "error sending message"}
NOT_VERIFIED = {"code": "mfa_verification_failed", "message": "Invalid MFA Phone code entered"}


def mfa_phone_app(make_app, fake, provider: str = "", *, timeout: float | None = None,
                  phone_mfa: dict | None = None, **overrides):
    """An app with phone factors on (``phone_mfa`` replaces PHONE_MFA) texting through
    ``fake`` (a fake, or a URL with ``provider``); ``overrides`` are more make_app settings."""
    return make_app(**{**(PHONE_MFA if phone_mfa is None else phone_mfa),
                       **sms_settings(fake, provider, timeout=timeout), **overrides})


def member(app, service_role_token: str):
    """A user signed in with a password on ``app``: (api, session JSON)."""
    api = api_for(app, service_role_token)
    return api, signed_in(api)


def enroll_phone(api, token: str, phone: str | None = f"+{PHONE}", **body):
    """POST /factors for a phone factor (``phone=None`` leaves the field out)."""
    if phone is not None:
        body["phone"] = phone
    return enroll(api, token, factor_type="phone", **body)


def enrolled_phone(api, token: str, phone: str = f"+{PHONE}", **body) -> str:
    """A phone factor enrolment that must succeed: the factor id."""
    response = enroll_phone(api, token, phone, **body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["id"]


def texted_code(received) -> str:
    """The code in the text a Twilio-like fake was asked to send (any length)."""
    [code] = re.findall(r"\d+", form(received)["Body"])
    return code


def challenged_phone(api, token: str, factor_id, fake, **body) -> tuple[str, str]:
    """A challenge that must succeed and text one message: (challenge id, the code)."""
    sent = len(fake.received)
    chal = challenged(api, token, factor_id, **body)
    assert len(fake.received) == sent + 1, fake.received
    return chal["id"], texted_code(fake.last)


def challenges_of(app, factor_id) -> list[Challenge]:
    """The factor's mfa_challenges rows, oldest first."""
    return [row for (row,) in table_rows(app, sa.select(Challenge).where(
        Challenge.factor_id == uuid.UUID(str(factor_id))).order_by(Challenge.created_at))]


def factors_of(app, user_id) -> dict[uuid.UUID, Factor]:
    """The user's mfa_factors rows by id."""
    return {row.id: row for (row,) in table_rows(app, sa.select(Factor).where(
        Factor.user_id == uuid.UUID(str(user_id))))}


def user_id_of(session: dict) -> uuid.UUID:
    return uuid.UUID(session["user"]["id"])
