"""POST /otp (email) and POST /magiclink: passwordless sign-in by email.

Parity: GoTrue internal/api/otp.go and magic_link.go. An unknown address is signed up (random
password) and gets a confirmation email, which doubles as its sign-in link; under autoconfirm it
is signed up confirmed and gets a magic link instead. An unconfirmed address gets its
confirmation again; a confirmed one gets a magic link (recovery_token, shared 60 s rule).

The answer takes the same time whether or not the address has an account: every email goes
out after the answer (mail.outbox), and where a new user's random password is hashed, a known
address costs the same hashing work.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ErrorCode, unprocessable
from ..models import User
from ..runtime import RequestInfo, Runtime
from ..security import codes
from . import audit, pkce, signup, users
from .mail import flows as mail_flows
from .validation import normalize_email


@dataclass(frozen=True)
class MagicLinkRequest:
    email: str
    data: dict | None = None
    create_user: bool = True
    redirect_to: str = ""
    pkce: pkce.PKCEParams | None = None


def require_magic_links(rt: Runtime) -> None:
    """422 email_provider_disabled unless both email logins and magic links are on."""
    email = rt.settings.external.email
    if not email.enabled:
        raise unprocessable(ErrorCode.EMAIL_PROVIDER_DISABLED, "Email logins are disabled")
    if not email.magic_link_enabled:
        raise unprocessable(ErrorCode.EMAIL_PROVIDER_DISABLED,
                            "Login with magic link is disabled")


def check_may_create(raw_email: str, create_user: bool, info: RequestInfo) -> None:
    """POST /otp with create_user:false: 422 otp_disabled when the address has no account."""
    if create_user:
        return
    if users.find_by_email(normalize_email(raw_email), info.aud) is None:
        raise unprocessable(ErrorCode.OTP_DISABLED, "Signups not allowed for otp")


def send_magic_link(rt: Runtime, request: MagicLinkRequest, info: RequestInfo) -> None:
    """Sign the address up if needed, then mail a confirmation or a magic link."""
    require_magic_links(rt)
    email = normalize_email(request.email)
    autoconfirm = rt.settings.mailer.autoconfirm
    user = users.find_by_email(email, info.aud)
    if user is not None and request.create_user:
        # A new user's random password costs a bcrypt hash: spend the same here.
        rt.hasher.burn(codes.random_password())
    if user is None:
        if not request.create_user:
            raise unprocessable(ErrorCode.OTP_DISABLED, "Signups not allowed for otp")
        signup.check_signup_allowed(rt)
        if signup.address_taken(User.email, email):
            # Held in another audience: answer as if mailed, as signup does; touch nothing.
            rt.hasher.burn(codes.random_password())
            return
        user = signup.register_email_user(rt, email, codes.random_password(), request.data,
                                          info)
        if autoconfirm:
            users.confirm_email(rt, user)
        else:
            _send_confirmation(rt, request, user, info, new=True)
            return
    elif not user.is_email_confirmed:
        # GoTrue signs the address up again: DISABLE_SIGNUP applies to it too.
        signup.check_signup_allowed(rt)
        if not autoconfirm:
            # Confirming must not activate a password this request did not present: it may be
            # a stranger's who signed up first with the address (as signup does).
            user.encrypted_password = ""
            _send_confirmation(rt, request, user, info, new=False)
            return
        # Under autoconfirm GoTrue confirms the address before anyone proved to own it; here
        # the magic link confirms it when it is used (POST/GET /verify).
    audit.record("user_recovery_requested", audit.Actor.of_user(user), now=rt.now(), ip=info.ip)
    mail_flows.send_magic_link(rt, user, request.redirect_to,
                               pkce=_flow(rt, request, user, "magiclink"), after_response=True)


def _send_confirmation(rt: Runtime, request: MagicLinkRequest, user: User, info: RequestInfo,
                       *, new: bool) -> None:
    """The signup confirmation: its link signs the user in as well."""
    if not new:
        audit.record("user_confirmation_requested", audit.Actor.of_user(user), now=rt.now(),
                     ip=info.ip, traits={"provider": "email"})
    mail_flows.send_confirmation(rt, user, request.redirect_to,
                                 pkce=_flow(rt, request, user, "email/signup"),
                                 after_response=True)


def _flow(rt: Runtime, request: MagicLinkRequest, user: User, method: str) -> bool:
    """Create the PKCE flow when the request asked for one; True if it did."""
    if request.pkce is None:
        return False
    pkce.create_flow(rt, request.pkce, user_id=user.id, authentication_method=method)
    return True
