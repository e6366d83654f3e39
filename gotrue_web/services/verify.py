"""Verifying email links and codes (signup, invite, magic link, recovery, email change) and
texted codes (sms, phone_change).

Parity: GoTrue internal/api/verify.go. A link token is found through the hash one_time_tokens
stores of it; a code through its keyed digest in the user's column (security.codes). Verifying
applies the flow's action, clears every one-time token of the user and starts a session (amr
``otp``), except the first half of a secure email change.

Unlike GoTrue, the link token of a PKCE flow gives a session only through its code verifier:
GET /verify turns it into ``?code=``, POST /verify refuses it (400 bad_code_verifier). The flow's
redeem token (TokenHash, which a server-side ``verifyOtp({token_hash})`` uses) and its typed
code still give a session, as the official clients expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..db import begin_write_locked
from ..errors import ErrorCode, GoTrueError, bad_request, forbidden, unprocessable
from ..extensions import db
from ..models import OneTimeToken, OneTimeTokenType, User
from ..runtime import RequestInfo, Runtime
from ..security import codes
from . import audit, one_time_tokens, pkce, sessions, users
from .hooks import legacy as legacy_webhook
from .mail import notifications
from .phone import verification as phone_codes
from .validation import normalize_email

T = OneTimeTokenType

# verify type -> the one_time_tokens types that may hold its token
TOKEN_TYPES = {
    "signup": (T.confirmation_token,),
    "invite": (T.confirmation_token,),
    "magiclink": (T.recovery_token,),
    "recovery": (T.recovery_token,),
    "email": (T.confirmation_token, T.recovery_token),
    "email_change": (T.email_change_token_new, T.email_change_token_current),
}
EMAIL_TYPES = frozenset(TOKEN_TYPES)
PHONE_TYPES = frozenset({"sms", "phone_change"})
ALL_TYPES = EMAIL_TYPES | PHONE_TYPES

_COLUMN = {
    T.confirmation_token: ("confirmation_token", "confirmation_sent_at"),
    T.recovery_token: ("recovery_token", "recovery_sent_at"),
    T.email_change_token_new: ("email_change_token_new", "email_change_sent_at"),
    T.email_change_token_current: ("email_change_token_current", "email_change_sent_at"),
}

# The type ``email`` stands for a signup confirmation or a magic link, whichever token matched;
# GoTrue reports (and redirects with) that concrete type.
_CONCRETE_EMAIL_TYPE = {T.confirmation_token: "signup", T.recovery_token: "magiclink"}

# The authentication_method of the PKCE flow each verify type was issued with.
PKCE_METHOD = {
    "signup": "email/signup",
    "invite": "invite",
    "magiclink": "magiclink",
    "recovery": "recovery",
    "email_change": "email_change",
}

HALF_WAY_MESSAGE = ("Confirmation link accepted. Please proceed to confirm link sent to the "
                    "other email")
LINK_INVALID = "Email link is invalid or has expired"
CODE_INVALID = "Token has expired or is invalid"
PKCE_LINK_NEEDS_VERIFIER = ("This link belongs to a PKCE flow: open it (GET /verify) and "
                            "exchange the code it gives with the code verifier")


@dataclass
class VerifyResult:
    # The concrete type: ``email`` resolves to ``signup`` or ``magiclink``.
    verify_type: str
    user: User
    session: sessions.IssuedSession | None = None
    # Set for the first half of a secure email change.
    message: str | None = None
    # Set when the token belonged to a PKCE flow and the caller asked for a code.
    auth_code: str | None = None
    is_pkce: bool = False


def _expired(rt: Runtime, user: User, token_type: OneTimeTokenType) -> bool:
    sent_at = getattr(user, _COLUMN[token_type][1])
    if sent_at is None:
        return True
    return (rt.now() - sent_at).total_seconds() > rt.settings.mailer.otp_exp


def _locked_user(statement) -> list[User]:
    """Users of ``statement`` with their rows locked and attributes re-read after the wait.

    Two requests spending the same link or code queue on the user's row; the second then sees
    the cleared token and fails, so every token is single-use.
    """
    return list(db.session.execute(
        statement.with_for_update().execution_options(populate_existing=True)
    ).scalars().all())


def _find_by_token(token: str, verify_type: str
                   ) -> tuple[User, OneTimeTokenType, bool] | None:
    """The user and token type of a link token, and whether it may be redeemed without a
    PKCE code verifier."""
    forms = codes.stored_link_forms(token)
    row = db.session.execute(
        sa.select(OneTimeToken.user_id, OneTimeToken.token_type, OneTimeToken.token_hash)
        .where(OneTimeToken.token_hash.in_(list(forms)),
               OneTimeToken.token_type.in_(TOKEN_TYPES[verify_type]))
        .limit(1)
    ).first()
    if row is None:
        return None
    found = _locked_user(sa.select(User).where(User.id == row.user_id))
    user = found[0] if found else None
    # The user's column is cleared with the token: an empty one means the flow is over.
    if user is None or not getattr(user, _COLUMN[row.token_type][0]):
        return None
    return user, row.token_type, forms[row.token_hash]


def _find_by_code(rt: Runtime, verify_type: str, email: str, code: str, aud: str
                  ) -> tuple[tuple[User, OneTimeTokenType] | None, list[User]]:
    """The user and token type the code matches, or None; and the users it was tried against
    (their rows locked), whom a wrong code counts against."""
    hashed = one_time_tokens.code_digest(rt, email, code)
    in_audience = (users.in_default_instance(), User.aud == aud, User.is_sso_user.is_(False))
    if verify_type == "email_change":
        # The code came to either the current address or the new one.
        candidates = _locked_user(sa.select(User).where(
            *in_audience, sa.or_(User.email == email, User.email_change == email)))
        for user in candidates:
            if user.email == email and codes.matches(user.email_change_token_current, hashed):
                return (user, T.email_change_token_current), candidates
            if user.email_change == email and codes.matches(user.email_change_token_new, hashed):
                return (user, T.email_change_token_new), candidates
        return None, candidates
    candidates = _locked_user(sa.select(User).where(*in_audience, User.email == email).limit(1))
    for user in candidates:
        for token_type in TOKEN_TYPES[verify_type]:
            if codes.matches(getattr(user, _COLUMN[token_type][0]), hashed):
                return (user, token_type), candidates
    return None, candidates


def _wrong_code(rt: Runtime, verify_type: str, candidates: list[User], invalid: str):
    """403 otp_expired for a code that matched nothing, after counting it against the
    candidates' pending codes (one_time_tokens.count_failed_attempt): five wrong codes and
    the right one no longer works. The count is committed despite the error."""
    for user in candidates:
        one_time_tokens.count_failed_attempt(user, TOKEN_TYPES[verify_type], rt.now())
    error = forbidden(ErrorCode.OTP_EXPIRED, invalid)
    error.commit_first = bool(candidates)
    return error


def verify(rt: Runtime, verify_type: str, info: RequestInfo, *, token_hash: str = "",
           code: str = "", email: str = "", phone: str = "",
           want_auth_code: bool = False) -> VerifyResult:
    """Check a link token (``token_hash``) or a code for ``email`` or ``phone`` (validated
    digits, types sms and phone_change), then apply the action.

    Raises 403 otp_expired when nothing matches or the token is too old, 403 user_banned.
    ``want_auth_code`` (GET /verify) turns a PKCE token into an authorization code instead of a
    session; 400 flow_state_not_found when its flow is gone. Without it, the link token of a
    PKCE flow is refused with 400 bad_code_verifier.

    Metrics: a session started is a sign-in, a code or link that matched nothing or had expired
    a failed one (a PKCE flow's sign-in is counted when its code is exchanged).
    """
    provider = "phone" if verify_type in PHONE_TYPES else "email"
    try:
        result = _verify(rt, verify_type, info, token_hash=token_hash, code=code, email=email,
                         phone=phone, want_auth_code=want_auth_code)
    except GoTrueError as error:
        if error.error_code == ErrorCode.OTP_EXPIRED:
            rt.metrics.sign_in(_sign_in_method(verify_type), provider, "failure")
        raise
    if result.session is not None:
        rt.metrics.sign_in(_sign_in_method(result.verify_type), provider, "success")
    return result


def _sign_in_method(verify_type: str) -> str:
    return "magiclink" if verify_type == "magiclink" else "otp"


def _verify(rt: Runtime, verify_type: str, info: RequestInfo, *, token_hash: str,
            code: str, email: str, phone: str, want_auth_code: bool) -> VerifyResult:
    invalid = LINK_INVALID if token_hash else CODE_INVALID
    if verify_type not in EMAIL_TYPES:
        if token_hash:
            raise bad_request(ErrorCode.VALIDATION_FAILED, "Invalid email verification type")
        if not phone:
            raise forbidden(ErrorCode.OTP_EXPIRED, invalid)
        return _verify_phone(rt, verify_type, phone, code, info)
    # Taken before the first read so that concurrent uses of one token queue (SQLite).
    begin_write_locked(db.session)
    found = None
    redeemable = True
    if token_hash:
        by_token = _find_by_token(token_hash, verify_type)
        if by_token is not None:
            found, redeemable = by_token[:2], by_token[2]
    elif email:
        found, candidates = _find_by_code(rt, verify_type, normalize_email(email), code,
                                          info.aud)
        if found is None:
            raise _wrong_code(rt, verify_type, candidates, invalid)
    if found is None:
        raise forbidden(ErrorCode.OTP_EXPIRED, invalid)
    user, token_type = found
    if user.is_banned(rt.now()):
        raise forbidden(ErrorCode.USER_BANNED, "User is banned")
    if _expired(rt, user, token_type):
        raise forbidden(ErrorCode.OTP_EXPIRED, invalid)
    if not redeemable and not want_auth_code:
        # The emailed link of a PKCE flow: whoever holds it without the verifier (a leaked URL)
        # must not get a session. Nothing is spent, so the link still works in the browser.
        raise bad_request(ErrorCode.BAD_CODE_VERIFIER, PKCE_LINK_NEEDS_VERIFIER)

    if verify_type == "email":
        verify_type = _CONCRETE_EMAIL_TYPE[token_type]
    stored = getattr(user, _COLUMN[token_type][0]) or ""
    result = VerifyResult(verify_type=verify_type, user=user,
                          is_pkce=stored.startswith(codes.PKCE_PREFIX))
    if verify_type == "email_change":
        if not _apply_email_change(rt, user, token_type, info):
            result.message = HALF_WAY_MESSAGE
            return result
    elif verify_type in ("signup", "invite"):
        _apply_confirmation(rt, user, info)
    else:
        _apply_recovery(rt, user, info)
    users.clear_pending_tokens(user)
    users.sync_providers(user)

    if result.is_pkce and want_auth_code:
        flow = pkce.issue_auth_code(rt, user, PKCE_METHOD[verify_type])
        if flow is None:
            # Handing a session to whoever holds the link would defeat PKCE.
            raise bad_request(ErrorCode.FLOW_STATE_NOT_FOUND,
                              "No associated flow state found. No valid flow state found for "
                              "user.")
        result.auth_code = flow.auth_code
        return result
    result.session = sessions.start_session(rt, user, "otp", info)
    return result


def _apply_confirmation(rt: Runtime, user: User, info: RequestInfo) -> None:
    if user.invited_at is not None and not user.encrypted_password:
        # An invitee who never chose a password gets one nobody knows; they can reset it.
        user.encrypted_password = rt.hasher.hash(codes.random_password())
    was_confirmed = user.is_email_confirmed
    legacy_webhook.trigger(rt, "signup", user)
    users.confirm_email(rt, user)
    action = "invite_accepted" if user.invited_at is not None else "user_signedup"
    if not was_confirmed:
        audit.record(action, audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                     traits={"provider": "email"})
    audit.record("login", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                 traits={"provider": "email"})


def _apply_recovery(rt: Runtime, user: User, info: RequestInfo) -> None:
    if not user.is_email_confirmed:
        legacy_webhook.trigger(rt, "signup", user)
        users.confirm_email(rt, user)
        audit.record("user_signedup", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                     traits={"provider": "email"})
    else:
        legacy_webhook.trigger(rt, "login", user)
    audit.record("login", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                 traits={"provider": "email"})


def _apply_email_change(rt: Runtime, user: User, token_type: OneTimeTokenType,
                        info: RequestInfo) -> bool:
    """Record one confirmation of a pending change; True once the change is applied."""
    from .mail import flows as mail_flows

    if mail_flows.secure_email_change(rt, user) and user.email_change_confirm_status == 0:
        # First of the two confirmations: forget this half's token, wait for the other.
        column = _COLUMN[token_type][0]
        setattr(user, column, "")
        db.session.execute(
            sa.delete(OneTimeToken).where(OneTimeToken.user_id == user.id,
                                          OneTimeToken.token_type == token_type),
            execution_options={"synchronize_session": False},
        )
        user.email_change_confirm_status = 1
        user.updated_at = rt.now()
        return False
    legacy_webhook.trigger(rt, "email_change", user)
    new_email = user.email_change
    old_email = user.email or ""
    user.email = new_email
    user.email_change = ""
    user.email_change_confirm_status = 0
    user.is_anonymous = False
    user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data, {"email": new_email})
    users.set_address_identity(rt, user, "email", new_email, verified=True)
    users.confirm_email(rt, user)
    audit.record("user_modified", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                 traits={"email_change": new_email})
    # To the address that just stopped being the user's: its owner must hear of it.
    notifications.notify(rt, user, "email_changed", to=old_email, old_email=old_email)
    return True


# verify type -> (the users column the number is looked up in, the token type of its code)
_PHONE_LOOKUP = {
    "sms": (User.phone, T.confirmation_token),
    "phone_change": (User.phone_change, T.phone_change_token),
}


def _verify_phone(rt: Runtime, verify_type: str, phone: str, code: str,
                  info: RequestInfo) -> VerifyResult:
    """A texted code: sms finds the user by ``users.phone``, phone_change by the pending new
    number. Checks in GoTrue's order: ban, test code, twilio_verify, stored code (within
    SMS_OTP_EXP; wrong ones count towards the five that forget it)."""
    column, token_type = _PHONE_LOOKUP[verify_type]
    begin_write_locked(db.session)
    # A pending new number is not unique: the users asking for it are all candidates.
    candidates = _locked_user(sa.select(User).where(
        users.in_default_instance(), User.aud == info.aud, User.is_sso_user.is_(False),
        column == phone).order_by(User.created_at))
    if not candidates:
        raise forbidden(ErrorCode.OTP_EXPIRED, CODE_INVALID)
    user = next((u for u in candidates
                 if phone_codes.stored_code_matches(rt, u, token_type, phone, code)),
                candidates[0])
    if user.is_banned(rt.now()):
        raise forbidden(ErrorCode.USER_BANNED, "User is banned")
    if not phone_codes.test_code_matches(rt, phone, code):
        if phone_codes.delegated(rt):
            if not phone_codes.provider_accepts(rt, phone, code):
                raise forbidden(ErrorCode.OTP_EXPIRED, CODE_INVALID)
        elif not phone_codes.stored_code_matches(rt, user, token_type, phone, code):
            raise _wrong_code_of(rt, token_type, candidates)
        elif not phone_codes.stored_code_fresh(rt, user, token_type):
            raise forbidden(ErrorCode.OTP_EXPIRED, CODE_INVALID)

    # GoTrue sends the signup event for both phone types, before confirming.
    legacy_webhook.trigger(rt, "signup", user)
    if verify_type == "sms":
        _apply_phone_confirmation(rt, user, info)
    else:
        _apply_phone_change(rt, user, info)
    users.clear_pending_tokens(user)
    user.is_anonymous = False
    users.sync_providers(user)
    return VerifyResult(verify_type=verify_type, user=user,
                        session=sessions.start_session(rt, user, "otp", info))


def _wrong_code_of(rt: Runtime, token_type: OneTimeTokenType, candidates: list[User]):
    for user in candidates:
        one_time_tokens.count_failed_attempt(user, (token_type,), rt.now())
    error = forbidden(ErrorCode.OTP_EXPIRED, CODE_INVALID)
    error.commit_first = True
    return error


def _apply_phone_confirmation(rt: Runtime, user: User, info: RequestInfo) -> None:
    # Every code sign-in moves phone_confirmed_at, as GoTrue's ConfirmPhone does.
    user.phone_confirmed_at = rt.now()
    users.confirm_phone(rt, user)
    actor = audit.Actor.of_user(user)
    audit.record("user_signedup", actor, now=rt.now(), ip=info.ip, traits={"provider": "phone"})
    audit.record("login", actor, now=rt.now(), ip=info.ip, traits={"provider": "phone"})


def _apply_phone_change(rt: Runtime, user: User, info: RequestInfo) -> None:
    """The pending number becomes the user's, confirmed, with the phone identity following."""
    now = rt.now()
    new_phone = user.phone_change or ""
    # Someone may have taken the number since the code was sent (users.phone is unique).
    taken = sa.select(User.id).where(User.phone == new_phone, User.id != user.id).limit(1)
    if db.session.execute(taken).first() is not None:
        raise unprocessable(ErrorCode.PHONE_EXISTS,
                            "A user with this phone number has already been registered")
    audit.record("user_modified", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"phone_change": new_phone})
    identity = next((i for i in user.identities if i.provider == "phone"), None)
    if identity is None:
        users.add_identity(rt, user, "phone", str(user.id), {
            "sub": str(user.id), "phone": new_phone, "phone_verified": True})
    else:
        identity.set_data({**(identity.identity_data or {}), "phone": new_phone,
                           "phone_verified": True})
        identity.updated_at = now
    old_phone = user.phone or ""
    user.phone = new_phone
    user.phone_change = ""
    user.phone_confirmed_at = now
    users.confirm_phone(rt, user)
    notifications.phone_changed(rt, user, old_phone=old_phone,
                                identity_created=identity is None)


def check_post_shape(*, verify_type: str, token: str, token_hash: str, email: str, phone: str,
                     redirect_to: str) -> None:
    """POST /verify takes a type and either {token, email|phone} or {token_hash} alone."""
    if not verify_type:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Verify requires a verification type")
    if bool(token) == bool(token_hash):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Verify requires either a token or a token hash")
    if token_hash:
        if email or phone or redirect_to:
            raise bad_request(ErrorCode.VALIDATION_FAILED,
                              "Only the token_hash and type should be provided")
        return
    if bool(email) == bool(phone):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only an email address or phone number should be provided on verify")
