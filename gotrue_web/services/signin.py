"""The password grant: sign in with email or phone and password.

Parity: GoTrue internal/api/token.go (ResourceOwnerPasswordGrant).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..errors import ErrorCode, bad_request, unprocessable
from ..extensions import db
from ..models import User
from ..runtime import RequestInfo, Runtime
from . import audit, password_attempts, password_checks, sessions
from .hooks import legacy as legacy_webhook
from .hooks.attempts import check_password_attempt
from .users import in_default_instance
from .validation import phone_digits

INVALID_CREDENTIALS = "Invalid login credentials"


def _lookup(column) -> sa.Select:
    # The user with identities and factors (for the answer) in one round trip.
    return (
        sa.select(User)
        .where(in_default_instance(), column == sa.bindparam("value"),
               User.aud == sa.bindparam("aud"), User.is_sso_user.is_(False))
        .options(joinedload(User.identities), joinedload(User.factors))
    )


_BY_EMAIL, _BY_PHONE = _lookup(User.email), _lookup(User.phone)


def _find(statement: sa.Select, value: str, aud: str) -> User | None:
    return db.session.execute(statement, {"value": value, "aud": aud}).unique().scalars().first()


def sign_in_with_password(rt: Runtime, *, email: str, phone: str, password: str,
                          info: RequestInfo) -> sessions.IssuedSession:
    """Check the credentials and start a session (amr ``password``).

    Unknown user, missing or wrong password all give the same 400 invalid_credentials after the
    same hashing work. A ban or a missing confirmation is only disclosed to the right password.
    The password_verification_attempt hook is told of every password check of a known user
    (valid false, or true once the ban check has passed) and may reject the attempt.
    """
    settings = rt.settings
    if email and phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only an email address or phone number should be provided on login.")
    if email:
        if not settings.external.email.enabled:
            raise unprocessable(ErrorCode.EMAIL_PROVIDER_DISABLED, "Email logins are disabled")
        account = email.strip().lower()
        provider = "email"
    elif phone:
        if not settings.external.phone_enabled:
            raise unprocessable(ErrorCode.PHONE_PROVIDER_DISABLED, "Phone logins are disabled")
        account = phone_digits(phone.strip())
        provider = "phone"
    else:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "missing email or phone")

    throttled = f"{provider}:{account}"
    password_attempts.check(rt, throttled)
    user = _find(_BY_EMAIL if provider == "email" else _BY_PHONE, account, info.aud)
    if user is None:
        rt.hasher.burn(password)
        password_attempts.record_failure(rt, throttled)
        rt.metrics.sign_in("password", provider, "failure")
        raise bad_request(ErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS)
    if not rt.hasher.verify(password, user.encrypted_password):
        password_attempts.record_failure(rt, throttled)
        rt.metrics.sign_in("password", provider, "failure")
        # The hook hears of every wrong password of a known user (and may reject it its way).
        check_password_attempt(rt, user.id, False, info.ip)
        raise bad_request(ErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS)
    password_attempts.record_success(rt, throttled)
    now = rt.now()
    if user.is_banned(now):
        raise bad_request(ErrorCode.USER_BANNED, "User is banned")
    check_password_attempt(rt, user.id, True, info.ip)
    if provider == "email" and not user.is_email_confirmed:
        raise bad_request(ErrorCode.EMAIL_NOT_CONFIRMED, "Email not confirmed")
    if provider == "phone" and not user.is_phone_confirmed:
        raise bad_request(ErrorCode.PHONE_NOT_CONFIRMED, "Phone not confirmed")

    audit.record("login", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"provider": provider})
    legacy_webhook.trigger(rt, "login", user)
    issued = sessions.start_session(rt, user, "password", info)
    rt.metrics.sign_in("password", provider, "success")
    issued.report_weak_password = True
    issued.weak_password = password_checks.login_weakness(rt, password)
    return issued
