"""Challenging a factor and verifying the code (GoTrue's POST /factors/{id}/challenge and
/verify): a TOTP code from the user's app, or a code texted to a phone factor. WebAuthn factors
(webauthn.py) share the challenge row, its checks and the step up to aal2 (open_challenge,
claim, complete).

A challenge belongs to the address that asked for it and is good for MFA_CHALLENGE_EXPIRY_DURATION
and one successful verify. Beyond GoTrue: it dies after MFA_MAX_CODE_ATTEMPTS codes, a TOTP
code is accepted only once (its time step is kept on the factor), and a texted code is stored as
a keyed digest rather than in plain text. The races (two verifies of one challenge, one code
against two challenges) are settled by conditional UPDATEs, so exactly one request wins.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request, forbidden, internal, unprocessable
from ...extensions import db
from ...models import Challenge, Factor, FactorStatus, FactorType, Session, User
from ...runtime import RequestInfo, Runtime
from ...security import codes, db_encryption, totp
from ...transports import sms as sms_transport
from .. import audit, one_time_tokens, sessions
from ..hooks.attempts import check_mfa_attempt
from ..mail import notifications
from ..phone import check_channel
from ..phone.codes import check_frequency
from ..phone.delivery import deliver
from ..phone.verification import delegated, provider_accepts
from .factors import AMR_METHOD

_CHALLENGES = Challenge.__table__
_FACTORS = Factor.__table__


def check_verify_enabled(rt: Runtime, factor: Factor) -> None:
    mfa = rt.settings.mfa
    if factor.factor_type == FactorType.totp and not mfa.totp_verify_enabled:
        raise unprocessable(ErrorCode.MFA_TOTP_VERIFY_NOT_ENABLED,
                            "MFA verification is disabled for TOTP")
    if factor.factor_type == FactorType.phone and not mfa.phone_verify_enabled:
        raise unprocessable(ErrorCode.MFA_PHONE_VERIFY_NOT_ENABLED,
                            "MFA verification is disabled for Phone")
    if factor.factor_type == FactorType.webauthn and not mfa.webauthn_verify_enabled:
        raise unprocessable(ErrorCode.MFA_WEBAUTHN_VERIFY_NOT_ENABLED,
                            "MFA verification is disabled for WebAuthn")


def _client_ip(info: RequestInfo) -> str:
    return info.ip or "0.0.0.0"


def _same_ip(stored, current: str) -> bool:
    try:
        return ipaddress.ip_address(str(stored)) == ipaddress.ip_address(current)
    except ValueError:
        return str(stored) == current


def create(rt: Runtime, user: User, factor: Factor, info: RequestInfo, *,
           channel: str = "") -> Challenge:
    """POST /factors/{id}/challenge. A phone factor gets its code texted first (a send failure
    is a 500 and writes nothing). The caller commits. Writes challenge_created."""
    check_verify_enabled(rt, factor)
    now = rt.now()
    challenge = Challenge(id=uuid.uuid4(), factor_id=factor.id, created_at=now,
                          ip_address=_client_ip(info), failed_attempts=0)
    if factor.factor_type == FactorType.phone:
        challenge.otp_code = _text_code(rt, user, factor, check_channel(rt, channel), now,
                                        info.ip)
    factor.last_challenged_at = _unique_instant(factor, now)
    db.session.add(challenge)
    audit.record("challenge_created", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"factor_id": str(factor.id), "factor_status": factor.status.value})
    return challenge


def expires_at(rt: Runtime, challenge: Challenge) -> int:
    return int((challenge.created_at + rt.settings.mfa.challenge_expiry).timestamp())


def _unique_instant(factor: Factor, now: datetime) -> datetime:
    """``now``, moved on by microseconds while another factor holds it: GoTrue's schema makes
    mfa_factors.last_challenged_at unique, and two challenges can share a clock reading."""
    instant = now
    while db.session.execute(
            sa.select(_FACTORS.c.id).where(_FACTORS.c.last_challenged_at == instant,
                                           _FACTORS.c.id != factor.id).limit(1)).first():
        instant += timedelta(microseconds=1)
    return instant


def _text_code(rt: Runtime, user: User, factor: Factor, channel: str, now: datetime,
               ip: str = "") -> str | None:
    """Text a new code to the factor's phone; returns its stored digest (None when the provider
    keeps the code: twilio_verify)."""
    mfa = rt.settings.mfa
    if factor.last_challenged_at is not None:
        check_frequency(factor.last_challenged_at, mfa.phone_max_frequency, now)
    code = codes.generate_otp(mfa.phone_otp_length)
    try:
        body = sms_transport.render_message(mfa.phone_template, code)
    except ValueError as error:
        raise internal("error generating sms template", cause=error) from error
    try:
        deliver(rt, to=factor.phone, body=body, channel=channel, kind="mfa", user_id=user.id,
                otp=code, user=user, ip=ip)
    except GoTrueError as error:  # the send_sms hook's, whatever it was (GoTrue)
        raise internal("error invoking hook", cause=error) from error
    except sms_transport.SMSProviderUnavailable as error:
        raise internal("Failed to get SMS provider", cause=error) from error
    except sms_transport.SMSDeliveryError as error:
        raise internal("error sending message", cause=error) from error
    return None if delegated(rt) else one_time_tokens.code_digest(rt, factor.phone, code)


def _committed(error: GoTrueError) -> GoTrueError:
    error.commit_first = True
    return error


def _find(factor: Factor, challenge_id: str) -> Challenge:
    not_found = unprocessable(ErrorCode.MFA_FACTOR_NOT_FOUND,
                              "MFA factor with the provided challenge ID not found")
    try:
        parsed = uuid.UUID(str(challenge_id))
    except ValueError:
        raise not_found from None
    challenge = db.session.execute(
        sa.select(Challenge).where(Challenge.id == parsed, Challenge.factor_id == factor.id)
    ).scalar()
    if challenge is None:
        raise not_found
    return challenge


def verify(rt: Runtime, user: User, session: Session | None, factor: Factor, info: RequestInfo,
           *, challenge_id: str, code: str) -> sessions.IssuedSession:
    """POST /factors/{id}/verify: check the challenge and the code; on success the factor is
    verified and the session raised to aal2 (sessions.raise_to_aal2). The caller commits.
    Writes verification_attempted."""
    if not code:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Code needs to be non-empty")
    check_verify_enabled(rt, factor)
    require_session(session)
    now = rt.now()
    challenge = open_challenge(rt, factor, challenge_id, info, now)
    _take_attempt(rt, challenge)
    step = _check_code(rt, factor, challenge, code, now, info.ip)
    claim(challenge, now)
    if step is not None:
        _use_totp_step(factor, step)
    return complete(rt, user, session, factor, challenge, info, now)


def require_session(session: Session | None) -> None:
    if session is None:
        raise forbidden(ErrorCode.SESSION_NOT_FOUND, "A session is required to verify a factor")


def open_challenge(rt: Runtime, factor: Factor, challenge_id: str, info: RequestInfo,
                   now: datetime) -> Challenge:
    """The factor's challenge ``challenge_id``, unused, from this address and not expired (an
    expired one is deleted, and that deletion committed)."""
    challenge = _find(factor, challenge_id)
    if challenge.verified_at is not None or not _same_ip(challenge.ip_address, _client_ip(info)):
        raise unprocessable(ErrorCode.MFA_IP_ADDRESS_MISMATCH,
                            "Challenge and verify IP addresses mismatch.")
    if now > challenge.created_at + rt.settings.mfa.challenge_expiry:
        db.session.delete(challenge)
        raise _committed(unprocessable(
            ErrorCode.MFA_CHALLENGE_EXPIRED,
            f"MFA challenge {challenge.id} has expired, verify against another challenge or "
            "create a new challenge."))
    return challenge


def complete(rt: Runtime, user: User, session: Session, factor: Factor, challenge: Challenge,
             info: RequestInfo, now: datetime) -> sessions.IssuedSession:
    """A challenge answered (and claimed): ``factor`` is verified, the session aal2, the user's
    other aal1 sessions and unfinished enrolments of the same type are gone."""
    enrolled = not factor.is_verified
    factor.status = FactorStatus.verified
    factor.updated_at = now
    audit.record("verification_attempted", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"factor_id": str(factor.id), "challenge_id": str(challenge.id),
                         "factor_type": factor.factor_type.value})
    issued = sessions.raise_to_aal2(rt, user, session, AMR_METHOD[factor.factor_type.value],
                                    factor.id, info.ip)
    # Unfinished enrolments of the same type are dropped once one factor is verified.
    db.session.execute(
        sa.delete(Factor).where(Factor.user_id == user.id, Factor.id != factor.id,
                                Factor.factor_type == factor.factor_type,
                                Factor.status == FactorStatus.unverified),
        execution_options={"synchronize_session": False})
    db.session.expire(user, ["factors"])
    if enrolled:
        notifications.notify(rt, user, "mfa_factor_enrolled",
                             factor_type=factor.factor_type.value)
    return issued


def _check_code(rt: Runtime, factor: Factor, challenge: Challenge, code: str,
                now: datetime, ip: str = "") -> int | None:
    """Raise unless ``code`` answers the challenge (the attempt is already counted: a wrong code
    commits it). Returns the TOTP time step of the code (None for a phone factor). The
    mfa_verification_attempt hook hears the result first (not a code Twilio Verify refused)
    and may reject the attempt."""
    if factor.factor_type == FactorType.totp:
        secret = db_encryption.unseal(rt.settings.security.db_encryption, str(factor.id),
                                      factor.secret)
        step = totp.step_of(secret, code, now)
        check_mfa_attempt(rt, factor.user_id, factor.id, "totp", step is not None, ip)
        if step is None:
            raise _committed(unprocessable(ErrorCode.MFA_VERIFICATION_FAILED,
                                           "Invalid TOTP code entered"))
        return step
    if challenge.otp_code is None and delegated(rt):
        if not provider_accepts(rt, factor.phone, code):
            raise _committed(forbidden(ErrorCode.OTP_EXPIRED, "Token has expired or is invalid"))
        check_mfa_attempt(rt, factor.user_id, factor.id, "phone", True, ip)
        return None
    valid = one_time_tokens.code_matches(rt, challenge.otp_code, factor.phone, code)
    check_mfa_attempt(rt, factor.user_id, factor.id, "phone", valid, ip)
    if not valid:
        raise _committed(unprocessable(ErrorCode.MFA_VERIFICATION_FAILED,
                                       "Invalid MFA Phone code entered"))
    return None


def _take_attempt(rt: Runtime, challenge: Challenge) -> None:
    """Count this code against the challenge before checking it, in one conditional UPDATE:
    racing requests cannot try more codes than MFA_MAX_CODE_ATTEMPTS between them (the row
    stays locked until this request ends). A used or dead challenge is refused here."""
    limit = rt.settings.mfa.max_code_attempts
    query = (sa.update(_CHALLENGES)
             .where(_CHALLENGES.c.id == challenge.id, _CHALLENGES.c.verified_at.is_(None))
             .values(failed_attempts=_CHALLENGES.c.failed_attempts + 1))
    if limit:
        query = query.where(_CHALLENGES.c.failed_attempts < limit)
    if db.session.execute(query).rowcount == 1:
        return
    verified_at = db.session.execute(
        sa.select(_CHALLENGES.c.verified_at).where(_CHALLENGES.c.id == challenge.id)).scalar()
    if verified_at is not None:
        raise unprocessable(ErrorCode.MFA_IP_ADDRESS_MISMATCH,
                            "Challenge and verify IP addresses mismatch.")
    raise unprocessable(ErrorCode.MFA_CHALLENGE_EXPIRED,
                        "Too many wrong codes for this challenge, create a new challenge.")


def claim(challenge: Challenge, now: datetime) -> None:
    """Mark the challenge used; of two verifies racing for it, the second finds it taken."""
    claimed = db.session.execute(
        sa.update(_CHALLENGES)
        .where(_CHALLENGES.c.id == challenge.id, _CHALLENGES.c.verified_at.is_(None))
        .values(verified_at=now))
    if claimed.rowcount != 1:
        raise unprocessable(ErrorCode.MFA_IP_ADDRESS_MISMATCH,
                            "Challenge and verify IP addresses mismatch.")


def _use_totp_step(factor: Factor, step: int) -> None:
    """Take the code's time step; a code (or an earlier one) already accepted is refused."""
    taken = db.session.execute(
        sa.update(_FACTORS)
        .where(_FACTORS.c.id == factor.id,
               sa.or_(_FACTORS.c.last_totp_step.is_(None), _FACTORS.c.last_totp_step < step))
        .values(last_totp_step=step))
    if taken.rowcount != 1:
        raise unprocessable(ErrorCode.MFA_VERIFICATION_FAILED,
                            "TOTP code already used, wait for the next one")
