"""The audit log as the admin API lists it (GET /admin/audit): newest first, offset pages with a
total, filtered by ``query``. Read only.

Parity: GoTrue internal/api/audit.go and models/audit_log_entry.go. The console's own search
(console/operations/audit_log/search.py) pages by keyset and filters differently; both read the
payload through audit.payload_field.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import AuditLogEntry
from .. import audit

# GoTrue's query scopes: "author:<text>", "action:<text>", "type:<text>" look for <text> in
# these payload fields.
SCOPES = {
    "author": ("actor_username", "actor_name"),
    "action": ("action",),
    "type": ("log_type",),
}
# A query without one of those scopes (GoTrue refuses it) is looked for in these fields.
UNSCOPED_FIELDS = ("actor_username", "action", "log_type")


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditLogEntry]
    total: int
    page: int
    per_page: int


def parse_query(query: str) -> tuple[tuple[str, ...], str]:
    """The payload fields to search and the text to find in them; empty text filters nothing."""
    scope, colon, text = query.partition(":")
    if colon and scope in SCOPES:
        return SCOPES[scope], text
    return UNSCOPED_FIELDS, query


def list_entries(*, page: int, per_page: int, query: str) -> AuditPage:
    """A page of entries whose payload fields contain the query's text, case-insensitively and
    literally (``%`` and ``_`` match only themselves)."""
    conditions = [AuditLogEntry.instance_id == audit.NIL]
    fields, text = parse_query(query)
    if text:
        conditions.append(sa.or_(*(audit.payload_field(name).icontains(text, autoescape=True)
                                   for name in fields)))
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(AuditLogEntry).where(*conditions)).scalar_one()
    rows = db.session.execute(
        sa.select(AuditLogEntry).where(*conditions)
        .order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return AuditPage(entries=list(rows), total=total, page=page, per_page=per_page)
