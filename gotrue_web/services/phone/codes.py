"""Issuing a phone code and texting it: GoTrue's sendPhoneConfirmation (phone.go), shared by
/signup, /otp, /resend, PUT /user and /reauthenticate.

Each kind of code has its users columns (``*_token`` and ``*_sent_at``) and one_time_tokens
type. The code is stored as email codes are (one_time_tokens.code_digest, keyed, with the
normalised number as the address), and the one_time_tokens row holds the same digest with
relates_to = the number it went to. Nothing is written unless the message went out (or a test
code stood in for it), and the caller's transaction rolls back on any error raised here, so a
failed send leaves the database as it was; only its sms_log row remains (delivery).

With the send_sms hook on, the hook texts the code (delivery.send_by_hook) and no provider is
needed. The code is then always ours, also under twilio_verify: its digest is stored as for any
provider and checked locally (verification.delegated, decision D2).
"""

from __future__ import annotations

import math
from datetime import datetime

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, internal, too_many_requests, unprocessable
from ...models import OneTimeTokenType, User
from ...models.one_time_token import USER_COLUMNS
from ...runtime import RequestInfo, Runtime
from ...security import codes
from ...transports import sms as sms_transport
from .. import hooks, one_time_tokens
from ..mail.links import lock_user
from . import budget, delivery

T = OneTimeTokenType
KINDS = {
    "confirmation": T.confirmation_token,
    "phone_change": T.phone_change_token,
    "reauthentication": T.reauthentication_token,
}


def test_code_for(rt: Runtime, phone: str) -> str | None:
    """The SMS_TEST_OTP code of the normalised ``phone``, unless there is none or
    SMS_TEST_OTP_VALID_UNTIL has passed."""
    return rt.settings.sms.test_code(phone, rt.now())


def require_sender(rt: Runtime, phone: str) -> None:
    """500 "Unable to get SMS provider" when no provider can send, the send_sms hook is off
    and no test code stands in.

    /signup asks before it looks the number up, so that a known number answers as a new one
    does while no provider is set up (otherwise only new numbers would reach the send).
    """
    if rt.sms.available or hooks.enabled(rt, delivery.HOOK) or test_code_for(rt, phone):
        return
    raise internal("Unable to get SMS provider")


def send_code(rt: Runtime, user: User, phone: str, kind: str, channel: str = "sms",
              info: RequestInfo | None = None) -> str:
    """Issue a new code of ``kind`` (confirmation, phone_change or reauthentication) for
    ``user`` and text it to the normalised ``phone``; returns the provider's message id, or
    "test-otp" for a test code ("" when the provider gives none).

    In GoTrue's order: the SMS_MAX_FREQUENCY rule on the kind's ``*_sent_at`` (429, also for
    test codes); a test code stands in for the message (no provider, no budget); else the
    global RATE_LIMIT_SMS_SENT budget unless SMS_AUTOCONFIRM (429), then the send (422
    sms_send_failed with the provider's reason; 500 when no provider can be built). Only then
    are the token, ``*_sent_at`` (and for phone_change ``phone_change``) and the
    one_time_tokens row written.
    """
    token_type = KINDS[kind]
    token_column, sent_column = USER_COLUMNS[token_type]
    if sa.inspect(user).persistent:
        _lock(user)
    now = rt.now()
    check_frequency(getattr(user, sent_column), rt.settings.sms.max_frequency, now)
    user_id = user.id
    if kind == "phone_change":
        # Before the send, as GoTrue: the send_sms hook's user shows the pending number.
        user.phone_change = phone
    code = test_code_for(rt, phone)
    if code is not None:
        message_id = delivery.record_test_otp(rt, to=phone, channel=channel, kind=kind,
                                              user_id=user_id)
    else:
        if not rt.settings.sms.autoconfirm:
            budget.charge_sms(rt)
        code = codes.generate_otp(rt.settings.sms.otp_length)
        message_id = _text(rt, user, phone, code, channel, kind, info)
    digest = one_time_tokens.code_digest(rt, phone, code)
    setattr(user, token_column, digest)
    setattr(user, sent_column, now)
    user.updated_at = now
    one_time_tokens.store(user, token_type, digest, phone, now)
    return message_id


def _text(rt: Runtime, user: User, phone: str, code: str, channel: str, kind: str,
          info: RequestInfo | None) -> str:
    if hooks.enabled(rt, delivery.HOOK):
        # The hook's errors pass through as they are; the template is the hook's business.
        return delivery.send_by_hook(rt, user, to=phone, otp=code, channel=channel, kind=kind,
                                     ip=info.ip if info else "")
    user_id = user.id
    try:
        body = sms_transport.render_message(rt.settings.sms.template, code)
    except ValueError as error:
        # Settings refuse a bad SMS_TEMPLATE at start-up when a provider is set; GoTrue's text.
        raise internal("error generating sms template", cause=error) from error
    try:
        return delivery.deliver(rt, to=phone, body=body, channel=channel, kind=kind,
                                user_id=user_id, otp=code)
    except sms_transport.SMSProviderUnavailable as error:
        raise internal("Unable to get SMS provider", cause=error) from error
    except sms_transport.SMSDeliveryError as error:
        raise unprocessable(ErrorCode.SMS_SEND_FAILED,
                            f"Error sending {kind} OTP to provider: {error}") from error


def _lock(user: User) -> None:
    """Lock the user's row (as the email frequency rule does), so that of parallel requests for
    one number only the first passes the frequency rule; a row held too long is a 429."""
    try:
        lock_user(user)
    except GoTrueError as error:
        if error.status != 429:
            raise
        raise too_many_requests(ErrorCode.OVER_SMS_SEND_RATE_LIMIT, error.message,
                                retry_after=5) from error


def check_frequency(sent_at: datetime | None, interval, now: datetime) -> None:
    """SMS_MAX_FREQUENCY: 429 over_sms_send_rate_limit while the last code of this kind is
    younger than the interval."""
    if sent_at is None or interval.total_seconds() <= 0:
        return
    wait = (sent_at + interval - now).total_seconds()
    if wait >= 0:
        seconds = max(1, math.ceil(wait))
        raise too_many_requests(
            ErrorCode.OVER_SMS_SEND_RATE_LIMIT,
            f"For security purposes, you can only request this after {seconds} seconds.",
            retry_after=seconds)

