"""Helpers of the phone-send tests (codes texted by /signup, /otp, PUT /user, /resend and
/reauthenticate) against the fake providers of tests/support/fake_sms.py."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import parse_qs

import sqlalchemy as sa

from gotrue_web.models import OneTimeToken, SMSLogEntry, User

from ...conftest import make_jwt, table_rows
from ...factories import token_hash
from ...support.fake_sms import sms_settings

PHONE = "15551234567"
OTHER = "15557654321"


def phone_app(make_app, fake, **overrides):
    """An app with the phone provider on, texting through ``fake`` (its provider by default;
    ``provider=`` and credentials as sms_settings takes them)."""
    options = {key: overrides.pop(key) for key in ("provider", "timeout", "content_sid",
                                                   "auth_token") if key in overrides}
    return make_app(**{"external.phone_enabled": True, **sms_settings(fake, **options),
                       **overrides})


def form(received) -> dict[str, str]:
    """The fields of a form-encoded request the fake got."""
    return {key: values[0] for key, values in parse_qs(received.text).items()}


def code_of(received, field: str = "Body") -> str:
    """The code in the text the fake was asked to send."""
    [code] = re.findall(r"\d{6}", form(received)[field])
    return code


def twilio_sms(code: str, to: str = PHONE) -> str:
    """The raw body spec §1.2 gives for a Twilio SMS of the default template."""
    return f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{to}"


def user_by_phone(app, phone: str) -> User | None:
    rows = table_rows(app, sa.select(User).where(User.phone == phone))
    return rows[0][0] if rows else None


def user_by_id(app, user_id) -> User:
    [(user,)] = table_rows(app, sa.select(User).where(User.id == uuid.UUID(str(user_id))))
    return user


def tokens(app, user_id) -> dict[str, tuple[str, str]]:
    """The user's one_time_tokens rows as type -> (token_hash, relates_to)."""
    rows = table_rows(app, sa.select(OneTimeToken).where(
        OneTimeToken.user_id == uuid.UUID(str(user_id))))
    return {row.token_type.value: (row.token_hash, row.relates_to) for (row,) in rows}


def all_tokens(app) -> list:
    return [row for (row,) in table_rows(app, sa.select(OneTimeToken))]


def sms_log(app) -> list[SMSLogEntry]:
    return [row for (row,) in table_rows(
        app, sa.select(SMSLogEntry).order_by(SMSLogEntry.created_at))]


def log_row(entry: SMSLogEntry) -> tuple:
    return (entry.kind, entry.recipient, entry.channel, entry.provider, entry.status,
            entry.message_id)


def digest(phone: str, code: str) -> str:
    """What the users column and the one_time_tokens row store for a texted code."""
    return token_hash(phone, code)


def token_for(user_id) -> str:
    """An access token (no session) for a user who cannot sign in with a password."""
    now = int(time.time())
    return make_jwt({"sub": str(user_id), "aud": "authenticated", "role": "authenticated",
                     "iat": now, "exp": now + 600})
