"""POST /invite: create (or reuse) the invitee and mail the invitation. The console's
invitations page builds on it (console.operations.invitations).

Parity: GoTrue internal/api/invite.go.
"""

from __future__ import annotations

from ...errors import ErrorCode, bad_request, unprocessable
from ...models import User
from ...runtime import RequestInfo, Runtime
from .. import audit, signup, users
from ..mail import flows as mail_flows
from ..validation import normalize_email

DUPLICATE_EMAIL = "A user with this email address has already been registered"


def invite(rt: Runtime, email: str, data: dict | None, redirect_to: str, actor: audit.Actor,
           info: RequestInfo, *, after_response: bool = False) -> User:
    """Create (or reuse an unconfirmed) user for ``email`` and mail an invitation.

    422 email_exists for a confirmed address. No 60 s rule: an admin may invite again, and the
    new invitation replaces the old link and code. A failed send raises, so the caller's
    rollback leaves no user behind. ``after_response`` queues the email in the outbox instead
    (the console's bulk runs).
    """
    address = invitable_address(email)
    user = find_or_create_invitee(rt, address, data, info)
    audit.record("user_invited", actor, now=rt.now(), ip=info.ip,
                 traits={"user_id": str(user.id), "user_email": address})
    mail_flows.send_invite(rt, user, redirect_to, after_response=after_response)
    return user


def invitable_address(email: str) -> str:
    """The normalised address; 400 validation_failed when missing or malformed."""
    if not email or not email.strip():
        raise bad_request(ErrorCode.VALIDATION_FAILED, "An email address is required")
    return normalize_email(email)


def find_or_create_invitee(rt: Runtime, email: str, data: dict | None,
                           info: RequestInfo) -> User:
    """The unconfirmed user of ``email``, or a new one without a password.

    ``data`` becomes the new user's user_metadata; an existing user keeps theirs, as in GoTrue.
    Admins invite even when GOTRUE_DISABLE_SIGNUP is set.
    """
    user = find_invitable(email, info.aud)
    if user is not None:
        return user
    if signup.address_taken(User.email, email):
        # Held in another audience: the unique index would refuse the new row.
        raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
    return signup.register_email_user(rt, email, None, data, info, audit_signup=False)


def find_invitable(email: str, aud: str) -> User | None:
    """The existing unconfirmed user of ``email``; 422 email_exists when it is confirmed."""
    user = users.find_by_email(email, aud)
    if user is not None and user.confirmed_at is not None:
        raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
    return user
