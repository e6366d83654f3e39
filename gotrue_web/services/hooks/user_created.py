"""before_user_created and after_user_created (phone-sms.md section 4.4).

``before(rt, user, ...)`` runs before the new user is added to the session, never inside the
transaction (a pg-functions hook gets a connection of its own); any error refuses the creation
and nothing has been written. ``queue_after`` notes a new user; the web layer calls
``run_after`` after the view (which commits), before the answer goes out, and only users whose
transaction committed are sent (the session's after_commit event marks them, a rollback
forgets the others).
On /signup (and the signups behind /otp and /magiclink) an after-hook error becomes 500
"Error invoking hook" with the user kept; elsewhere the hook's error is passed through.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...errors import GoTrueError, internal
from ...models import User
from ...runtime import Runtime
from ...serializers import user_json
from . import enabled, invoke

BEFORE, AFTER = "before_user_created", "after_user_created"
ZERO_TIME = "0001-01-01T00:00:00Z"
SIGNUP, PASS = "signup", "pass"


@dataclass
class _Created:
    user: User
    ip: str
    mode: str
    committed: bool = False


_created: ContextVar[list[_Created] | None] = ContextVar("users_created", default=None)


def unsaved_user_json(user: User, providers: tuple[str, ...]) -> dict:
    """The hook's view of a user not yet saved: role "", zero dates, no identities, and
    app_metadata {provider, providers} (``{}`` without a provider: anonymous users)."""
    data = user_json(user)
    data["role"] = ""
    data["app_metadata"] = ({"provider": providers[0], "providers": list(providers)}
                            if providers else {})
    data["identities"] = []
    data["created_at"] = data["updated_at"] = ZERO_TIME
    return data


def before(rt: Runtime, user: User, providers: tuple[str, ...], ip: str) -> None:
    """Ask before_user_created; its error (passed through) refuses the new user."""
    if enabled(rt, BEFORE):
        invoke(rt, BEFORE, {"user": unsaved_user_json(user, providers)}, ip=ip,
               in_transaction=False)


def queue_after(rt: Runtime, user: User, ip: str, *, mode: str = PASS) -> None:
    if not enabled(rt, AFTER):
        return
    entries = _created.get()
    if entries is None:
        entries = []
        _created.set(entries)
    entries.append(_Created(user, ip, mode))


def set_mode(user: User, mode: str) -> None:
    for entry in _created.get() or ():
        if entry.user is user:
            entry.mode = mode


def skip_after(user: User) -> None:
    """/signup answered with a session: GoTrue returns before its after_user_created call."""
    entries = _created.get()
    if entries:
        _created.set([entry for entry in entries if entry.user is not user])


def pending() -> bool:
    """Whether the current request created a user (most requests do not, and skip run_after)."""
    return bool(_created.get())


def run_after(rt: Runtime) -> None:
    """Call after_user_created for each committed new user of the request; the first error
    (mapped for /signup) is raised after every call was made."""
    entries = _created.get()
    _created.set(None)
    failure: GoTrueError | None = None
    for entry in entries or ():
        if not entry.committed:
            continue
        try:
            invoke(rt, AFTER, {"user": user_json(entry.user)}, ip=entry.ip,
                   in_transaction=False)
        except GoTrueError as error:
            if failure is None:
                failure = (internal("Error invoking hook", cause=error)
                           if entry.mode == SIGNUP else error)
    if failure is not None:
        raise failure


def forget(_exception=None) -> None:
    _created.set(None)


@sa.event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for entry in _created.get() or ():
        entry.committed = True


@sa.event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction) -> None:
    if previous_transaction.nested:
        return
    entries = _created.get()
    if entries:
        _created.set([entry for entry in entries if entry.committed])
