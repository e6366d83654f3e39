"""Reading the mail log for the console: filters and keyset pages, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ...models import MailLogEntry
from . import log_paging


@dataclass(frozen=True)
class MailLogFilter:
    """What the console narrows the log to; empty fields do not filter."""

    # Substring of the recipient address, any case.
    recipient: str = ""
    template: str = ""
    status: str = ""
    # created_at >= since and < until.
    since: datetime | None = None
    until: datetime | None = None


def search(filters: MailLogFilter, *, limit: int = log_paging.DEFAULT_PAGE_SIZE,
           before: str | None = None, after: str | None = None) -> log_paging.Page:
    """One page of committed entries matching ``filters``, newest first (read only)."""
    query = sa.select(MailLogEntry)
    recipient = filters.recipient.strip()
    if recipient:
        query = query.where(log_paging.contains(MailLogEntry.recipient, recipient))
    if filters.template:
        query = query.where(MailLogEntry.template == filters.template)
    if filters.status:
        query = query.where(MailLogEntry.status == filters.status)
    if filters.since is not None:
        query = query.where(MailLogEntry.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(MailLogEntry.created_at < filters.until)
    return log_paging.fetch(query, MailLogEntry.created_at, MailLogEntry.id, limit=limit,
                            before=before, after=after)
