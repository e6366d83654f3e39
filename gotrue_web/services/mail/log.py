"""The mail log: every email sent or attempted, and the global email budget it backs.

Entries are kept aside during the request (PendingMailLog, on the Runtime) and written after
its transaction ends, in a transaction of their own, so a failed send is recorded even though
the request rolls back everything else (the user row an entry names may then not exist).

Statuses: ``sent``; ``failed`` (the SMTP error is in ``error``); ``not_sent`` (no SMTP host, as
in GoTrue, where mail is then silently dropped). With the send_email hook on, the entries of the
emails the hook was asked to send have send_hook.SUBJECT as subject, and a failed one the hook's
error.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from ...durations import parse_go_duration
from ...extensions import db
from ...models import MailLogEntry
from ...models.mail_outbox import OUTBOX_PENDING, MailOutboxRow
from ..deferred_rows import DeferredRows
from .templates import KINDS

log = logging.getLogger(__name__)

SENT, FAILED, NOT_SENT = "sent", "failed", "not_sent"
STATUSES = (SENT, FAILED, NOT_SENT)
# The template name of the console's SMTP check, beside the email templates' kinds.
SMTP_TEST = "smtp_test"
TEMPLATES = (*KINDS, SMTP_TEST)
DEFAULT_BUDGET_WINDOW = timedelta(hours=1)


class PendingMailLog:
    """Mail log entries of the current request, kept aside until its transaction is over.

    One per app (on the Runtime); each request (each thread or context) has its own list.
    The factory registers ``write_pending`` as an app-context teardown.
    """

    def __init__(self):
        self._entries = DeferredRows("pending_mail_log", "mail log entries")

    def record(self, *, now: datetime, template: str, recipient: str, subject: str,
               status: str, error: str | None = None, user_id: uuid.UUID | None = None
               ) -> None:
        """Keep an entry; write_pending stores it once the request is over."""
        entry = MailLogEntry(id=uuid.uuid4(), created_at=now, template=template,
                             recipient=recipient[:255], subject=subject, status=status,
                             error=error, user_id=user_id)
        self._entries.add(entry)

    def pending(self) -> list[MailLogEntry]:
        """Entries of this request not written yet."""
        return self._entries.pending()

    def write_pending(self, _exception=None) -> None:
        """Teardown: persist this request's entries in their own transaction."""
        self._entries.write()


def _queued_unlogged(since: datetime) -> sa.ColumnElement[bool]:
    """Outbox rows queued after ``since`` whose first attempt is not in the mail log yet:
    never claimed, or claimed for the first time and being sent now. The first attempt's
    entry is dated when the email was queued (dispatcher.attempt), so these count in the
    budget from the moment their request commits, as they will once sent: a burst of requests
    cannot queue past the budget while a slow SMTP server works through the first ones."""
    table = MailOutboxRow
    return sa.and_(table.status == OUTBOX_PENDING, table.created_at > since,
                   sa.or_(table.attempts == 0,
                          sa.and_(table.attempts == 1, table.claimed_until.is_not(None))))


def newest_attempts(pending: PendingMailLog, since: datetime, limit: int) -> list[datetime]:
    """When the ``limit`` newest email attempts after ``since`` were made, newest first: the
    committed entries of every process, the emails queued and not yet tried, and this
    request's pending entries."""
    committed = db.session.execute(
        sa.select(MailLogEntry.created_at).where(MailLogEntry.created_at > since)
        .order_by(MailLogEntry.created_at.desc()).limit(limit)
    ).scalars().all()
    queued = db.session.execute(
        sa.select(MailOutboxRow.created_at).where(_queued_unlogged(since))
        .order_by(MailOutboxRow.created_at.desc()).limit(limit)
    ).scalars().all()
    own = [entry.created_at for entry in pending.pending() if entry.created_at > since]
    return sorted([*committed, *queued, *own], reverse=True)[:limit]


def count_since(since: datetime) -> int:
    """How many attempts were logged after ``since`` (committed entries only), plus the
    emails queued since then and not tried yet."""
    logged = sa.select(sa.func.count()).select_from(MailLogEntry).where(
        MailLogEntry.created_at > since).scalar_subquery()
    queued = sa.select(sa.func.count()).select_from(MailOutboxRow).where(
        _queued_unlogged(since)).scalar_subquery()
    return db.session.execute(sa.select(logged + queued)).scalar_one()


def parse_budget(value: str) -> tuple[int, timedelta]:
    """GOTRUE_RATE_LIMIT_EMAIL_SENT: "N" emails per hour, or "N/duration" (e.g. "10/15m").

    A fractional N above zero still allows one email; "0" allows none.
    """
    count, _, period = value.strip().partition("/")
    number = float(count)
    allowed = int(number) if number >= 1 or number <= 0 else 1
    return allowed, parse_go_duration(period) if period else DEFAULT_BUDGET_WINDOW


def budget_wait(pending: PendingMailLog, value: str, now: datetime) -> float | None:
    """Seconds until the next email fits the budget ``value``; None when it fits now.

    Returns ``float("inf")`` for a budget of 0. Attempts of every status count, as in GoTrue,
    whose limiter takes its token before the mailer runs: a failing or absent SMTP server
    uses up the budget too, so an outage cannot be turned into unlimited retries.
    """
    allowed, window = parse_budget(value)
    if allowed <= 0:
        return float("inf")
    since = now - window
    if count_since(since) + len(pending.pending()) < allowed:
        return None
    attempts = newest_attempts(pending, since, allowed)
    if len(attempts) < allowed:
        return None
    # The slot frees up when the allowed-th newest attempt leaves the window.
    return (attempts[allowed - 1] + window - now).total_seconds()
