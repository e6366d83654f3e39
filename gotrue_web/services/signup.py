"""Sign-up with email or phone and password, and anonymous sign-in.

Parity: GoTrue internal/api/signup.go and anonymous.go.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ..errors import ErrorCode, GoTrueError, bad_request, unprocessable
from ..extensions import db
from ..models import Identity, User
from ..runtime import RequestInfo, Runtime
from . import audit, password_checks, pkce, send_budgets, sessions, users
from .hooks import legacy as legacy_webhook
from .hooks import user_created
from . import phone as phone_flows
from .mail import flows as mail_flows
from .validation import normalize_email, normalize_phone


@dataclass(frozen=True)
class SignupRequest:
    email: str = ""
    phone: str = ""
    password: str = ""
    data: dict | None = None
    channel: str = ""
    redirect_to: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""


@dataclass
class SignupResult:
    """Either a session (autoconfirm, anonymous) or just the user (confirmation pending)."""

    session: sessions.IssuedSession | None = None
    user: User | None = None
    # A phone signup's texted code: the provider's message id ("" if none; /signup never shows
    # it, /otp does). ``fake``: the user is a look-alike, not in the database.
    message_id: str = ""
    fake: bool = False


def check_signup_allowed(rt: Runtime) -> None:
    """422 signup_disabled when GOTRUE_DISABLE_SIGNUP is set."""
    if rt.settings.disable_signup:
        raise unprocessable(ErrorCode.SIGNUP_DISABLED, "Signups not allowed for this instance")


def sign_up(rt: Runtime, request: SignupRequest, info: RequestInfo) -> SignupResult:
    """Create an account, in GoTrue's order of checks.

    Sends a confirmation email (after the answer) unless MAILER_AUTOCONFIRM; a confirmed
    address gets a look-alike of a new user back in the same time (no enumeration), an
    unconfirmed one gets its confirmation re-sent and keeps its password only if the request
    presented it. Writes user_signedup / login / user_repeated_signup /
    user_confirmation_requested audit entries.
    """
    if not request.email and not request.phone:
        return SignupResult(session=sign_in_anonymously(rt, request.data, info))
    check_signup_allowed(rt)
    if not request.password:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Signup requires a valid password")
    password_checks.check_new_password(rt, request.password)
    if request.email and request.phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only an email address or phone number should be provided on signup.")
    if request.phone:
        phone_flows.check_channel(rt, request.channel)
    if request.phone and (request.code_challenge or request.code_challenge_method):
        raise bad_request(ErrorCode.VALIDATION_FAILED, "PKCE not supported for phone signups")
    pkce_params = pkce.parse_params(request.code_challenge, request.code_challenge_method)
    if request.email:
        return _sign_up_with_email(rt, request, pkce_params, info)
    return _sign_up_with_phone(rt, request, info)


def address_taken(column, value: str) -> bool:
    """True when a non-SSO user in any audience holds this email or phone.

    The unique indexes span audiences, so such an address cannot be signed up again even though
    lookups by audience do not find it.
    """
    return db.session.execute(
        sa.select(sa.literal(1)).where(column == value, User.is_sso_user.is_(False)).limit(1)
    ).first() is not None


def _look_alike(rt: Runtime, aud: str, address: str, request: SignupRequest, provider: str,
                *, like: User | None = None) -> User:
    """What a new signup for ``address`` answers, built without touching the database: a new
    user's role, one ``provider`` identity carrying the request's data, and the dates of now.

    A signup for a confirmed address gets it with a random id, so its answer looks like a new
    user's (GoTrue's fake user has an empty role and no identities, which tells). An invitee's
    answer is built ``like`` the real user (id and dates) without the metadata, identities and
    invitation date the inviter gave it. Never added to the database session.
    """
    now = rt.now()
    user = User(
        id=uuid.uuid4() if like is None else like.id, aud=aud,
        role=rt.settings.jwt.default_group_name if like is None else like.role,
        email=address if provider == "email" else None,
        phone=address if provider == "phone" else None,
        raw_user_meta_data=dict(request.data or {}), is_anonymous=False, factors=[],
        created_at=now if like is None else like.created_at,
        updated_at=now if like is None else like.updated_at,
        confirmation_sent_at=now if like is None else like.confirmation_sent_at,
    )
    # As a new user's: a phone identity carries no number (_sign_up_with_phone).
    identity_data = users.base_identity_data(user, email=user.email, phone=None,
                                             extra=request.data)
    identity = Identity(id=uuid.uuid4(), user_id=user.id, provider=provider,
                        provider_id=str(user.id), created_at=user.created_at,
                        updated_at=user.created_at, last_sign_in_at=user.created_at)
    identity.set_data(identity_data)
    user.identities = [identity]
    user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data, identity_data)
    user.raw_app_meta_data = {"provider": provider, "providers": [provider]}
    return user


def _already_registered(rt: Runtime, existing: User | None, provider: str,
                        info: RequestInfo) -> GoTrueError:
    """422 user_already_exists; the repeated-signup audit entry is kept despite the error."""
    if existing is not None:
        audit.record("user_repeated_signup", audit.Actor.of_user(existing), now=rt.now(),
                     ip=info.ip, traits={"provider": provider})
    error = unprocessable(ErrorCode.USER_ALREADY_EXISTS, "User already registered")
    error.commit_first = True
    return error


def _repeated_signup(rt: Runtime, existing: User | None, address: str, request: SignupRequest,
                     provider: str, info: RequestInfo) -> SignupResult:
    """A signup for a confirmed address: 422 under either autoconfirm, else a look-alike of a
    new user, after the bcrypt work a new user's password costs."""
    settings = rt.settings
    if settings.mailer.autoconfirm or settings.sms.autoconfirm:
        raise _already_registered(rt, existing, provider, info)
    rt.hasher.burn(request.password)
    if provider == "email":
        # The email budgets count as if a confirmation went out, as for a new address.
        send_budgets.charge_email(rt, address)
    if existing is not None:
        audit.record("user_repeated_signup", audit.Actor.of_user(existing), now=rt.now(),
                     ip=info.ip, traits={"provider": provider})
    return SignupResult(user=_look_alike(rt, info.aud, address, request, provider), fake=True)


def _autoconfirm_existing(rt: Runtime, existing: User, request: SignupRequest, provider: str,
                          info: RequestInfo) -> SignupResult:
    """Under autoconfirm, an unconfirmed account is confirmed and signed in.

    GoTrue does this without looking at the password; we require the account's own password,
    so nobody can take over an invited or admin-created account by signing up with its address.
    """
    if not rt.hasher.verify(request.password, existing.encrypted_password):
        raise _already_registered(rt, existing, provider, info)
    legacy_webhook.trigger(rt, "signup", existing)
    if provider == "email":
        users.confirm_email(rt, existing)
    else:
        users.confirm_phone(rt, existing)
    actor = audit.Actor.of_user(existing)
    audit.record("user_signedup", actor, now=rt.now(), ip=info.ip, traits={"provider": provider})
    audit.record("login", actor, now=rt.now(), ip=info.ip, traits={"provider": provider})
    legacy_webhook.trigger(rt, "login", existing)
    return SignupResult(session=sessions.start_session(rt, existing, "password", info))


def register_email_user(rt: Runtime, email: str, password: str | None, data: dict | None,
                        info: RequestInfo, *, audit_signup: bool = True) -> User:
    """A new, unconfirmed user with an email identity (``email`` already normalised).

    Writes user_signedup unless ``audit_signup`` is off (invitations record user_invited);
    with it, an after_user_created error is answered as /signup does. Used by /signup, the
    passwordless flows and invitations.
    """
    user = users.new_user(rt, aud=info.aud, email=email, password=password, user_metadata=data,
                          providers=("email",), ip=info.ip,
                          after_hook=user_created.SIGNUP if audit_signup else user_created.PASS)
    _add_first_identity(rt, user, "email", email=email, phone=None, data=data)
    if audit_signup:
        audit.record("user_signedup", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                     traits={"provider": "email"})
        rt.metrics.sign_up("email", "email")
    return user


def _sign_up_with_email(rt: Runtime, request: SignupRequest,
                        pkce_params: pkce.PKCEParams | None, info: RequestInfo) -> SignupResult:
    settings = rt.settings
    if not settings.external.email.enabled:
        raise bad_request(ErrorCode.EMAIL_PROVIDER_DISABLED, "Email signups are disabled")
    email = normalize_email(request.email)
    autoconfirm = settings.mailer.autoconfirm
    existing, taken = users.signup_lookup(User.email, email, info.aud)
    if existing is None and taken:
        # Held in another audience: answer as for a confirmed address, touch nothing.
        return _repeated_signup(rt, None, email, request, "email", info)
    if existing is not None:
        if existing.is_email_confirmed:
            return _repeated_signup(rt, existing, email, request, "email", info)
        if autoconfirm:
            return _autoconfirm_existing(rt, existing, request, "email", info)
        # Unconfirmed: send the confirmation again.
        audit.record("user_confirmation_requested", audit.Actor.of_user(existing), now=rt.now(),
                     ip=info.ip, traits={"provider": "email"})
        keep_password_only_if_presented(rt, existing, request.password)
        _send_confirmation(rt, existing, request, pkce_params)
        if existing.invited_at is not None:
            return SignupResult(user=_look_alike(rt, info.aud, email, request, "email",
                                                 like=existing))
        return SignupResult(user=existing)

    user = register_email_user(rt, email, request.password, request.data, info)
    if autoconfirm:
        legacy_webhook.trigger(rt, "signup", user)
        users.confirm_email(rt, user)
        audit.record("login", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                     traits={"provider": "email"})
        legacy_webhook.trigger(rt, "login", user)
        # GoTrue answers with the session before its after_user_created call.
        user_created.skip_after(user)
        return SignupResult(session=sessions.start_session(rt, user, "password", info))
    _send_confirmation(rt, user, request, pkce_params)
    return SignupResult(user=user)


def keep_password_only_if_presented(rt: Runtime, user: User, password: str) -> None:
    """A signup for an unconfirmed account keeps its stored password only when it presents it.

    Otherwise the password is cleared: confirming the address must never activate a password
    someone else chose (an attacker who signed up first with the owner's address). The
    confirmation link still signs the owner in, who then sets a password. One bcrypt check,
    the work the other signup branches do.
    """
    if not rt.hasher.verify(password, user.encrypted_password):
        user.encrypted_password = ""
        user.updated_at = rt.now()


def _send_confirmation(rt: Runtime, user: User, request: SignupRequest,
                       pkce_params: pkce.PKCEParams | None) -> None:
    if pkce_params is not None:
        pkce.create_flow(rt, pkce_params, user_id=user.id, authentication_method="email/signup")
    mail_flows.send_confirmation(rt, user, request.redirect_to, pkce=pkce_params is not None,
                                 after_response=True)


def _sign_up_with_phone(rt: Runtime, request: SignupRequest, info: RequestInfo, *,
                        for_otp: bool = False) -> SignupResult:
    """A phone signup; the confirmation code is texted (codes.send_code) unless SMS_AUTOCONFIRM.

    ``for_otp``: POST /otp's internal signup. It leaves an existing account's password alone
    and issues no session (under SMS_AUTOCONFIRM /otp then texts a code as for a confirmed
    number, so an unconfirmed account is confirmed by that code, not by the signup).
    """
    settings = rt.settings
    if not settings.external.phone_enabled:
        raise bad_request(ErrorCode.PHONE_PROVIDER_DISABLED, "Phone signups are disabled")
    phone = normalize_phone(request.phone)
    channel = request.channel or "sms"
    autoconfirm = settings.sms.autoconfirm
    if not autoconfirm:
        # Refused before the number is looked up, so a known number answers as a new one does.
        phone_flows.require_sender(rt, phone)
    existing, taken = users.signup_lookup(User.phone, phone, info.aud)
    if existing is None and taken:
        return _repeated_signup(rt, None, phone, request, "phone", info)
    if existing is not None and existing.is_phone_confirmed:
        return _repeated_signup(rt, existing, phone, request, "phone", info)
    if existing is not None:
        if autoconfirm:
            if for_otp:
                return SignupResult(user=existing)
            return _autoconfirm_existing(rt, existing, request, "phone", info)
        # Unconfirmed: text the confirmation again (SMS_MAX_FREQUENCY applies).
        audit.record("user_confirmation_requested", audit.Actor.of_user(existing), now=rt.now(),
                     ip=info.ip, traits={"provider": "phone"})
        if not for_otp:
            keep_password_only_if_presented(rt, existing, request.password)
        message_id = phone_flows.send_code(rt, existing, phone, "confirmation", channel, info)
        return SignupResult(user=existing, message_id=message_id)
    user = users.new_user(rt, aud=info.aud, phone=phone, password=request.password,
                          user_metadata=request.data, providers=("phone",), ip=info.ip,
                          after_hook=user_created.SIGNUP)
    # GoTrue's phone identity carries no number: {sub, email_verified, phone_verified} + data.
    _add_first_identity(rt, user, "phone", email=None, phone=None, data=request.data)
    rt.metrics.sign_up("phone", "phone")
    actor = audit.Actor.of_user(user)
    if not autoconfirm:
        audit.record("user_confirmation_requested", actor, now=rt.now(), ip=info.ip,
                     traits={"provider": "phone"})
        message_id = phone_flows.send_code(rt, user, phone, "confirmation", channel, info)
        return SignupResult(user=user, message_id=message_id)
    legacy_webhook.trigger(rt, "signup", user)
    users.confirm_phone(rt, user)
    audit.record("user_signedup", actor, now=rt.now(), ip=info.ip, traits={"provider": "phone"})
    if for_otp:
        return SignupResult(user=user)
    audit.record("login", actor, now=rt.now(), ip=info.ip, traits={"provider": "phone"})
    legacy_webhook.trigger(rt, "login", user)
    user_created.skip_after(user)
    return SignupResult(session=sessions.start_session(rt, user, "password", info))


def sign_up_for_otp(rt: Runtime, phone: str, channel: str, data: dict | None,
                    info: RequestInfo) -> SignupResult:
    """POST /otp for a number without a confirmed account: GoTrue's internal /signup with a
    random password nobody knows (DISABLE_SIGNUP applies; no password rules: it is not chosen
    by anyone). ``phone`` is normalised and ``channel`` checked."""
    check_signup_allowed(rt)
    request = SignupRequest(phone=phone, password=secrets.token_urlsafe(48), data=data,
                            channel=channel)
    return _sign_up_with_phone(rt, request, info, for_otp=True)


def _add_first_identity(rt: Runtime, user: User, provider: str, *, email: str | None,
                        phone: str | None, data: dict | None) -> None:
    identity_data = users.base_identity_data(user, email=email, phone=phone, extra=data)
    users.add_identity(rt, user, provider, str(user.id), identity_data)
    # GoTrue's own keys go into user_metadata (the request's data is there already, unless the
    # legacy webhook's validate reply replaced it: that replacement stands).
    own = users.base_identity_data(user, email=email, phone=phone, extra=None)
    user.raw_user_meta_data = users.merge_metadata(
        user.raw_user_meta_data,
        {key: value for key, value in identity_data.items() if key in own or value is None})
    user.raw_app_meta_data = {**(user.raw_app_meta_data or {}), "provider": provider,
                              "providers": [provider]}


def sign_in_anonymously(rt: Runtime, data: dict | None, info: RequestInfo
                        ) -> sessions.IssuedSession:
    """A session for a new anonymous user (no email, no phone, no identities).

    Writes user_signedup and login audit entries (provider ``anonymous``).
    """
    settings = rt.settings
    if not settings.external.anonymous_users_enabled:
        raise unprocessable(ErrorCode.ANONYMOUS_PROVIDER_DISABLED,
                            "Anonymous sign-ins are disabled")
    check_signup_allowed(rt)
    user = users.new_user(rt, aud=info.aud, user_metadata=data, is_anonymous=True, ip=info.ip)
    user.identities = []
    actor = audit.Actor.of_user(user)
    audit.record("user_signedup", actor, now=rt.now(), ip=info.ip,
                 traits={"provider": "anonymous"})
    audit.record("login", actor, now=rt.now(), ip=info.ip, traits={"provider": "anonymous"})
    rt.metrics.sign_up("anonymous", "anonymous")
    return sessions.start_session(rt, user, "anonymous", info)
