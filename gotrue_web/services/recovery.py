"""POST /recover: a password-recovery email. Parity: GoTrue internal/api/recover.go.

Unknown addresses get the same empty answer as known ones, in the same time: the email goes out
after the answer (mail.outbox), so neither the SMTP exchange nor its failure shows in the
response; a failure is in the mail log.
"""

from __future__ import annotations

from ..errors import ErrorCode, bad_request
from ..runtime import RequestInfo, Runtime
from . import audit, pkce, send_budgets, users
from .mail import flows as mail_flows
from .validation import normalize_email


def require_email_provider(rt: Runtime) -> None:
    """400 email_provider_disabled (GoTrue checks it before reading the request)."""
    if not rt.settings.external.email.enabled:
        raise bad_request(ErrorCode.EMAIL_PROVIDER_DISABLED, "Email logins are disabled")


def request_recovery(rt: Runtime, email: str, redirect_to: str,
                     pkce_params: pkce.PKCEParams | None, info: RequestInfo) -> bool:
    """Mail a recovery link to ``email`` if it belongs to a user, after the answer.

    Returns False when nothing may be written (unknown address): the caller answers the same
    way but rolls back. 429 over_email_send_rate_limit within SMTP_MAX_FREQUENCY of the last
    recovery or magic link, or over the email budget.
    """
    require_email_provider(rt)
    if not email:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Password recovery requires an email")
    address = normalize_email(email)
    user = users.find_by_email(address, info.aud)
    if user is None:
        # The email budgets count as if a mail went out: they must not tell the two apart.
        send_budgets.charge_email(rt, address)
        return False
    if pkce_params is not None:
        pkce.create_flow(rt, pkce_params, user_id=user.id, authentication_method="recovery")
    audit.record("user_recovery_requested", audit.Actor.of_user(user), now=rt.now(), ip=info.ip)
    mail_flows.send_recovery(rt, user, redirect_to, pkce=pkce_params is not None,
                             after_response=True)
    return True
