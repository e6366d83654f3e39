"""The branch every phone flow shares: the channel, and the point where a code would be texted.

/otp, /signup, /resend, PUT /user and /reauthenticate all end in ``sms_unavailable`` when they
would text a code. No SMS provider is available yet (transports.sms), so each refuses with 422
sms_send_failed, with GoTrue's message for its flow, before it writes anything. The SMS
providers replace that call with issuing the code and sending it through ``rt.sms``.
"""

from __future__ import annotations

from typing import NoReturn

from ..errors import ErrorCode, bad_request, unprocessable
from ..runtime import RequestInfo, Runtime
from ..transports.sms import CHANNELS
from . import users
from .validation import normalize_phone

# GoTrue's message, per flow, when the code cannot be sent; the provider's reason follows.
_SEND_FAILURES = {
    "otp": "Error sending sms OTP",
    "confirmation": "Error sending confirmation OTP to provider",
    "phone_change": "Error sending phone change OTP to provider",
    "reauthentication": "Error sending sms OTP",
}


def check_channel(channel: str) -> str:
    """The channel a code goes by: "sms" (the default) or "whatsapp"; 400 otherwise."""
    if channel and channel not in CHANNELS:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Invalid channel: must be sms or whatsapp")
    return channel or "sms"


def sms_unavailable(rt: Runtime, flow: str) -> NoReturn:
    """422 sms_send_failed for ``flow`` (a key of _SEND_FAILURES): its code cannot be texted.

    Always raises, even if a sender claims to be available: issuing and texting phone codes do
    not exist yet, and a flow must never carry on as if the code had gone out (a phone signup
    would then be confirmed unverified).
    """
    reason = rt.sms.reason or "texting codes is not available in this server yet"
    raise unprocessable(ErrorCode.SMS_SEND_FAILED, f"{_SEND_FAILURES[flow]}: {reason}")


def check_may_create(raw_phone: str, create_user: bool, info: RequestInfo) -> None:
    """POST /otp with create_user:false: 422 otp_disabled when the number has no account
    (GoTrue checks this before the phone provider)."""
    if create_user:
        return
    if users.find_by_phone(normalize_phone(raw_phone), info.aud) is None:
        raise unprocessable(ErrorCode.OTP_DISABLED, "Signups not allowed for otp")


def send_otp(rt: Runtime, phone: str, channel: str, *, create_user: bool,
             info: RequestInfo) -> NoReturn:
    """POST /otp with a phone number: a sign-in code by SMS or WhatsApp, in GoTrue's order of
    checks (create_user, provider enabled, number format, channel), then the code, which
    cannot be texted yet (sms_unavailable): nothing is written and nothing claimed sent."""
    check_may_create(phone, create_user, info)
    if not rt.settings.external.phone_enabled:
        raise bad_request(ErrorCode.PHONE_PROVIDER_DISABLED, "Unsupported phone provider")
    normalize_phone(phone)
    check_channel(channel)
    sms_unavailable(rt, "otp")
