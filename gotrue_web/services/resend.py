"""POST /resend: send a signup confirmation or an email-change confirmation again.

Parity: GoTrue internal/api/resend.go. Unknown users, confirmed users and users with nothing
pending all get the same empty answer, in the same time: the email goes out after the answer
(mail.outbox).
"""

from __future__ import annotations

from ..errors import ErrorCode, bad_request
from ..runtime import RequestInfo, Runtime
from . import audit, pkce, send_budgets, users
from . import phone as phone_flows
from .mail import flows as mail_flows
from .validation import normalize_email, normalize_phone

TYPES = ("signup", "email_change", "sms", "phone_change")


def resend(rt: Runtime, resend_type: str, email: str, phone: str, redirect_to: str,
           pkce_params: pkce.PKCEParams | None, info: RequestInfo) -> str:
    """Re-send the pending confirmation of ``resend_type`` (60 s rule applies).

    The user is found by the address given: for ``email_change`` and ``phone_change`` that is
    the *current* email or phone; a phone_change code goes to the new number. Returns the
    texted code's message id ("" for emails and when nothing was sent).
    """
    settings = rt.settings
    if resend_type not in TYPES:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Missing one of these types: signup, email_change, sms, phone_change")
    if resend_type == "signup" and not email:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Type provided requires an email address")
    if resend_type == "sms" and not phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Type provided requires a phone number")
    if email and phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only an email address or phone number should be provided.")
    if email:
        if not settings.external.email.enabled:
            raise bad_request(ErrorCode.EMAIL_PROVIDER_DISABLED, "Email logins are disabled")
        user = users.find_by_email(normalize_email(email), info.aud)
    elif phone:
        if not settings.external.phone_enabled:
            raise bad_request(ErrorCode.PHONE_PROVIDER_DISABLED, "Phone logins are disabled")
        user = users.find_by_phone(normalize_phone(phone), info.aud)
    else:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Missing email address or phone number")
    if user is None or not _pending(user, resend_type):
        if email:
            # The email budgets count as if a mail went out: they must not tell the cases apart.
            send_budgets.charge_email(rt, normalize_email(email))
        return ""

    if resend_type == "signup":
        audit.record("user_confirmation_requested", audit.Actor.of_user(user), now=rt.now(),
                     ip=info.ip, traits={"provider": "email"})
        pkce_flow = _flow(rt, pkce_params, user, "email/signup")
        mail_flows.send_confirmation(rt, user, redirect_to, pkce=pkce_flow, after_response=True)
    elif resend_type == "email_change":
        pkce_flow = _flow(rt, pkce_params, user, "email_change")
        mail_flows.send_email_change(rt, user, redirect_to, pkce=pkce_flow, after_response=True)
    elif resend_type == "sms":
        return phone_flows.send_code(rt, user, user.phone or "", "confirmation", "sms", info)
    else:
        return phone_flows.send_code(rt, user, user.phone_change or "", "phone_change", "sms",
                                     info)
    return ""


def _pending(user, resend_type: str) -> bool:
    """Whether there is something to confirm; otherwise the answer is an empty success."""
    if resend_type == "signup":
        return not user.is_email_confirmed
    if resend_type == "sms":
        return not user.is_phone_confirmed
    if resend_type == "email_change":
        return bool(user.email_change)
    return bool(user.phone_change)


def _flow(rt: Runtime, params: pkce.PKCEParams | None, user, method: str) -> bool:
    if params is None:
        return False
    pkce.create_flow(rt, params, user_id=user.id, authentication_method=method)
    return True
