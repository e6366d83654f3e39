"""Reading the audit log for the console: filters by actor, action, target and time, keyset pages,
and a readable form of each entry. Read only.

Entries keep GoTrue's payload shape (actor_id, actor_username, actor_name, action, log_type,
traits); the filters look inside it with the JSON functions of each database, which SQLAlchemy
spells portably.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....models import AuditLogEntry
from ....services import audit
from .. import log_paging
from . import summaries

# Actions written by the console beyond those in audit.LOG_TYPES.
CONSOLE_ACTIONS = {
    "email_template_updated": "operator",
    "email_template_reset": "operator",
    "email_template_test_sent": "operator",
    "smtp_test_sent": "operator",
}
# Traits that name the user an entry is about.
TARGET_TRAITS = ("user_id", "user_email", "user_phone")
_GROUP_ORDER = ("account", "team", "token", "user", "factor", "operator")


def known_actions() -> list[tuple[str, list[str]]]:
    """Every action the server writes, grouped by log type, for the action filter."""
    groups: dict[str, list[str]] = {}
    for action, log_type in {**audit.LOG_TYPES, **CONSOLE_ACTIONS}.items():
        groups.setdefault(log_type, []).append(action)
    ordered = sorted(groups, key=lambda name: (_GROUP_ORDER.index(name)
                                               if name in _GROUP_ORDER else len(_GROUP_ORDER),
                                               name))
    return [(name, sorted(groups[name])) for name in ordered]


@dataclass(frozen=True)
class AuditFilter:
    """Empty fields do not filter. ``actor`` and ``target`` are case-insensitive substrings."""

    # Matches the actor's email/phone (actor_username) or id.
    actor: str = ""
    action: str = ""
    # Matches traits.user_id, traits.user_email or traits.user_phone.
    target: str = ""
    # One of summaries.HAPPENINGS' keys: what happened ("bans", "metadata", ...).
    happened: str = ""
    # created_at >= since and < until.
    since: datetime | None = None
    until: datetime | None = None


_payload = audit.payload_field


def search(filters: AuditFilter, *, limit: int = log_paging.DEFAULT_PAGE_SIZE,
           before: str | None = None, after: str | None = None) -> log_paging.Page:
    """One page of entries matching ``filters``, newest first; items are AuditRow."""
    query = sa.select(AuditLogEntry)
    actor = filters.actor.strip()
    if actor:
        query = query.where(sa.or_(log_paging.contains(_payload("actor_username"), actor),
                                   log_paging.contains(_payload("actor_id"), actor)))
    if filters.action:
        query = query.where(_payload("action") == filters.action)
    if filters.happened:
        query = query.where(*summaries.happening_conditions(filters.happened))
    target = filters.target.strip()
    if target:
        query = query.where(sa.or_(*(log_paging.contains(_payload("traits", name), target)
                                     for name in TARGET_TRAITS)))
    if filters.since is not None:
        query = query.where(AuditLogEntry.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditLogEntry.created_at < filters.until)
    page = log_paging.fetch(query, AuditLogEntry.created_at, AuditLogEntry.id, limit=limit,
                            before=before, after=after)
    page.items = [AuditRow.of(entry) for entry in page.items]
    return page


@dataclass(frozen=True)
class AuditRow:
    """An entry as the console shows it."""

    id: uuid.UUID
    created_at: datetime | None
    action: str
    log_type: str
    actor_id: str
    actor_username: str
    actor_name: str
    ip: str
    traits: dict
    target_email: str
    target_id: uuid.UUID | None

    @property
    def by_operator(self) -> bool:
        return self.actor_name == "operator" or self.log_type == "operator"

    @property
    def actor_user_id(self) -> uuid.UUID | None:
        """The end user who acted, when it was one (not an operator or an admin token)."""
        if self.by_operator:
            return None
        try:
            actor = uuid.UUID(self.actor_id)
        except ValueError:
            return None
        return None if actor == audit.NIL else actor

    @property
    def summary(self) -> str:
        return summaries.summary(self.action, self.traits)

    @property
    def details(self) -> list[tuple[str, str]]:
        return summaries.details(self.traits)

    @property
    def traits_json(self) -> str:
        return json.dumps(self.traits, indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def of(cls, entry: AuditLogEntry) -> "AuditRow":
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        traits = payload.get("traits") if isinstance(payload.get("traits"), dict) else {}
        target_id = None
        try:
            target_id = uuid.UUID(str(traits.get("user_id", "")))
        except ValueError:
            pass
        return cls(
            id=entry.id, created_at=entry.created_at,
            action=str(payload.get("action", "")), log_type=str(payload.get("log_type", "")),
            actor_id=str(payload.get("actor_id", "")),
            actor_username=str(payload.get("actor_username", "")),
            actor_name=str(payload.get("actor_name", "")),
            ip=entry.ip_address or "", traits=traits,
            target_email=str(traits.get("user_email") or traits.get("user_phone") or ""),
            target_id=target_id,
        )
