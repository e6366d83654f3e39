"""One user's story in the audit log: the entries they caused and the entries about them; and
the account-change notifications they were sent (the mail log).

An entry belongs to the user when they are its actor (``actor_id``) or its target
(``traits.user_id``), which covers end-user events (signup, login, refresh) as well as what
admins and operators did to them. Read-only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ...extensions import db
from ...models import AuditLogEntry, MailLogEntry
from ...models.mail_outbox import OUTBOX_PENDING, MailOutboxRow
from ...services.mail.notifications import KINDS as NOTIFICATION_KINDS
from . import keyset

PAGE_SIZE = 20
NOTIFICATIONS_SHOWN = 10

_PAYLOAD = AuditLogEntry.payload
_ACTOR_ID = _PAYLOAD["actor_id"].as_string()
_TARGET_ID = _PAYLOAD[("traits", "user_id")].as_string()
_ACTION = _PAYLOAD["action"].as_string()
_BAN_DURATION = _PAYLOAD[("traits", "ban_duration")].as_string()
# Traits every entry about a user repeats; the timeline shows the others.
_NAMING_TRAITS = frozenset({"user_id", "user_email", "user_phone"})


@dataclass(frozen=True)
class TimelineEntry:
    id: uuid.UUID
    created_at: datetime | None
    action: str
    actor_id: str
    actor_username: str
    actor_name: str
    ip: str
    traits: dict = field(default_factory=dict)

    @property
    def details(self) -> dict:
        """The traits worth showing (not the ones naming the user again)."""
        return {key: value for key, value in self.traits.items() if key not in _NAMING_TRAITS}

    @classmethod
    def of(cls, row: AuditLogEntry) -> "TimelineEntry":
        payload = row.payload if isinstance(row.payload, dict) else {}
        traits = payload.get("traits")
        return cls(id=row.id, created_at=row.created_at, action=str(payload.get("action", "")),
                   actor_id=str(payload.get("actor_id", "")),
                   actor_username=str(payload.get("actor_username", "")),
                   actor_name=str(payload.get("actor_name", "")), ip=row.ip_address or "",
                   traits=traits if isinstance(traits, dict) else {})


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    # Where the next (older) page starts; None on the last page.
    next_cursor: str | None


def _about(user_id: uuid.UUID):
    return sa.or_(_ACTOR_ID == str(user_id), _TARGET_ID == str(user_id))


def page(user_id: uuid.UUID, *, before: str | None = None, limit: int = PAGE_SIZE,
         hide_refreshes: bool = False) -> TimelinePage:
    """The user's entries, newest first, starting after the ``before`` cursor.

    ``hide_refreshes`` leaves out token_refreshed, which a signed-in app writes every hour.
    """
    query = sa.select(AuditLogEntry).where(_about(user_id))
    if hide_refreshes:
        query = query.where(_ACTION != "token_refreshed")
    older = keyset.after(AuditLogEntry.created_at, AuditLogEntry.id, before)
    if older is not None:
        query = query.where(older)
    rows = db.session.execute(
        query.order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc())
        .limit(limit + 1)
    ).scalars().all()
    entries = [TimelineEntry.of(row) for row in rows[:limit]]
    more = len(rows) > limit
    return TimelinePage(entries=entries,
                        next_cursor=keyset.encode(entries[-1].created_at, entries[-1].id)
                        if more and entries else None)


def latest_ban_change(user_id: uuid.UUID) -> TimelineEntry | None:
    """The newest entry that set or lifted the user's ban (its traits carry ban_duration, and
    ban_reason when an operator banned from the console)."""
    row = db.session.execute(
        sa.select(AuditLogEntry)
        .where(_TARGET_ID == str(user_id), _BAN_DURATION.is_not(None))
        .order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc()).limit(1)
    ).scalars().first()
    return TimelineEntry.of(row) if row is not None else None


@dataclass(frozen=True)
class Notifications:
    # The newest attempts (the mail log: sent, failed, not_sent), newest first.
    attempts: list[MailLogEntry]
    # Notifications queued and not yet sent (or waiting for a retry).
    waiting: int


def notifications(user_id: uuid.UUID, limit: int = NOTIFICATIONS_SHOWN) -> Notifications:
    """The account-change notifications sent to (or tried for) the user."""
    attempts = db.session.execute(
        sa.select(MailLogEntry)
        .where(MailLogEntry.user_id == user_id,
               MailLogEntry.template.in_(NOTIFICATION_KINDS))
        .order_by(MailLogEntry.created_at.desc(), MailLogEntry.id.desc()).limit(limit)
    ).scalars().all()
    waiting = db.session.execute(
        sa.select(sa.func.count()).select_from(MailOutboxRow)
        .where(MailOutboxRow.user_id == user_id, MailOutboxRow.status == OUTBOX_PENDING,
               MailOutboxRow.kind.in_(NOTIFICATION_KINDS))
    ).scalar_one()
    return Notifications(attempts=list(attempts), waiting=waiting)
