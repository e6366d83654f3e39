"""Console operators: accounts, sign-in with optional TOTP, and sign-in throttling.

Failed sign-ins are audit entries, so the throttle is shared by every worker and server and
survives restarts. A refusal never says which of email, password or code was wrong.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request, too_many_requests
from ...extensions import db
from ...models import AuditLogEntry, Operator
from ...runtime import Runtime
from ...security import passwords
from ...services import audit
from ...services.validation import normalize_email

MIN_PASSWORD_LENGTH = 12
LOGIN_REFUSED = "Wrong email, password or code."
TOTP_ISSUER = "gotrue-web console"


class LoginRefused(GoTrueError):
    """The credentials did not check out (deliberately vague)."""

    def __init__(self):
        super().__init__(400, ErrorCode.INVALID_CREDENTIALS, LOGIN_REFUSED)


def _address(email: str) -> str:
    """The lookup form of a typed email: trimmed, lower-case, no NUL (databases refuse it)."""
    return email.strip().lower().replace("\x00", "")[:255]


def actor_of(operator: Operator) -> audit.Actor:
    return audit.Actor(id=str(operator.id), username=operator.email, name="operator")


def find(email: str) -> Operator | None:
    return db.session.execute(
        sa.select(Operator).where(Operator.email == _address(email))
    ).scalar_one_or_none()


def get(operator_id: uuid.UUID) -> Operator | None:
    return db.session.get(Operator, operator_id)


def list_all() -> list[Operator]:
    return list(db.session.execute(sa.select(Operator).order_by(Operator.email)).scalars())


def check_password_rules(password: str) -> None:
    """Operators hold the keys to every account: at least 12 characters, at most 72 bytes."""
    passwords.check_length_limit(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise bad_request(ErrorCode.WEAK_PASSWORD,
                          f"An operator password needs at least {MIN_PASSWORD_LENGTH} characters.")


def create(rt: Runtime, email: str, password: str) -> Operator:
    address = normalize_email(email)
    if find(address) is not None:
        raise bad_request(ErrorCode.EMAIL_EXISTS, f"An operator {address} already exists.")
    check_password_rules(password)
    now = rt.now()
    operator = Operator(id=uuid.uuid4(), email=address, password_hash=rt.hasher.hash(password),
                        created_at=now, updated_at=now)
    db.session.add(operator)
    return operator


def set_password(rt: Runtime, operator: Operator, password: str) -> None:
    """New password; every console session of the operator ends."""
    check_password_rules(password)
    operator.password_hash = rt.hasher.hash(password)
    operator.session_version += 1
    operator.updated_at = rt.now()


def change_own_password(rt: Runtime, operator: Operator, password: str, ip: str) -> None:
    """An operator's new password from their profile: every other console session ends;
    writes operator_password_changed."""
    set_password(rt, operator, password)
    audit.record("operator_password_changed", actor_of(operator), now=rt.now(), ip=ip)


def reset_password(rt: Runtime, operator: Operator, password: str) -> None:
    """The CLI's way back in: new password, every session ended, two-factor sign-in off (the
    usual reason for a reset is a lost authenticator)."""
    set_password(rt, operator, password)
    operator.totp_enabled = False
    operator.totp_secret = None


def end_sessions(operator: Operator, now: datetime) -> None:
    """Every console cookie of the operator stops working (sessions live in the cookie, so
    this is the only way to make a copied one useless)."""
    operator.session_version += 1
    operator.updated_at = now


def sign_out(rt: Runtime, operator: Operator, ip: str) -> None:
    """Sign out: every copy of the operator's console cookie stops working (end_sessions);
    writes operator_logout."""
    end_sessions(operator, rt.now())
    audit.record("operator_logout", actor_of(operator), now=rt.now(), ip=ip)


def delete(operator: Operator) -> None:
    db.session.delete(operator)


# --- sign-in ------------------------------------------------------------------------------------


def _recent_failures(rt: Runtime, *, ip: str | None = None, email: str | None = None) -> int:
    since = rt.now() - rt.settings.console.login_window
    action = AuditLogEntry.payload["action"].as_string()
    query = sa.select(sa.func.count()).select_from(AuditLogEntry).where(
        AuditLogEntry.created_at >= since, action == "operator_login_failed")
    if ip is not None:
        query = query.where(AuditLogEntry.ip_address == ip[:64])
    if email is not None:
        query = query.where(AuditLogEntry.payload["actor_username"].as_string() == email)
    return db.session.execute(query).scalar_one()


def check_throttle(rt: Runtime, email: str, ip: str) -> None:
    """429 when the client IP or the operator has too many recent failed sign-ins."""
    limit = rt.settings.console.login_attempts
    address = _address(email)
    if _recent_failures(rt, ip=ip) >= limit or _recent_failures(rt, email=address) >= limit:
        minutes = max(1, int(rt.settings.console.login_window.total_seconds() // 60))
        raise too_many_requests(
            ErrorCode.OVER_REQUEST_RATE_LIMIT,
            f"Too many failed sign-ins. Try again in {minutes} minutes.",
            retry_after=int(rt.settings.console.login_window.total_seconds()))


def record_failure(rt: Runtime, email: str, ip: str) -> None:
    audit.record("operator_login_failed",
                 audit.Actor(username=_address(email), name="operator"),
                 now=rt.now(), ip=ip)


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    totp_code: str = ""


def authenticate(rt: Runtime, credentials: Credentials, ip: str) -> Operator:
    """The operator these credentials belong to; LoginRefused otherwise (the caller commits
    the failure record). Unknown emails cost the same hashing work as wrong passwords."""
    check_throttle(rt, credentials.email, ip)
    operator = find(credentials.email)
    valid = rt.hasher.verify(credentials.password,
                             operator.password_hash if operator is not None else None)
    now = rt.now()
    if valid and operator.totp_enabled:
        valid = verify_totp(operator.totp_secret, credentials.totp_code, now)
    if not valid:
        raise LoginRefused()
    operator.last_login_at = now
    audit.record("operator_login", actor_of(operator), now=now, ip=ip)
    return operator


def recheck_password(rt: Runtime, operator: Operator, password: str, ip: str) -> bool:
    """A signed-in operator proving it is still them (password change, turning TOTP off).

    Throttled and counted like sign-in, so a stolen session cannot guess the password; the
    caller commits the failure record (``record_failure``) when this returns False.
    """
    check_throttle(rt, operator.email, ip)
    return rt.hasher.verify(password, operator.password_hash)


# --- TOTP ---------------------------------------------------------------------------------------


def verify_totp(secret: str | None, code: str, now: datetime) -> bool:
    """A 6-digit code of the current, previous or next 30 s step at ``now``."""
    code = code.strip().replace(" ", "")
    if not secret or len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    return pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def start_totp_enrolment(operator: Operator, now: datetime) -> Enrolment:
    """A new secret (not active until confirmed with a code) and its QR code.

    Refused while TOTP is on: a new enrolment would switch the second factor off."""
    if operator.totp_enabled:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Two-factor sign-in is already on. Turn it off first.")
    secret = pyotp.random_base32()
    operator.totp_secret = secret
    operator.totp_enabled = False
    operator.updated_at = now
    return enrolment_of(operator)


def enrolment_of(operator: Operator) -> Enrolment:
    uri = pyotp.TOTP(operator.totp_secret).provisioning_uri(name=operator.email,
                                                            issuer_name=TOTP_ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#1f2933", light="#ffffff")
    return Enrolment(secret=operator.totp_secret, uri=uri, qr_svg=svg)


def confirm_totp(rt: Runtime, operator: Operator, code: str, ip: str) -> None:
    """Turn TOTP on once the operator shows a code of the new secret; other sessions end."""
    if operator.totp_enabled:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Two-factor sign-in is already on.")
    if not verify_totp(operator.totp_secret, code, rt.now()):
        raise bad_request(ErrorCode.MFA_VERIFICATION_FAILED,
                          "That code did not match. Check the time on your device and try again.")
    operator.totp_enabled = True
    operator.session_version += 1
    operator.updated_at = rt.now()
    audit.record("operator_totp_enabled", actor_of(operator), now=rt.now(), ip=ip)


def disable_totp(rt: Runtime, operator: Operator, ip: str) -> None:
    operator.totp_enabled = False
    operator.totp_secret = None
    operator.updated_at = rt.now()
    audit.record("operator_totp_disabled", actor_of(operator), now=rt.now(), ip=ip)
