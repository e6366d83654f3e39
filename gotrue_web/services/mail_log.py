"""The mail log: every email sent or attempted, and the global email budget it backs.

Entries are kept aside during the request and written after its transaction ends, in a
transaction of their own, so a failed send is recorded even though the request rolls back
everything else (the user row an entry names may then not exist).

Statuses: ``sent``; ``failed`` (the SMTP error is in ``error``); ``not_sent`` (no SMTP host, as
in GoTrue, where mail is then silently dropped).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import g

from ..durations import parse_go_duration
from ..extensions import db
from ..models import MailLogEntry
from . import log_paging
from .email_templates import KINDS

log = logging.getLogger(__name__)

SENT, FAILED, NOT_SENT = "sent", "failed", "not_sent"
STATUSES = (SENT, FAILED, NOT_SENT)
# The template name of the console's SMTP check, beside the email templates' kinds.
SMTP_TEST = "smtp_test"
TEMPLATES = (*KINDS, SMTP_TEST)
DEFAULT_BUDGET_WINDOW = timedelta(hours=1)


def record(*, now: datetime, template: str, recipient: str, subject: str, status: str,
           error: str | None = None, user_id: uuid.UUID | None = None) -> None:
    """Keep an entry for this app context; write_pending stores it once the request is over."""
    entry = MailLogEntry(id=uuid.uuid4(), created_at=now, template=template,
                         recipient=recipient[:255], subject=subject, status=status, error=error,
                         user_id=user_id)
    g.setdefault("pending_mail_log", []).append(entry)


def pending() -> list[MailLogEntry]:
    """Entries of this app context not written yet."""
    return list(g.get("pending_mail_log", ()))


def write_pending(_exception=None) -> None:
    """Teardown: persist the entries of this app context in their own transaction."""
    entries = g.pop("pending_mail_log", None)
    if not entries:
        return
    try:
        db.session.rollback()
        db.session.add_all(entries)
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        # Without the entries the console misses them and the budget undercounts: say so.
        log.exception("could not write %d mail log entries", len(entries))


def newest_attempts(since: datetime, limit: int) -> list[datetime]:
    """When the ``limit`` newest email attempts after ``since`` were made, newest first: the
    committed entries of every process and this request's pending ones."""
    committed = db.session.execute(
        sa.select(MailLogEntry.created_at).where(MailLogEntry.created_at > since)
        .order_by(MailLogEntry.created_at.desc()).limit(limit)
    ).scalars().all()
    own = [entry.created_at for entry in pending() if entry.created_at > since]
    return sorted([*committed, *own], reverse=True)[:limit]


def count_since(since: datetime) -> int:
    """How many attempts were logged after ``since`` (committed entries only)."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(MailLogEntry)
        .where(MailLogEntry.created_at > since)
    ).scalar_one()


def parse_budget(value: str) -> tuple[int, timedelta]:
    """GOTRUE_RATE_LIMIT_EMAIL_SENT: "N" emails per hour, or "N/duration" (e.g. "10/15m").

    A fractional N above zero still allows one email; "0" allows none.
    """
    count, _, period = value.strip().partition("/")
    number = float(count)
    allowed = int(number) if number >= 1 or number <= 0 else 1
    return allowed, parse_go_duration(period) if period else DEFAULT_BUDGET_WINDOW


def budget_wait(value: str, now: datetime) -> float | None:
    """Seconds until the next email fits the budget ``value``; None when it fits now.

    Returns ``float("inf")`` for a budget of 0. Attempts of every status count, as in GoTrue,
    whose limiter takes its token before the mailer runs: a failing or absent SMTP server
    uses up the budget too, so an outage cannot be turned into unlimited retries.
    """
    allowed, window = parse_budget(value)
    if allowed <= 0:
        return float("inf")
    since = now - window
    if count_since(since) + len(pending()) < allowed:
        return None
    attempts = newest_attempts(since, allowed)
    if len(attempts) < allowed:
        return None
    # The slot frees up when the allowed-th newest attempt leaves the window.
    return (attempts[allowed - 1] + window - now).total_seconds()


# --- reading the log (operator console) ----------------------------------------------------------


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
