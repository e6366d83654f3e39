"""Reading the SMS log for the console: filters and keyset pages, newest first (read only).

The same paging as the mail log (log_paging over (created_at, id)). The number filter takes
the digits of whatever was typed ("+1 555-123", "(555) 123") and matches them anywhere in the
stored number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....models import SMSLogEntry
from ....services.phone import delivery
from ....transports import sms
from .. import log_paging

KINDS = delivery.KINDS
STATUSES = delivery.STATUSES
CHANNELS = sms.CHANNELS


@dataclass(frozen=True)
class SMSLogFilter:
    """What the console narrows the log to; empty fields do not filter."""

    # Digits found anywhere in the stored number.
    number: str = ""
    kind: str = ""
    status: str = ""
    channel: str = ""
    # Substring of the provider's message id (as the provider's own dashboard shows it).
    message_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def search(filters: SMSLogFilter, *, limit: int = log_paging.DEFAULT_PAGE_SIZE,
           before: str | None = None, after: str | None = None) -> log_paging.Page:
    """One page of committed entries matching ``filters``, newest first."""
    query = sa.select(SMSLogEntry)
    if filters.number:
        query = query.where(log_paging.contains(SMSLogEntry.recipient, filters.number))
    if filters.kind:
        query = query.where(SMSLogEntry.kind == filters.kind)
    if filters.status:
        query = query.where(SMSLogEntry.status == filters.status)
    if filters.channel:
        query = query.where(SMSLogEntry.channel == filters.channel)
    if filters.message_id:
        query = query.where(log_paging.contains(SMSLogEntry.message_id, filters.message_id))
    if filters.since is not None:
        query = query.where(SMSLogEntry.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(SMSLogEntry.created_at < filters.until)
    return log_paging.fetch(query, SMSLogEntry.created_at, SMSLogEntry.id, limit=limit,
                            before=before, after=after)
