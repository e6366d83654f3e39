"""GET /reauthenticate: mail (or text) the code that PUT /user accepts as ``nonce``.

Parity: GoTrue internal/api/reauthenticate.go. The code goes to the email when the user has
one, else to the phone.
"""

from __future__ import annotations

from ..errors import ErrorCode, bad_request, unprocessable
from ..models import User
from ..runtime import RequestInfo, Runtime
from . import audit
from . import phone as phone_flows
from .mail import flows as mail_flows


def request_nonce(rt: Runtime, user: User, info: RequestInfo) -> str:
    """Send a reauthentication code to the user's confirmed email, else text it to the
    confirmed phone (60 s rule either way). Returns the texted code's message id ("" for an
    email)."""
    if not user.email and not user.phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Reauthentication requires the user to have an email or a phone number")
    if user.email:
        if not user.is_email_confirmed:
            raise unprocessable(ErrorCode.EMAIL_NOT_CONFIRMED, "Please verify your email first.")
    elif not user.is_phone_confirmed:
        raise unprocessable(ErrorCode.PHONE_NOT_CONFIRMED, "Please verify your phone first.")
    audit.record("user_reauthenticate_requested", audit.Actor.of_user(user), now=rt.now(),
                 ip=info.ip)
    if user.email:
        mail_flows.send_reauthentication(rt, user)
        return ""
    return phone_flows.send_code(rt, user, user.phone or "", "reauthentication", "sms", info)
