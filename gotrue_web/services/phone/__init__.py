"""Phone codes: the channel check every phone flow shares, issuing and texting a code
(codes.send_code, GoTrue's sendPhoneConfirmation), the global SMS budget (budget), and the one
place a text message leaves the server and is logged (delivery).

POST /otp's phone path is in otp.py (it signs new numbers up, so it imports services.signup,
which imports this package: it is not re-exported here).
"""

from __future__ import annotations

from ...errors import ErrorCode, bad_request, unprocessable
from ...runtime import RequestInfo, Runtime
from .. import hooks, users
from ..validation import normalize_phone
from .codes import KINDS, require_sender, send_code, test_code_for

__all__ = ["KINDS", "WHATSAPP_PROVIDERS", "check_channel", "check_may_create",
           "require_sender", "send_code", "test_code_for"]

# The providers that can deliver by WhatsApp.
WHATSAPP_PROVIDERS = ("twilio", "twilio_verify")
_INVALID_CHANNEL = ("Invalid channel, supported values are 'sms' or 'whatsapp'. 'whatsapp' is "
                    "only supported if Twilio or Twilio Verify is used as the provider.")


def check_channel(rt: Runtime, channel: str) -> str:
    """The channel a code goes by: "sms" (also when none is given), or "whatsapp" when the
    provider is twilio or twilio_verify; 400 validation_failed otherwise."""
    if hooks.enabled(rt, "send_sms"):
        # The send-sms hook delivers by whatever channel it likes (GoTrue checks none then).
        return channel or "sms"
    if not channel or channel == "sms":
        return "sms"
    if channel == "whatsapp" and rt.settings.sms.provider in WHATSAPP_PROVIDERS:
        return channel
    raise bad_request(ErrorCode.VALIDATION_FAILED, _INVALID_CHANNEL)


def check_may_create(raw_phone: str, create_user: bool, info: RequestInfo) -> None:
    """POST /otp with create_user:false: 422 otp_disabled when the number has no account
    (GoTrue checks this before the phone provider)."""
    if create_user:
        return
    if users.find_by_phone(normalize_phone(raw_phone), info.aud) is None:
        raise unprocessable(ErrorCode.OTP_DISABLED, "Signups not allowed for otp")
