"""The branch every phone flow shares: the channel, the phone provider switch, and the SMS
sender that delivers the code.

/otp, /signup, /resend, PUT /user and /reauthenticate all end here when they would text a
code. No SMS provider is available yet (transports.sms), so each refuses with 422
sms_send_failed, with GoTrue's message for its flow, before it writes anything.
"""

from __future__ import annotations

from ..errors import ErrorCode, bad_request, unprocessable
from ..runtime import RequestInfo, Runtime
from ..transports.sms import CHANNELS, SMSSender
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


def sender_for(rt: Runtime, flow: str) -> SMSSender:
    """The SMS sender ``flow`` (a key of _SEND_FAILURES) will text its code with; 422
    sms_send_failed when no provider can send, checked before anything is written."""
    sender = rt.sms
    if not sender.available:
        raise unprocessable(ErrorCode.SMS_SEND_FAILED, f"{_SEND_FAILURES[flow]}: {sender.reason}")
    return sender


def check_may_create(raw_phone: str, create_user: bool, info: RequestInfo) -> None:
    """POST /otp with create_user:false: 422 otp_disabled when the number has no account
    (GoTrue checks this before the phone provider)."""
    if create_user:
        return
    if users.find_by_phone(normalize_phone(raw_phone), info.aud) is None:
        raise unprocessable(ErrorCode.OTP_DISABLED, "Signups not allowed for otp")


def send_otp(rt: Runtime, phone: str, channel: str, *, create_user: bool,
             info: RequestInfo) -> None:
    """POST /otp with a phone number: a sign-in code by SMS or WhatsApp, in GoTrue's order of
    checks (create_user, provider enabled, number format, channel, sender).

    Issuing and texting the code come with the SMS providers; until one exists sender_for
    refuses every request here, so nothing is written and nothing is claimed to be sent.
    """
    check_may_create(phone, create_user, info)
    if not rt.settings.external.phone_enabled:
        raise bad_request(ErrorCode.PHONE_PROVIDER_DISABLED, "Unsupported phone provider")
    normalize_phone(phone)
    check_channel(channel)
    sender_for(rt, "otp")
