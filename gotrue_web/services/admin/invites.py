"""POST /invite and the console's invitations (batches, pending list, resend, revoke).

Parity: GoTrue internal/api/invite.go.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ...console.operations import keyset
from ...errors import ErrorCode, GoTrueError, bad_request, not_found, unprocessable
from ...extensions import db
from ...models import User
from ...runtime import RequestInfo, Runtime
from .. import audit, signup, users
from ..mail import flows as mail_flows
from ..validation import normalize_email
from . import users as admin_users

DUPLICATE_EMAIL = "A user with this email address has already been registered"


def invite(rt: Runtime, email: str, data: dict | None, redirect_to: str, actor: audit.Actor,
           info: RequestInfo) -> User:
    """Create (or reuse an unconfirmed) user for ``email`` and mail an invitation.

    422 email_exists for a confirmed address. No 60 s rule: an admin may invite again, and the
    new invitation replaces the old link and code. A failed send raises, so the caller's
    rollback leaves no user behind.
    """
    address = invitable_address(email)
    user = find_or_create_invitee(rt, address, data, info)
    audit.record("user_invited", actor, now=rt.now(), ip=info.ip,
                 traits={"user_id": str(user.id), "user_email": address})
    mail_flows.send_invite(rt, user, redirect_to)
    return user


def invitable_address(email: str) -> str:
    """The normalised address; 400 validation_failed when missing or malformed."""
    if not email or not email.strip():
        raise bad_request(ErrorCode.VALIDATION_FAILED, "An email address is required")
    return normalize_email(email)


def find_or_create_invitee(rt: Runtime, email: str, data: dict | None,
                           info: RequestInfo) -> User:
    """The unconfirmed user of ``email``, or a new one without a password.

    ``data`` becomes the new user's user_metadata; an existing user keeps theirs, as in GoTrue.
    Admins invite even when GOTRUE_DISABLE_SIGNUP is set.
    """
    user = find_invitable(email, info.aud)
    if user is not None:
        return user
    if signup.address_taken(User.email, email):
        # Held in another audience: the unique index would refuse the new row.
        raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
    return signup.register_email_user(rt, email, None, data, info, audit_signup=False)


def find_invitable(email: str, aud: str) -> User | None:
    """The existing unconfirmed user of ``email``; 422 email_exists when it is confirmed."""
    user = users.find_by_email(email, aud)
    if user is not None and user.confirmed_at is not None:
        raise unprocessable(ErrorCode.EMAIL_EXISTS, DUPLICATE_EMAIL)
    return user


# --- the console's invitations page ----------------------------------------------------------

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
