"""POST /admin/generate_link: make the link and code of any email flow without sending it.

Parity: GoTrue internal/api/admin.go (adminGenerateLink). The token is stored exactly as the
emailed flow would store it (user column + one_time_tokens row), so the returned action_link
works with GET /verify and the returned code with POST /verify; no email goes out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ErrorCode, bad_request, not_found, unprocessable
from ...models import User
from ...runtime import RequestInfo, Runtime
from ...security import codes
from .. import audit, password_checks, signup, users
from ..mail import links
from ..user_updates import email_taken_by_other, forget_email_change_tokens
from ..validation import normalize_email
from .invites import DUPLICATE_EMAIL, find_or_create_invitee, invitable_address

TYPES = ("signup", "invite", "magiclink", "recovery", "email_change_current",
         "email_change_new")


@dataclass(frozen=True)
class GenerateLinkRequest:
    type: str
    email: str
    new_email: str = ""
    password: str = ""
    data: dict | None = None
    redirect_to: str = ""


@dataclass(frozen=True)
class GeneratedLink:
    user: User
    action_link: str
    email_otp: str
    hashed_token: str
    # The link type actually made: a magic link for an unknown address becomes "signup".
    verification_type: str
    redirect_to: str


def generate(rt: Runtime, request: GenerateLinkRequest, actor: audit.Actor,
             info: RequestInfo) -> GeneratedLink:
    """Issue the token of ``request.type`` for ``request.email``, in GoTrue's order of checks.

    400 for a bad address or type, 404 user_not_found for recovery or email change of an
    unknown address, 422 email_exists for a confirmed address on signup/invite or a taken
    new_email. Admins are not bound by GOTRUE_DISABLE_SIGNUP or the 60 s rule.
    """
    email = invitable_address(request.email)
    if request.type not in TYPES:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"Invalid email action link type requested: {request.type}")
    user = users.find_by_email(email, info.aud)
    link_type = request.type
    if user is None:
        if link_type == "magiclink":
            link_type = "signup"
        elif link_type in ("recovery", "email_change_current", "email_change_new"):
            raise not_found(ErrorCode.USER_NOT_FOUND, "User with this email not found")

    if link_type == "signup":
        user = _signup_user(rt, user, email, request, info, generated_password=(
            request.type == "magiclink"))
        issued = links.issue(rt, user, "confirmation", email, request.redirect_to)
    elif link_type == "invite":
        user = find_or_create_invitee(rt, email, request.data, info)
        audit.record("user_invited", actor, now=rt.now(), ip=info.ip,
                     traits={"user_id": str(user.id), "user_email": email})
        issued = links.issue(rt, user, "invite", email, request.redirect_to)
        user.invited_at = rt.now()
    elif link_type in ("magiclink", "recovery"):
        audit.record("user_recovery_requested", audit.Actor.of_user(user), now=rt.now(),
                     ip=info.ip)
        flow = "magic_link" if link_type == "magiclink" else "recovery"
        issued = links.issue(rt, user, flow, email, request.redirect_to)
    else:
        issued = _email_change(rt, user, link_type, request.new_email, request.redirect_to)
    user.updated_at = rt.now()
    return GeneratedLink(user=user, action_link=issued.action_link, email_otp=issued.code,
                         hashed_token=issued.token, verification_type=link_type,
                         redirect_to=issued.redirect_to)


def _signup_user(rt: Runtime, user: User | None, email: str, request: GenerateLinkRequest,
                 info: RequestInfo, *, generated_password: bool) -> User:
    """The unconfirmed user to confirm: the existing one (data merged) or a new one.

    A new user needs a password that passes the strength rules, except when a magic link for an
    unknown address turns into a signup: that user gets a password nobody knows.
    """
    if user is not None:
        if user.confirmed_at is not None:
            raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
        if request.data is not None:
            user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data,
                                                           request.data)
        return user
    if generated_password:
        password = codes.random_password()
    else:
        if not request.password:
            raise bad_request(ErrorCode.VALIDATION_FAILED, "Signup requires a valid password")
        password_checks.check_new_password(rt, request.password)
        password = request.password
    if signup.address_taken(User.email, email):
        # Held in another audience: the unique index would refuse the new row.
        raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
    return signup.register_email_user(rt, email, password, request.data, info,
                                      audit_signup=False)


def _email_change(rt: Runtime, user: User, link_type: str, raw_new_email: str,
                  redirect_to: str) -> links.IssuedLink:
    """One half of an email change: the token for the current or for the new address.

    As in GoTrue, each call sets only its own half, so an admin can generate both links one
    after the other; in secure mode both must then be followed. The other half is dropped when
    the pending address changes, so it cannot confirm a different address than it was made for.
    """
    if link_type == "email_change_current" and not \
            rt.settings.mailer.secure_email_change_enabled:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Enable secure email change to generate link for current email")
    if not raw_new_email or not raw_new_email.strip():
        raise bad_request(ErrorCode.VALIDATION_FAILED, "An email address is required")
    new_email = normalize_email(raw_new_email)
    if email_taken_by_other(new_email, user):
        raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
    if user.email_change != new_email:
        forget_email_change_tokens(user)
    user.email_change = new_email
    user.email_change_confirm_status = 0
    if link_type == "email_change_current":
        return links.issue(rt, user, "email_change_current", user.email, redirect_to)
    return links.issue(rt, user, "email_change_new", new_email, redirect_to)
