"""Enrolling, removing and editing MFA factors (GoTrue's POST and DELETE /factors and the
admin's factor routes).

A factor starts unverified; the first successful verify makes it verified and the session aal2.
Unverified factors that nobody finished die after MFA_FACTOR_EXPIRY_DURATION: they are deleted
(for every user) whenever someone enrols, as GoTrue does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from ...errors import (
    ErrorCode,
    GoTrueError,
    bad_request,
    conflict,
    forbidden,
    not_found,
    unprocessable,
)
from ...extensions import db
from ...models import AAL, AMRClaim, Factor, FactorStatus, FactorType, Session, User
from ...runtime import RequestInfo, Runtime
from ...security import db_encryption, totp
from ...settings import Settings
from .. import audit
from ..mail import notifications
from ..mail.links import lock_user
from ..validation import normalize_phone

# The amr method a verified factor of each type gives its sessions.
AMR_METHOD = {"totp": "totp", "phone": "mfa/phone", "webauthn": "mfa/webauthn"}


@dataclass
class Enrolment:
    """A new factor and what the client shows its user: the TOTP secret, URI and QR code, or
    the phone number as the client sent it (a WebAuthn factor has nothing to show: its
    credential is registered by its first challenge and verify)."""

    factor: Factor
    secret: str = ""
    uri: str = ""
    qr_code: str = ""
    phone: str = ""


def require_not_anonymous(user: User) -> None:
    if user.is_anonymous:
        raise forbidden(ErrorCode.NO_AUTHORIZATION,
                        "Anonymous user not allowed to perform these actions")


def check_enroll_enabled(rt: Runtime, factor_type: str) -> None:
    mfa = rt.settings.mfa
    if factor_type == "totp" and not mfa.totp_enroll_enabled:
        raise unprocessable(ErrorCode.MFA_TOTP_ENROLL_NOT_ENABLED,
                            "MFA enroll is disabled for TOTP")
    if factor_type == "phone" and not mfa.phone_enroll_enabled:
        raise unprocessable(ErrorCode.MFA_PHONE_ENROLL_NOT_ENABLED,
                            "MFA enroll is disabled for Phone")
    if factor_type == "webauthn" and not mfa.webauthn_enroll_enabled:
        raise unprocessable(ErrorCode.MFA_WEBAUTHN_ENROLL_NOT_ENABLED,
                            "MFA enroll is disabled for WebAuthn")
    if factor_type not in AMR_METHOD:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "factor_type needs to be totp, phone, or webauthn")


def enroll(rt: Runtime, user: User, session: Session | None, info: RequestInfo, *,
           factor_type: str, friendly_name: str = "", issuer: str = "",
           phone: str = "") -> Enrolment:
    """POST /factors: a new unverified factor, with GoTrue's checks in its order. The caller
    commits. Writes factor_in_progress."""
    require_not_anonymous(user)
    check_enroll_enabled(rt, factor_type)
    if factor_type == "phone":
        normalised = _phone_number(phone)
    # Concurrent enrolments of one user queue here, so the counts and names below are current.
    _lock_user(user)
    delete_expired(rt, user)
    if factor_type == "phone":
        _replace_unverified_phone(user, normalised)
    _check_room(rt, user, session)
    _check_name_free(user, friendly_name)
    now = rt.now()
    factor = Factor(id=uuid.uuid4(), user_id=user.id, friendly_name=friendly_name,
                    factor_type=FactorType(factor_type), status=FactorStatus.unverified,
                    created_at=now, updated_at=now)
    enrolment = Enrolment(factor=factor)
    if factor_type == "phone":
        factor.phone = normalised
        enrolment.phone = phone
    elif factor_type == "totp":
        secret = totp.new_secret()
        factor.secret = db_encryption.seal(rt.settings.security.db_encryption, str(factor.id),
                                           secret)
        account = user.email or user.phone or ""
        uri = totp.provisioning_uri(secret, account, issuer or _site_host(rt))
        enrolment.secret, enrolment.uri, enrolment.qr_code = secret, uri, totp.qr_svg(uri)
    user.factors.append(factor)
    db.session.flush()
    audit.record("factor_in_progress", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"factor_id": str(factor.id), "factor_type": factor_type})
    return enrolment


def _site_host(rt: Runtime) -> str:
    return urlsplit(rt.settings.site_url).netloc


def _lock_user(user: User) -> None:
    try:
        lock_user(user)
    except GoTrueError as error:
        if error.status != 429:
            raise
        raise conflict(ErrorCode.CONFLICT, "Too many concurrent requests for this user, "
                       "try again", cause=error) from None


def _phone_number(phone: str) -> str:
    if not phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Phone number required to enroll Phone factor")
    return normalize_phone(phone)


def _replace_unverified_phone(user: User, normalised: str) -> None:
    """An unverified factor for the same number is replaced; a verified one refuses the
    enrolment."""
    for factor in list(user.factors):
        if factor.factor_type != FactorType.phone or factor.phone != normalised:
            continue
        if factor.is_verified:
            raise unprocessable(ErrorCode.MFA_VERIFIED_FACTOR_EXISTS,
                                "A verified phone factor already exists, unenroll the "
                                "existing factor to continue")
        user.factors.remove(factor)
        db.session.delete(factor)
    db.session.flush()


def expired_unverified(settings: Settings, now: datetime):
    """Unverified factors that were neither created nor challenged within
    MFA_FACTOR_EXPIRY_DURATION (also the database cleanup's rule)."""
    cutoff = now - settings.mfa.factor_expiry
    return sa.and_(
        Factor.status == FactorStatus.unverified, Factor.created_at < cutoff,
        sa.or_(Factor.last_challenged_at.is_(None), Factor.last_challenged_at < cutoff))


def delete_expired(rt: Runtime, user: User | None = None) -> None:
    """Delete every user's expired unverified factors (their challenges cascade); ``user``'s
    factors are read again."""
    db.session.execute(sa.delete(Factor).where(expired_unverified(rt.settings, rt.now())),
                       execution_options={"synchronize_session": False})
    if user is not None:
        db.session.expire(user, ["factors"])


def _check_room(rt: Runtime, user: User, session: Session | None) -> None:
    settings = rt.settings.mfa
    factors = list(user.factors)
    verified = sum(1 for factor in factors if factor.is_verified)
    if len(factors) >= settings.max_enrolled_factors:
        raise unprocessable(ErrorCode.TOO_MANY_ENROLLED_MFA_FACTORS,
                            "Maximum number of enrolled factors reached, unenroll to continue")
    if verified >= settings.max_verified_factors:
        raise unprocessable(ErrorCode.TOO_MANY_ENROLLED_MFA_FACTORS,
                            "Maximum number of verified factors reached, unenroll to continue")
    if verified and (session is None or session.aal != AAL.aal2):
        raise forbidden(ErrorCode.INSUFFICIENT_AAL, "AAL2 required to enroll a new factor")


def _check_name_free(user: User, friendly_name: str, keep: Factor | None = None) -> None:
    """One user's factors have distinct non-blank names (a unique index on PostgreSQL and
    SQLite; checked here for every database and for a clear error)."""
    name = (friendly_name or "").strip()
    if name and any(factor is not keep and (factor.friendly_name or "").strip() == name
                    for factor in user.factors):
        raise unprocessable(ErrorCode.MFA_FACTOR_NAME_CONFLICT,
                            f'A factor with the friendly name "{friendly_name}" for this user '
                            "already exists")


def load_factor(user: User, factor_id: str) -> Factor:
    """The user's factor; 404 validation_failed for a malformed id, 404 mfa_factor_not_found."""
    try:
        parsed = uuid.UUID(factor_id)
    except ValueError:
        raise not_found(ErrorCode.VALIDATION_FAILED, "factor_id must be an UUID") from None
    if not any(f.id == parsed for f in user.factors):
        raise not_found(ErrorCode.MFA_FACTOR_NOT_FOUND, "Factor not found")
    # Every change to a user's factors holds the user's row lock (enroll too): a concurrent
    # unenrol waits for this request, or has already happened and the factor is read as gone,
    # instead of this request's update of the factor failing at commit (a 500).
    _lock_user(user)
    factor = db.session.execute(
        sa.select(Factor).where(Factor.id == parsed, Factor.user_id == user.id),
        execution_options={"populate_existing": True}).scalar_one_or_none()
    if factor is None:
        raise not_found(ErrorCode.MFA_FACTOR_NOT_FOUND, "Factor not found")
    return factor


def unenroll(rt: Runtime, user: User, session: Session | None, factor: Factor,
             info: RequestInfo) -> None:
    """DELETE /factors/{id}: a verified factor needs an aal2 session. Writes
    factor_unenrolled."""
    if factor.is_verified and (session is None or session.aal != AAL.aal2):
        raise unprocessable(ErrorCode.INSUFFICIENT_AAL,
                            "AAL2 required to unenroll verified factor")
    traits = {"factor_id": str(factor.id), "factor_status": factor.status.value,
              "session_id": str(session.id) if session else ""}
    remove(rt, user, factor)
    audit.record("factor_unenrolled", audit.Actor.of_user(user), now=rt.now(), ip=info.ip,
                 traits=traits)


def remove(rt: Runtime, user: User, factor: Factor) -> None:
    """Delete ``factor``: sessions that reached aal2 with it drop back to aal1 and lose its
    amr claim. The user is told of a verified factor's removal (by them or by an operator);
    an enrolment never finished was no verification method."""
    was_verified = factor.is_verified
    linked_sessions = sa.select(Session.id).where(Session.factor_id == factor.id)
    db.session.execute(
        sa.delete(AMRClaim).where(
            AMRClaim.session_id.in_(linked_sessions),
            AMRClaim.authentication_method == AMR_METHOD[factor.factor_type.value]),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        sa.update(Session).where(Session.factor_id == factor.id)
        .values(aal=AAL.aal1, factor_id=None, updated_at=rt.now()),
        execution_options={"synchronize_session": False},
    )
    user.factors.remove(factor)
    db.session.delete(factor)
    if was_verified:
        notifications.notify(rt, user, "mfa_factor_unenrolled",
                             factor_type=factor.factor_type.value)


def update(rt: Runtime, user: User, factor: Factor, actor: audit.Actor, info: RequestInfo, *,
           friendly_name: str = "", phone: str = "") -> Factor:
    """PUT /admin/users/{id}/factors/{fid}: rename, and for a phone factor change its number.
    Writes factor_updated."""
    now = rt.now()
    if friendly_name:
        _check_name_free(user, friendly_name, keep=factor)
        factor.friendly_name = friendly_name
    if phone and factor.factor_type == FactorType.phone:
        factor.phone = normalize_phone(phone)
    factor.updated_at = now
    audit.record("factor_updated", actor, now=now, ip=info.ip, traits={
        "user_id": str(user.id), "factor_id": str(factor.id),
        "factor_type": factor.factor_type.value})
    return factor
