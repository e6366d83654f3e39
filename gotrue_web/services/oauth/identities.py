"""Manual identity linking and unlinking (spec oauth-sso.md section 4).

Parity: GoTrue internal/api/identity.go (LinkIdentity, DeleteIdentity, linkIdentityToUser) and
models/user.go (UpdateUserEmailFromIdentities). Both routes sit behind
GOTRUE_SECURITY_MANUAL_LINKING_ENABLED.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from ...db import begin_write_locked
from ...errors import ErrorCode, bad_request, forbidden, not_found, unprocessable
from ...extensions import db
from ...models import Identity, User
from ...runtime import RequestInfo, Runtime
from .. import audit, pkce, users
from ..mail import flows as mail_flows
from ..mail import notifications
from . import flow
from .linking import SignIn

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def require_manual_linking(rt: Runtime) -> None:
    if not rt.settings.security.manual_linking_enabled:
        raise not_found(ErrorCode.MANUAL_LINKING_DISABLED, "Manual linking is disabled")


# --- GET /user/identities/authorize --------------------------------------------------------------


def start_linking(rt: Runtime, user: User, *, provider_query: str, scopes: str,
                  pkce_params: pkce.PKCEParams | None, referrer: str,
                  query: list[tuple[str, str]]) -> str:
    """Start an OAuth flow whose callback links the provider identity to ``user``; the
    provider's authorize URL."""
    require_manual_linking(rt)
    return flow.start(rt, provider_query=provider_query, scopes=scopes, pkce_params=pkce_params,
                      invite_token="", referrer=referrer, query=query,
                      linking_target_id=user.id)


# --- the callback of a linking flow --------------------------------------------------------------


def link_to_target(rt: Runtime, sign_in: SignIn, target_id: uuid.UUID,
                   info: RequestInfo) -> User:
    """Spec 4 "At the callback": attach the provider identity to the flow's target user."""
    target = db.session.get(User, target_id)
    if target is None:
        raise unprocessable(ErrorCode.USER_NOT_FOUND, "Linking target user not found")
    existing = db.session.execute(
        sa.select(Identity).where(Identity.provider_id == sign_in.subject,
                                  Identity.provider == sign_in.provider)
    ).scalar_one_or_none()
    if existing is not None:
        message = ("Identity is already linked" if existing.user_id == target.id
                   else "Identity is already linked to another user")
        raise unprocessable(ErrorCode.IDENTITY_ALREADY_EXISTS, message)
    now = rt.now()
    users.add_identity(rt, target, sign_in.provider, sign_in.subject, sign_in.identity_data)
    audit.record("identity_linked", audit.Actor.of_user(target), now=now, ip=info.ip,
                 traits={"provider": sign_in.provider})
    if not target.email:
        if not rederive_email(rt, target):
            raise _email_exists()
        _flush_or(_email_exists)
        if target.email:
            _confirm_or_mail(rt, sign_in, target)
    users.sync_providers(target)
    target.updated_at = now
    notifications.notify(rt, target, "identity_linked", provider=sign_in.provider)
    return target


def _confirm_or_mail(rt: Runtime, sign_in: SignIn, target: User) -> None:
    """The target got its first email from the provider: confirmed when the provider vouches
    for it, which also makes an anonymous user permanent; otherwise a confirmation mail."""
    if not sign_in.identity_data.get("email_verified"):
        users.sync_providers(target)
        mail_flows.send_confirmation(rt, target, sign_in.referrer, pkce=sign_in.pkce,
                                     after_response=True)
        error = unprocessable(
            ErrorCode.EMAIL_NOT_CONFIRMED,
            f"Unverified email with {sign_in.provider}. A confirmation email has been sent to "
            f"your {sign_in.provider} email")
        # The link and the pending confirmation stay: the user finishes by confirming.
        error.commit_first = True
        raise error
    users.confirm_email(rt, target)
    target.is_anonymous = False


# --- DELETE /user/identities/{identity_id} -------------------------------------------------------


def unlink(rt: Runtime, user: User, identity_id: str, *, token_audiences: list[str],
           request_aud: str, info: RequestInfo) -> None:
    """Remove one of the caller's identities, in the spec's order of checks."""
    require_manual_linking(rt)
    try:
        wanted = uuid.UUID(identity_id)
    except ValueError:
        raise not_found(ErrorCode.VALIDATION_FAILED, "identity_id must be an UUID") from None
    if not token_audiences or request_aud != token_audiences[0]:
        raise forbidden(ErrorCode.UNEXPECTED_AUDIENCE,
                        "Token audience doesn't match request audience")
    remove_identity(rt, user.id, wanted, info=info)


def remove_identity(rt: Runtime, user_id: uuid.UUID, wanted: uuid.UUID, *, info: RequestInfo,
                    actor: audit.Actor | None = None, traits: dict | None = None) -> User:
    """The rules of unlinking that the API and the console share: at least one identity must
    remain, the identity must be the user's, and the user's email follows the remaining ones.
    The audit entry names ``actor`` (the user themselves when None) with ``traits`` added.
    Returns the user, row-locked in the current transaction."""
    user = _locked(user_id)
    remaining = list(user.identities)
    if len(remaining) < 2:
        raise unprocessable(ErrorCode.SINGLE_IDENTITY_NOT_DELETABLE,
                            "User must have at least 1 identity after unlinking")
    doomed = next((i for i in remaining if i.id == wanted), None)
    if doomed is None:
        raise unprocessable(ErrorCode.IDENTITY_NOT_FOUND, "Identity doesn't exist")
    now = rt.now()
    # Told at the address the identity carried (its owner, even when whoever unlinked it has
    # changed the account's address), else the account's.
    told = doomed.email or user.email or ""
    audit.record("identity_unlinked", actor or audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={**(traits or {}), "identity_id": str(doomed.id),
                         "provider": doomed.provider, "provider_id": doomed.provider_id})
    user.identities.remove(doomed)
    db.session.delete(doomed)
    if doomed.provider == "phone":
        user.phone = None
        user.phone_confirmed_at = None
    elif not rederive_email(rt, user):
        raise _email_conflict()
    users.sync_providers(user)
    user.updated_at = now
    _flush_or(_email_conflict)
    notifications.notify(rt, user, "identity_unlinked", to=told, provider=doomed.provider)
    return user


def _locked(user_id: uuid.UUID) -> User:
    """The caller again, row-locked in a write transaction, so two unlinks at once cannot both
    pass the "at least one identity left" check."""
    db.session.rollback()
    begin_write_locked(db.session)
    user = db.session.execute(
        sa.select(User).where(User.id == user_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if user is None:
        raise forbidden(ErrorCode.USER_NOT_FOUND, "User from sub claim in JWT does not exist")
    return user


def _email_exists():
    return bad_request(ErrorCode.EMAIL_EXISTS,
                       "A user with this email address has already been registered")


def _email_conflict():
    return unprocessable(ErrorCode.EMAIL_CONFLICT_IDENTITY_NOT_DELETABLE,
                         "Unable to unlink identity due to email conflict")


def _flush_or(conflict) -> None:
    """users.email is unique beyond one audience (across all users on MariaDB, models/user.py),
    so an address held in another audience only shows up as a unique violation."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        error = conflict()
        error.cause = exc
        raise error from exc


# --- the user's email from its identities ---------------------------------------------------------


def _rank(identity: Identity) -> tuple:
    """Verified emails first, then unverified ones, then identities without an email; older
    first, then by id, so the choice is the same on every database."""
    if not identity.email:
        kind = 2
    else:
        kind = 0 if (identity.identity_data or {}).get("email_verified") else 1
    return kind, identity.created_at or _EPOCH, str(identity.id)


def _taken_by_other(email: str, user: User) -> bool:
    other = users.find_by_email(email, user.aud)
    return other is not None and other.id != user.id


def rederive_email(rt: Runtime, user: User) -> bool:
    """Spec 4: point users.email at one of the remaining identities' emails. False when every
    candidate address belongs to another user of the audience. The caller flushes (_flush_or):
    the address may still clash with a user of another audience."""
    current = (user.email or "").lower()
    if current and any(i.email == current for i in user.identities):
        return True
    with db.session.no_autoflush:
        chosen = next((i for i in sorted(user.identities, key=_rank)
                       if not (i.email and _taken_by_other(i.email, user))), None)
    if chosen is None:
        return False
    email = chosen.email or ""
    if email != current:
        # Pending links and codes were sent to the old address.
        users.clear_pending_tokens(user)
        user.email = email or None
    verified = bool((chosen.identity_data or {}).get("email_verified"))
    if not email or not (verified or rt.settings.mailer.autoconfirm):
        user.email_confirmed_at = None
        user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data,
                                                       {"email_verified": False})
    return True
