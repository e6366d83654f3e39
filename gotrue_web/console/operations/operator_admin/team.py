"""The owners' actions on other operators, with their guards and audit entries.

Guards: nobody changes their own role, disables or deletes themselves, or resets their own
two-step sign-in here (their profile does that, after the password); and the last active owner
(not disabled, password set) is never demoted, disabled or deleted, so someone can always
manage the operators. Owners are locked while that is checked, so two owners demoting each
other at once cannot both succeed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....errors import ErrorCode, GoTrueError, bad_request, not_found
from ....extensions import db
from ....models import Operator
from ....runtime import Runtime
from ....services import audit
from ....services.validation import normalize_email
from .. import operators
from . import OWNER, ROLE_LABELS, ROLES, invite_links


@dataclass(frozen=True)
class OperatorRow:
    """One line of the operators page."""

    id: uuid.UUID
    email: str
    role: str
    totp_enabled: bool
    last_login_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    # Invited and not signed up yet: no password, only the invitation link.
    pending: bool
    is_you: bool


def rows(current: Operator) -> list[OperatorRow]:
    return [OperatorRow(id=row.id, email=row.email, role=row.role,
                        totp_enabled=row.totp_enabled, last_login_at=row.last_login_at,
                        disabled_at=row.disabled_at, created_at=row.created_at,
                        pending=operators.is_pending(row), is_you=row.id == current.id)
            for row in operators.list_all()]


def load(operator_id: str) -> Operator:
    """The operator of a URL's id, or 404 (a bad id reads like a deleted operator)."""
    try:
        operator = operators.get(uuid.UUID(operator_id))
    except (ValueError, TypeError):
        operator = None
    if operator is None:
        raise not_found(ErrorCode.NOT_FOUND,
                        "There is no such operator; they may have been deleted.")
    return operator


def _refuse(message: str) -> GoTrueError:
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


def _traits(operator: Operator, **extra) -> dict:
    return {"operator_id": str(operator.id), "operator_email": operator.email, **extra}


def _not_yourself(operator: Operator, acting: Operator, what: str) -> None:
    if operator.id == acting.id:
        raise _refuse(f"You cannot {what} yourself. Ask another owner.")


def _keep_an_owner(operator: Operator, what: str) -> None:
    """Refuse when ``operator`` is the only active owner (the owners' rows locked first)."""
    if operator.role != OWNER or operator.disabled_at is not None \
            or operators.is_pending(operator):
        return
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # SQLite has no row locks: its write lock, taken with this read, does the job.
        connection.execution_options(write_lock=True)
    others = db.session.execute(
        sa.select(Operator.id)
        .where(Operator.role == OWNER, Operator.disabled_at.is_(None),
               Operator.password_hash != operators.PENDING_PASSWORD)
        .order_by(Operator.id).with_for_update()
    ).scalars().all()
    if operator.id not in others or len(others) > 1:
        return
    raise _refuse(f"{operator.email} is the last active owner and cannot be {what}. "
                  "Make another operator an owner first.")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise _refuse("Choose a role: " + ", ".join(ROLE_LABELS[name] for name in ROLES) + ".")
    return role


@dataclass(frozen=True)
class Invitation:
    operator: Operator
    # The secret of the link (console/operators_page.py makes the URL).
    secret: str
    expires_at: datetime


def invite(rt: Runtime, email: str, role: str, acting: Operator, ip: str) -> Invitation:
    """A new operator with no usable password, and the secret of their invitation link;
    writes operator_invited."""
    address = normalize_email(email)
    check_role(role)
    if operators.find(address) is not None:
        raise bad_request(ErrorCode.EMAIL_EXISTS, f"An operator {address} already exists.")
    now = rt.now()
    operator = Operator(id=uuid.uuid4(), email=address, role=role,
                        password_hash=operators.PENDING_PASSWORD, created_at=now,
                        updated_at=now)
    db.session.add(operator)
    db.session.flush()
    audit.record("operator_invited", operators.actor_of(acting), now=now, ip=ip,
                 traits=_traits(operator, operator_role=role))
    return Invitation(operator, invite_links.issue(rt, operator), invite_links.expires_at(rt))


def renew_invite(rt: Runtime, operator: Operator, acting: Operator, ip: str) -> Invitation:
    """A new link for an invited operator; the previous one stops working."""
    if not operators.is_pending(operator):
        raise _refuse(f"{operator.email} has set a password already: there is nothing to "
                      "invite them to.")
    if operator.disabled_at is not None:
        raise _refuse(f"{operator.email} is disabled. Enable them first.")
    operators.end_sessions(operator, rt.now())
    audit.record("operator_invite_renewed", operators.actor_of(acting), now=rt.now(), ip=ip,
                 traits=_traits(operator))
    return Invitation(operator, invite_links.issue(rt, operator), invite_links.expires_at(rt))


def change_role(rt: Runtime, operator: Operator, role: str, acting: Operator, ip: str) -> None:
    """Takes effect with the operator's next request; writes operator_role_changed."""
    check_role(role)
    _not_yourself(operator, acting, "change the role of")
    if operator.role == role:
        raise _refuse(f"{operator.email} is {ROLE_LABELS[role].lower()} already.")
    if role != OWNER:
        _keep_an_owner(operator, "demoted")
    previous = operator.role
    operator.role = role
    operator.updated_at = rt.now()
    audit.record("operator_role_changed", operators.actor_of(acting), now=rt.now(), ip=ip,
                 traits=_traits(operator, operator_role=role, previous_role=previous))


def disable(rt: Runtime, operator: Operator, acting: Operator, ip: str) -> None:
    """The operator can no longer sign in, and every session of theirs ends at once (as does
    an invitation link); writes operator_disabled."""
    _not_yourself(operator, acting, "disable")
    if operator.disabled_at is not None:
        raise _refuse(f"{operator.email} is disabled already.")
    _keep_an_owner(operator, "disabled")
    operator.disabled_at = rt.now()
    operators.end_sessions(operator, rt.now())
    audit.record("operator_disabled", operators.actor_of(acting), now=rt.now(), ip=ip,
                 traits=_traits(operator))


def enable(rt: Runtime, operator: Operator, acting: Operator, ip: str) -> None:
    """The operator may sign in again (with their password); writes operator_enabled."""
    if operator.disabled_at is None:
        raise _refuse(f"{operator.email} is not disabled.")
    operator.disabled_at = None
    operator.updated_at = rt.now()
    audit.record("operator_enabled", operators.actor_of(acting), now=rt.now(), ip=ip,
                 traits=_traits(operator))


def reset_totp(rt: Runtime, operator: Operator, acting: Operator, ip: str) -> None:
    """Two-step sign-in off, so the operator signs in with the password alone and enrols
    again from their profile (a lost authenticator); writes operator_totp_reset."""
    _not_yourself(operator, acting, "reset two-step sign-in for")
    if not operator.totp_enabled and operator.totp_secret is None:
        raise _refuse(f"{operator.email} has no two-step sign-in to reset.")
    operator.totp_enabled = False
    operator.totp_secret = None
    operator.totp_last_step = None
    operator.updated_at = rt.now()
    audit.record("operator_totp_reset", operators.actor_of(acting), now=rt.now(), ip=ip,
                 traits=_traits(operator))


def delete(rt: Runtime, operator: Operator, acting: Operator, ip: str) -> None:
    """The operator's row goes (their sessions with it); writes operator_deleted."""
    _not_yourself(operator, acting, "delete")
    _keep_an_owner(operator, "deleted")
    audit.record("operator_deleted", operators.actor_of(acting), now=rt.now(), ip=ip,
                 traits=_traits(operator, operator_role=operator.role))
    operators.delete(operator)
