"""The invitee's side of an invitation: the link's page shows who it is for, and setting a
password there (the rules of `flask operators create`) uses the link up."""

from __future__ import annotations

import sqlalchemy as sa

from ....errors import ErrorCode, GoTrueError, bad_request
from ....extensions import db
from ....models import Operator
from ....runtime import Runtime
from ....services import audit
from .. import operators
from . import invite_links

NOT_VALID = ("This invitation link does not work: it was used already, replaced by a newer "
             "one or it has expired (links last 72 hours). Ask an owner for a new one.")


class InvitationNotValid(GoTrueError):
    def __init__(self):
        super().__init__(404, ErrorCode.INVITE_NOT_FOUND, NOT_VALID)


def invitee(rt: Runtime, secret: str) -> Operator:
    """The invited operator the link's secret names while it works; InvitationNotValid
    otherwise (used, replaced, expired, forged, or the operator disabled or deleted)."""
    parts = invite_links.verified_parts(rt, secret)
    operator = operators.get(parts[0]) if parts else None
    if (operator is None or operator.session_version != parts[1]
            or operator.disabled_at is not None or not operators.is_pending(operator)):
        raise InvitationNotValid()
    return operator


def accept(rt: Runtime, secret: str, password: str, password_again: str, ip: str) -> Operator:
    """Set the invited operator's password; the link is used up. One conditional UPDATE
    decides, so of two requests with the same link only one sets a password."""
    operator = invitee(rt, secret)
    if password != password_again:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "The two passwords differ.")
    operators.check_password_rules(password)
    now = rt.now()
    taken = db.session.execute(
        sa.update(Operator)
        .where(Operator.id == operator.id,
               Operator.session_version == operator.session_version,
               Operator.password_hash == operators.PENDING_PASSWORD,
               Operator.disabled_at.is_(None))
        .values(password_hash=rt.hasher.hash(password),
                session_version=operator.session_version + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise InvitationNotValid()
    audit.record("operator_invite_accepted", operators.actor_of(operator), now=now, ip=ip,
                 traits={"operator_id": str(operator.id), "operator_email": operator.email,
                         "operator_role": operator.role})
    return operator
