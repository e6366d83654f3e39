"""The password grant: sign in with email or phone and password.

Parity: GoTrue internal/api/token.go (ResourceOwnerPasswordGrant).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..errors import ErrorCode, bad_request, unprocessable
from ..extensions import db, orm_transaction_open
from ..models import User
from ..runtime import RequestInfo, Runtime
from . import audit, password_attempts, password_checks, sessions
from .hooks import legacy as legacy_webhook
from .hooks.attempts import check_password_attempt
from .hot_paths import reads
from .hot_paths.sign_in import write_sign_in
from .validation import phone_digits

INVALID_CREDENTIALS = "Invalid login credentials"
_USERS = User.__table__


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
    user = reads.read_sign_in_user(provider, account, info.aud)
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

    metadata = (user.raw_user_meta_data, user.raw_app_meta_data)
    legacy_webhook.trigger(rt, "login", user)
    _keep_replaced_metadata(user, *metadata)
    issued = _start_session(rt, user, info, now, audit.entry_values(
        "login", audit.Actor.of_user(user), now=now, ip=info.ip, traits={"provider": provider}))
    rt.metrics.sign_in("password", provider, "success")
    issued.report_weak_password = True
    issued.weak_password = password_checks.login_weakness(rt, password)
    return issued


def _keep_replaced_metadata(user: reads.UserView, user_meta, app_meta) -> None:
    """The legacy webhook's reply may replace the metadata (on the view): write it in the
    request's transaction, which the sign-in's rows then join."""
    replaced = {column: getattr(user, column) for column, before in (
        ("raw_user_meta_data", user_meta), ("raw_app_meta_data", app_meta))
        if getattr(user, column) is not before}
    if replaced:
        db.session.connection().execute(
            sa.update(_USERS).where(_USERS.c.id == user.id).values(replaced))


def _start_session(rt: Runtime, user: reads.UserView, info: RequestInfo, now: datetime,
                   audit_entry: dict) -> sessions.IssuedSession:
    """The session of a password sign-in, written with the user's last_sign_in_at and the
    audit entry (hot_paths.sign_in).

    Usually on a connection of its own after the access token is minted: a custom_access_token
    hook that refuses leaves nothing written. A pg-functions hook runs in the request's
    transaction and sees the new session there, as in GoTrue; and a request that already wrote
    in its transaction (the webhook's metadata) keeps one transaction: then the rows go first,
    in that transaction."""
    rows = sessions.session_rows(user.id, "password", info, now, security=rt.settings.security)
    hook = rt.settings.hooks.custom_access_token
    in_request_transaction = (hook.enabled and hook.is_pg_function) or (
        orm_transaction_open())
    issued = None
    if not in_request_transaction:
        issued = sessions.issue(rt, user, rows, now, info.ip)
    if not write_sign_in(user.id, now, rows, audit_entry,
                         in_request_transaction=in_request_transaction):
        # Deleted since the read: as for any unknown account.
        raise bad_request(ErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS)
    user.last_sign_in_at = user.updated_at = now
    return issued or sessions.issue(rt, user, rows, now, info.ip)
