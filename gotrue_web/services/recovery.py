"""POST /recover: a password-recovery email. Parity: GoTrue internal/api/recover.go.

Unknown addresses get the same empty answer as known ones (no enumeration), and so does a known
address when the SMTP server is down: the failure is in the mail log, not in the response.
"""

from __future__ import annotations

import logging

from ..errors import ErrorCode, GoTrueError, bad_request
from ..runtime import RequestInfo, Runtime
from . import audit, pkce, users
from .mail import flows as mail_flows
from .validation import normalize_email

log = logging.getLogger(__name__)


def require_email_provider(rt: Runtime) -> None:
    """400 email_provider_disabled (GoTrue checks it before reading the request)."""
    if not rt.settings.external.email.enabled:
        raise bad_request(ErrorCode.EMAIL_PROVIDER_DISABLED, "Email logins are disabled")


def request_recovery(rt: Runtime, email: str, redirect_to: str,
                     pkce_params: pkce.PKCEParams | None, info: RequestInfo) -> bool:
    """Mail a recovery link to ``email`` if it belongs to a user.

    Returns False when nothing may be written (unknown address, or the send failed after
    the rate checks): the caller answers the same way but rolls back.
    """
    require_email_provider(rt)
    if not email:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Password recovery requires an email")
    user = users.find_by_email(normalize_email(email), info.aud)
    if user is None:
        return False
    if pkce_params is not None:
        pkce.create_flow(rt, pkce_params, user_id=user.id, authentication_method="recovery")
    audit.record("user_recovery_requested", audit.Actor.of_user(user), now=rt.now(), ip=info.ip)
    try:
        mail_flows.send_recovery(rt, user, redirect_to, pkce=pkce_params is not None)
    except GoTrueError as error:
        if error.status < 500:
            raise
        # The mail log has the failure; the caller still answers {} and rolls back.
        log.warning("recovery email not sent; answering as if it was")
        return False
    return True
