"""PUT /user: a signed-in user changes their own account.

Parity: GoTrue internal/api/user.go (UserUpdate), in its order of checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from ..errors import ErrorCode, bad_request, forbidden, unauthorized, unprocessable
from ..extensions import db
from ..models import AAL, AMRClaim, Identity, OneTimeTokenType, Session, User
from ..runtime import RequestInfo, Runtime
from . import audit, one_time_tokens, password_checks, pkce, sessions, users
from . import phone as phone_flows
from .mail import flows as mail_flows
from .mail import notifications
from .phone import verification as phone_codes
from .signup import address_taken
from .validation import normalize_email, normalize_phone

# A session younger than this may change the password without a reauthentication nonce.
REAUTHENTICATION_WINDOW = timedelta(hours=24)
# Sessions started from an emailed link or code: the user may not know the current password.
_RECOVERY_METHODS = frozenset({"recovery", "otp", "magiclink"})


@dataclass(frozen=True)
class UserUpdate:
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    current_password: str | None = None
    nonce: str | None = None
    data: dict | None = None
    app_metadata: dict | None = None
    channel: str = ""
    redirect_to: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""


def _is_admin(rt: Runtime, user: User) -> bool:
    # GoTrue's legacy rule: the user's own role is the admin group, in the configured audience.
    return user.role == rt.settings.jwt.admin_group_name and user.aud == rt.settings.jwt.aud


def _has_verified_factor(user: User) -> bool:
    return any(factor.is_verified for factor in user.factors)


def _session_methods(session: Session | None) -> set[str]:
    if session is None:
        return set()
    return set(db.session.execute(
        sa.select(AMRClaim.authentication_method).where(AMRClaim.session_id == session.id)
    ).scalars())


def _check_reauthentication(rt: Runtime, user: User, session: Session | None,
                            nonce: str | None) -> None:
    """GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION for sessions over 24h old."""
    now = rt.now()
    if session is not None and session.created_at is not None \
            and now <= session.created_at + REAUTHENTICATION_WINDOW:
        return
    if not nonce:
        raise bad_request(ErrorCode.REAUTH_NONCE_MISSING,
                          "Password update requires reauthentication")
    if not user.email and user.phone:
        # Texted nonce: twilio_verify, SMS_OTP_EXP and GoTrue's message (phone_codes).
        phone_codes.check_nonce(rt, user, nonce)
        return
    address, lifetime = user.email or "", rt.settings.mailer.otp_exp
    sent_at = user.reauthentication_sent_at
    valid = (
        bool(address) and sent_at is not None
        and now <= sent_at + timedelta(seconds=lifetime)
        and one_time_tokens.code_matches(rt, user.reauthentication_token, address, nonce)
    )
    if not valid:
        # A wrong nonce counts against the code (five and it is gone); the count is committed.
        one_time_tokens.count_failed_attempt(user, (OneTimeTokenType.reauthentication_token,),
                                             now)
        error = unprocessable(ErrorCode.REAUTHENTICATION_NOT_VALID, "Requires reauthentication")
        error.commit_first = True
        raise error


def _check_current_password(rt: Runtime, user: User, session: Session | None,
                            current_password: str | None) -> None:
    """GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD, except in recovery sessions."""
    if not user.encrypted_password or _session_methods(session) & _RECOVERY_METHODS:
        return
    if not current_password:
        raise bad_request(ErrorCode.CURRENT_PASSWORD_REQUIRED,
                          "Current password required when setting new password.")
    if not rt.hasher.verify(current_password, user.encrypted_password):
        raise bad_request(ErrorCode.CURRENT_PASSWORD_INVALID, "Current password is incorrect.")


def update_self(rt: Runtime, user: User, session: Session | None, change: UserUpdate,
                info: RequestInfo) -> User:
    """Apply ``change`` to ``user``, checking in GoTrue's order.

    A new password ends every other session and clears pending links and codes; metadata is
    merged (null deletes a key); a new email is mailed for confirmation (or applied at once for
    an anonymous user under MAILER_AUTOCONFIRM); a new phone gets a texted code (applied at once
    under SMS_AUTOCONFIRM). Writes
    user_modified / user_updated_password audit entries.
    """
    settings = rt.settings
    email = normalize_email(change.email) if change.email else None
    phone = normalize_phone(change.phone) if change.phone else None
    channel = phone_flows.check_channel(rt, change.channel) if phone else "sms"
    if change.password is not None:
        password_checks.check_new_password(rt, change.password)
    pkce_params = pkce.parse_params(change.code_challenge, change.code_challenge_method)
    if email == (user.email or None):
        email = None
    if phone == (user.phone or None):
        phone = None

    if change.app_metadata is not None and not _is_admin(rt, user):
        raise forbidden(ErrorCode.NOT_ADMIN, "Updating app_metadata requires admin privileges")
    changes_credentials = change.password is not None or email or phone
    if changes_credentials and _has_verified_factor(user) and (
            session is None or session.aal != AAL.aal2):
        raise unauthorized(ErrorCode.INSUFFICIENT_AAL,
                           "AAL2 session is required to update email or password when MFA is "
                           "enabled.")
    if change.password is not None and user.is_anonymous and not (user.email or user.phone):
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "Updating password of an anonymous user without an email or phone "
                            "is not allowed")
    if changes_credentials and user.is_sso_user:
        raise unprocessable(ErrorCode.USER_SSO_MANAGED,
                            "Updating email, phone or password of a SSO user is not allowed")
    email_taken = bool(email) and email_taken_by_other(email, user)
    # Anyone can make an anonymous session: its answer must not tell whether an address has an
    # account (unless autoconfirm applies the change at once, which a taken address cannot be).
    hide_taken = user.is_anonymous and not settings.mailer.autoconfirm
    if email_taken and not hide_taken:
        raise unprocessable(ErrorCode.EMAIL_EXISTS,
                            "A user with this email address has already been registered")
    if phone and address_taken(User.phone, phone):
        raise unprocessable(ErrorCode.PHONE_EXISTS,
                            "A user with this phone number has already been registered")

    now = rt.now()
    if change.password is not None:
        if settings.security.update_password_require_reauthentication:
            _check_reauthentication(rt, user, session, change.nonce)
        if settings.security.update_password_require_current_password:
            _check_current_password(rt, user, session, change.current_password)
        if user.encrypted_password and rt.hasher.verify(change.password, user.encrypted_password):
            raise unprocessable(ErrorCode.SAME_PASSWORD,
                                "New password should be different from the old password.")
        users.set_password(rt, user, change.password)
        if settings.security.create_email_identity_on_password_set:
            # The address becomes a way in of its own, listed among the identities.
            users.add_email_identity_if_missing(rt, user)
        sessions.delete_sessions(user.id, keep=session.id if session else None)
        audit.record("user_updated_password", audit.Actor.of_user(user), now=now, ip=info.ip)
        notifications.notify(rt, user, "password_changed")

    if change.data is not None:
        user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data, change.data)
    if change.app_metadata is not None:
        user.raw_app_meta_data = users.merge_metadata(user.raw_app_meta_data,
                                                      change.app_metadata)
    if email:
        _change_email(rt, user, email, change.redirect_to, pkce_params, taken=email_taken)
    if phone:
        _change_phone(rt, user, phone, channel, info)
    user.updated_at = now
    audit.record("user_modified", audit.Actor.of_user(user), now=now, ip=info.ip)
    return user


def _change_email(rt: Runtime, user: User, email: str, redirect_to: str,
                  pkce_params: pkce.PKCEParams | None, *, taken: bool = False) -> None:
    """Mail the confirmation of a new address; an anonymous user under autoconfirm gets it now.

    The confirmation goes to the new address, and in secure mode (the user has an email and
    MAILER_AUTOCONFIRM is off) also to the current one; mail_flows applies the 60 s rule on
    email_change_sent_at. With PKCE a flow_state (method email_change) is created first, so the
    link's ``pkce_`` token can be turned into an authorization code.
    """
    if user.is_anonymous and rt.settings.mailer.autoconfirm:
        # Like a signup: the address is the user's at once and the account is permanent.
        forget_email_change_tokens(user)
        user.email = email
        user.email_change = ""
        user.email_change_confirm_status = 0
        user.is_anonymous = False
        # As a confirmed email change does: metadata follows the address.
        user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data,
                                                       {"email": email})
        users.set_address_identity(rt, user, "email", email, verified=True)
        users.confirm_email(rt, user)
        return
    user.email_change = email
    if pkce_params is not None:
        pkce.create_flow(rt, pkce_params, user_id=user.id, authentication_method="email_change")
    if taken:
        # An anonymous user asking for another account's address: the same answer, no code.
        mail_flows.withhold_email_change(rt, user)
        return
    # An anonymous user's email is sent after the answer, which then takes as long as above.
    mail_flows.send_email_change(rt, user, redirect_to, pkce=pkce_params is not None,
                                 after_response=user.is_anonymous)


def email_taken_by_other(email: str, user: User | None) -> bool:
    """GoTrue's duplicate check for an address a user wants: another non-SSO user holds it.

    users.email is checked in every audience (the unique index spans them); identities count
    too, since an account reached through an OAuth identity with that address owns it as well.
    """
    others = sa.select(sa.literal(1)).where(User.email == email, User.is_sso_user.is_(False))
    identities = (sa.select(sa.literal(1)).select_from(Identity)
                  .join(User, User.id == Identity.user_id)
                  .where(Identity.email == email, User.is_sso_user.is_(False)))
    if user is not None:
        others = others.where(User.id != user.id)
        identities = identities.where(Identity.user_id != user.id)
    return any(db.session.execute(query.limit(1)).first() is not None
               for query in (others, identities))


def forget_email_change_tokens(user: User) -> None:
    """Drop both halves of a pending email change (columns and one_time_tokens rows)."""
    one_time_tokens.forget(user, OneTimeTokenType.email_change_token_current,
                           OneTimeTokenType.email_change_token_new)


def _change_phone(rt: Runtime, user: User, phone: str, channel: str,
                  info: RequestInfo) -> None:
    """SMS_AUTOCONFIRM applies a phone change at once; otherwise the new number gets a code
    (phone_change and phone_change_token, SMS_MAX_FREQUENCY applies). The answer never shows
    the message id."""
    if not rt.settings.sms.autoconfirm:
        phone_flows.send_code(rt, user, phone, "phone_change", channel, info)
        return
    old_phone = user.phone or ""
    had_identity = any(identity.provider == "phone" for identity in user.identities)
    user.phone = phone
    user.phone_change = ""
    user.is_anonymous = False
    users.set_address_identity(rt, user, "phone", phone, verified=True)
    users.confirm_phone(rt, user)
    notifications.phone_changed(rt, user, old_phone=old_phone, identity_created=not had_identity)
