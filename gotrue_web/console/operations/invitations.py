"""The console's invitations page: pasted address lists, the pending invitations (keyset
pages), resend and revoke. Each invitation goes through services.admin.invites.invite, as
POST /invite does, with the operator as the audit actor."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, not_found, unprocessable
from ...extensions import db
from ...models import User
from ...runtime import RequestInfo, Runtime
from ...services import audit, users
from ...services.admin import users as admin_users
from ...services.admin.invites import find_invitable, invitable_address, invite
from . import keyset

MAX_BATCH = 100
_ENTRY_SEPARATORS = re.compile(r"[\r\n,;]+")
# "Ada Lovelace <ada@example.com>", as mail programs copy recipients: the address only.
_NAMED_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
# A quoted display name may hold a comma ("Lovelace, Ada" <ada@example.com>).
_QUOTED_NAME = re.compile(r'"[^"]*"\s*(?=<)')


def _items(text: str):
    for entry in _ENTRY_SEPARATORS.split(_QUOTED_NAME.sub(" ", text or "")):
        named = _NAMED_ADDRESS.findall(entry)
        if not named:
            yield from entry.split()
            continue
        yield from named
        # Beside named addresses, the words without an @ are their display names.
        yield from (word for word in _NAMED_ADDRESS.sub(" ", entry).split() if "@" in word)


def require_mail(rt: Runtime) -> None:
    """422 when mail is switched off: POST /invite then answers 200 without sending anything
    (as GoTrue does), but the console would report invitations nobody received."""
    if not rt.mailer.enabled:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "Mail is switched off (GOTRUE_SMTP_HOST is not set): no invitation "
                            "can be sent.")


def parse_address_list(text: str) -> list[str]:
    """The addresses of a pasted list (newline, comma, semicolon or space separated, with or
    without display names in the "Name <address>" form), in order, each once (compared
    case-insensitively). Not validated: see invite_address.

    422 validation_failed for an empty list or more than MAX_BATCH addresses.
    """
    seen: set[str] = set()
    addresses = []
    for item in _items(text):
        if item.lower() not in seen:
            seen.add(item.lower())
            addresses.append(item)
    if not addresses:
        raise unprocessable(ErrorCode.VALIDATION_FAILED, "Type at least one email address.")
    if len(addresses) > MAX_BATCH:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            f"Invite at most {MAX_BATCH} addresses at a time "
                            f"({len(addresses)} given).")
    return addresses


@dataclass(frozen=True)
class InviteOutcome:
    address: str
    # invited | reinvited | exists | invalid | failed
    status: str
    message: str = ""
    user_id: uuid.UUID | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("invited", "reinvited")


def invite_address(rt: Runtime, raw: str, actor: audit.Actor, info: RequestInfo) -> InviteOutcome:
    """Invite one address of a list (to the site URL) and say how it went, without raising.

    On anything but "invited"/"reinvited" the caller must roll back what was written.
    """
    try:
        address = invitable_address(raw)
    except GoTrueError as error:
        return InviteOutcome(raw, "invalid", error.message)
    try:
        existing = find_invitable(address, info.aud)
        user = invite(rt, address, None, rt.settings.site_url, actor, info)
    except GoTrueError as error:
        if error.error_code == ErrorCode.EMAIL_EXISTS:
            return InviteOutcome(address, "exists", "already a user")
        if error.error_code == ErrorCode.VALIDATION_FAILED:
            return InviteOutcome(address, "invalid", error.message)
        return InviteOutcome(address, "failed", error.message)
    return InviteOutcome(address, "reinvited" if existing is not None else "invited",
                         user_id=user.id)


def is_pending(user: User) -> bool:
    """Invited and not confirmed yet (nor deleted)."""
    return (user.invited_at is not None and user.confirmed_at is None
            and user.deleted_at is None)


_PENDING = (User.invited_at.is_not(None), User.email_confirmed_at.is_(None),
            User.phone_confirmed_at.is_(None), User.deleted_at.is_(None))


@dataclass(frozen=True)
class PendingPage:
    users: list[User]
    total: int
    # The cursor of the next (older) page, or None on the last one.
    next_cursor: str | None


def pending(*, after: str | None = None, limit: int = 50) -> PendingPage:
    """Pending invitations, the most recently sent first (keyset pages; ``after`` is the cursor
    the previous page returned)."""
    query = sa.select(User).where(*_PENDING)
    older = keyset.after(User.invited_at, User.id, after)
    if older is not None:
        query = query.where(older)
    rows = db.session.execute(
        query.order_by(User.invited_at.desc(), User.id.desc()).limit(limit + 1)).scalars().all()
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(User).where(*_PENDING)).scalar_one()
    page = list(rows[:limit])
    cursor = keyset.encode(page[-1].invited_at, page[-1].id) if len(rows) > limit else None
    return PendingPage(users=page, total=total, next_cursor=cursor)


def load_pending(user_id: str) -> User:
    """The invited user of a pending invitation; 404 invite_not_found otherwise."""
    try:
        user = users.get(uuid.UUID(user_id))
    except ValueError:
        user = None
    if user is None or not is_pending(user):
        raise not_found(ErrorCode.INVITE_NOT_FOUND,
                        "There is no pending invitation for this user any more.")
    return user


def resend(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Invite the pending invitee again (new link and code; no 60 s rule)."""
    require_mail(rt)
    invite(rt, user.email, None, rt.settings.site_url, actor,
           RequestInfo(ip=info.ip, user_agent=info.user_agent, aud=user.aud or info.aud))


def revoke(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Withdraw a pending invitation: the never-confirmed user is deleted (user_deleted, with
    invite_revoked in its traits), so the link they hold stops working."""
    admin_users.delete_user(rt, user, soft=False, actor=actor, info=info,
                            audit_traits={"invite_revoked": True})
