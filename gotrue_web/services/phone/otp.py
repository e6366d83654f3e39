"""POST /otp with a phone number: a sign-in code by SMS or WhatsApp.

Parity: GoTrue internal/api/otp.go (SmsOtp). A number without a confirmed account goes
through the internal /signup (services.signup.sign_up_for_otp), which texts the confirmation
code; a confirmed one gets a code in confirmation_token. Under SMS_AUTOCONFIRM the signup
confirms a new number and the code is texted as for a confirmed one.
"""

from __future__ import annotations

from ...errors import ErrorCode, bad_request
from ...runtime import RequestInfo, Runtime
from .. import audit, signup, users
from ..validation import normalize_phone
from . import check_channel, check_may_create
from .codes import send_code


def send_otp(rt: Runtime, phone: str, channel: str, *, create_user: bool,
             info: RequestInfo, data: dict | None = None) -> str:
    """Text a sign-in code to ``phone``, in GoTrue's order of checks (create_user, provider
    enabled, number format, channel); returns the message id ("" when none is known)."""
    check_may_create(phone, create_user, info)
    if not rt.settings.external.phone_enabled:
        raise bad_request(ErrorCode.PHONE_PROVIDER_DISABLED, "Unsupported phone provider")
    phone = normalize_phone(phone)
    channel = check_channel(rt, channel)
    user = users.find_by_phone(phone, info.aud)
    if user is None or not user.is_phone_confirmed:
        result = signup.sign_up_for_otp(rt, phone, channel, data, info)
        if not rt.settings.sms.autoconfirm or result.user is None or result.fake:
            return result.message_id
        user = result.user
    audit.record("user_recovery_requested", audit.Actor.of_user(user), now=rt.now(),
                 ip=info.ip, traits={"channel": channel})
    return send_code(rt, user, phone, "confirmation", channel, info)
