"""Console operators: accounts, and sign-in with optional TOTP (each code accepted once).

Which attempts get their password checked is sign_in_throttle's rule, kept in the database so
every worker and server shares it. A refusal never says which of email, password or code was
wrong.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ...errors import ErrorCode, GoTrueError, bad_request
from ...extensions import db
from ...models import Operator
from ...runtime import Runtime
from ...security import passwords, totp
from ...services import audit
from ...services.validation import normalize_email
from . import sign_in_throttle

MIN_PASSWORD_LENGTH = 12
LOGIN_REFUSED = "Wrong email, password or code."
TOTP_ISSUER = "gotrue-web console"
# The password column of an invited operator who has not chosen a password: no hash format,
# so no password ever matches it (the hasher burns a decoy check).
PENDING_PASSWORD = "!invited"
# The roles, most trusted first (operator_admin says what each may do); the CLI makes owners.
ROLES = ("owner", "admin", "support", "viewer")


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


def is_pending(operator: Operator) -> bool:
    """Invited and no password chosen yet."""
    return operator.password_hash == PENDING_PASSWORD


def list_all() -> list[Operator]:
    return list(db.session.execute(sa.select(Operator).order_by(Operator.email)).scalars())


def check_password_rules(password: str) -> None:
    """Operators hold the keys to every account: at least 12 characters, at most 72 bytes."""
    passwords.check_length_limit(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise bad_request(ErrorCode.WEAK_PASSWORD,
                          f"An operator password needs at least {MIN_PASSWORD_LENGTH} characters.")


def create(rt: Runtime, email: str, password: str, role: str = "owner") -> Operator:
    address = normalize_email(email)
    if role not in ROLES:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"{role!r} is not a role: choose one of {', '.join(ROLES)}.")
    if find(address) is not None:
        raise bad_request(ErrorCode.EMAIL_EXISTS, f"An operator {address} already exists.")
    check_password_rules(password)
    now = rt.now()
    operator = Operator(id=uuid.uuid4(), email=address, password_hash=rt.hasher.hash(password),
                        role=role, created_at=now, updated_at=now)
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
    operator.totp_last_step = None


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


def record_failure(rt: Runtime, email: str, ip: str) -> None:
    """The audit entry of a refused sign-in (the throttle has counted it already)."""
    audit.record("operator_login_failed",
                 audit.Actor(username=_address(email), name="operator"),
                 now=rt.now(), ip=ip)


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    totp_code: str = ""


def authenticate(rt: Runtime, credentials: Credentials, ip: str) -> Operator:
    """The operator these credentials belong to; LoginRefused otherwise (the caller writes
    the audit entry), 429 when the throttle holds the attempt back (sign_in_throttle).
    Unknown emails cost the same hashing work as wrong passwords."""
    address = _address(credentials.email)
    admission = sign_in_throttle.admit(rt, address, ip)
    operator = find(address)
    now = rt.now()
    if admission.code_first and (operator is None or not code_is_fresh(
            operator, credentials.totp_code, now)):
        # The same hashing work, but the password is not checked: no guess is answered.
        rt.hasher.verify(credentials.password, None)
        raise LoginRefused()
    valid = rt.hasher.verify(credentials.password,
                             operator.password_hash if operator is not None else None)
    if valid and operator.totp_enabled:
        valid = accept_totp(operator, credentials.totp_code, now)
    # A disabled operator is refused like a wrong password: the answer tells a guesser nothing.
    if not valid or operator.disabled_at is not None:
        raise LoginRefused()
    sign_in_throttle.succeeded(admission)
    operator.last_login_at = now
    audit.record("operator_login", actor_of(operator), now=now, ip=ip)
    return operator


def recheck_password(rt: Runtime, operator: Operator, password: str, ip: str) -> bool:
    """A signed-in operator proving it is still them (password change, turning TOTP off).

    Throttled and counted like sign-in, so a stolen session cannot guess the password; the
    caller writes the audit entry (``record_failure``) when this returns False.
    """
    admission = sign_in_throttle.admit(rt, operator.email, ip, code_first_possible=False)
    if not rt.hasher.verify(password, operator.password_hash):
        return False
    sign_in_throttle.succeeded(admission)
    return True


# --- TOTP ---------------------------------------------------------------------------------------


def totp_step(secret: str | None, code: str, now: datetime) -> int | None:
    """The 30 s step (previous, current or next at ``now``) whose code ``code`` is, or None."""
    return totp.step_of(secret, code, now)


def code_is_fresh(operator: Operator, code: str, now: datetime) -> bool:
    """``code`` is the operator's and later than the last one accepted (nothing is used up)."""
    step = totp_step(operator.totp_secret if operator.totp_enabled else None, code, now)
    return step is not None and (operator.totp_last_step is None
                                 or step > operator.totp_last_step)


def accept_totp(operator: Operator, code: str, now: datetime) -> bool:
    """Use up ``code``: True when it is the operator's and of a later step than the last code
    accepted, which it becomes. One conditional UPDATE decides, so of two requests with the
    same code one wins (the other waits for its row lock, then finds the step taken)."""
    step = totp_step(operator.totp_secret, code, now)
    if step is None:
        return False
    taken = db.session.execute(
        sa.update(Operator)
        .where(Operator.id == operator.id,
               sa.or_(Operator.totp_last_step.is_(None), Operator.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return False
    set_committed_value(operator, "totp_last_step", step)
    return True


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
    secret = totp.new_secret()
    operator.totp_secret = secret
    operator.totp_enabled = False
    operator.totp_last_step = None
    operator.updated_at = now
    return enrolment_of(operator)


def enrolment_of(operator: Operator) -> Enrolment:
    uri = totp.provisioning_uri(operator.totp_secret, operator.email, TOTP_ISSUER)
    return Enrolment(secret=operator.totp_secret, uri=uri, qr_svg=totp.qr_svg(uri, dark="#1f2933"))


def confirm_totp(rt: Runtime, operator: Operator, code: str, ip: str) -> None:
    """Turn TOTP on once the operator shows a code of the new secret; other sessions end."""
    if operator.totp_enabled:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Two-factor sign-in is already on.")
    if not accept_totp(operator, code, rt.now()):
        raise bad_request(ErrorCode.MFA_VERIFICATION_FAILED,
                          "That code did not match. Check the time on your device and try again.")
    operator.totp_enabled = True
    operator.session_version += 1
    operator.updated_at = rt.now()
    audit.record("operator_totp_enabled", actor_of(operator), now=rt.now(), ip=ip)


def disable_totp(rt: Runtime, operator: Operator, ip: str) -> None:
    operator.totp_enabled = False
    operator.totp_secret = None
    operator.totp_last_step = None
    operator.updated_at = rt.now()
    audit.record("operator_totp_disabled", actor_of(operator), now=rt.now(), ip=ip)
