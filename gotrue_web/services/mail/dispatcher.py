"""The mail outbox's dispatcher: claims due ``mail_outbox`` rows, sends them, retries.

Claiming is safe with several processes and servers on one database. PostgreSQL and MariaDB
select due rows ``FOR UPDATE SKIP LOCKED`` (a row another dispatcher is claiming is skipped,
not waited for); on SQLite every claim is a write transaction (BEGIN IMMEDIATE), so claims run
one after the other. Either way the claim itself is a conditional UPDATE (still pending, the
attempt count unchanged) that only one dispatcher can win. A claim sets ``claimed_until`` (now
plus GOTRUE_MAILER_OUTBOX_LEASE) and counts the attempt; the send happens after the claim's
commit, holding no lock. A dispatcher that dies mid-send leaves the row to be claimed again once
the lease has passed: delivery is at least once, and every attempt carries the row's
Message-ID so that a receiving server can drop a duplicate.

A failed attempt waits GOTRUE_MAILER_OUTBOX_RETRY_BACKOFF, doubled after each failure, up to
GOTRUE_MAILER_OUTBOX_MAX_ATTEMPTS attempts; the row is then ``failed`` and the flow's code
released (outbox.release). A final row (sent, not_sent, failed) keeps no payload.

``MailOutbox`` (on the Runtime) writes the rows and, with GOTRUE_MAILER_OUTBOX_DISPATCHER=server
(the default), runs one daemon thread per process that is woken after a request that queued mail
and otherwise looks for due rows every GOTRUE_MAILER_OUTBOX_POLL_INTERVAL. With ``external``,
``flask --app wsgi outbox run`` does the sending (``run``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Callable

import sqlalchemy as sa

from ...extensions import db
from ...models.mail_outbox import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    MailOutboxRow,
)
from ...runtime import Runtime, process_id
from ...settings import Settings
from . import outbox
from .sealing import PayloadSealer, UnreadablePayload, email_from_json, email_to_json

log = logging.getLogger(__name__)

# Final state of an email that the transport dropped (no SMTP host, as in GoTrue).
OUTBOX_NOT_SENT = "not_sent"
# Rows one claim takes at most; the dispatchers take fewer (one per free sender), so that the
# lease covers every claimed row's send.
CLAIM_BATCH = 10
# Emails one server process sends at once: SMTP exchanges mostly wait on the network.
SENDER_THREADS = 2


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    attempt: int
    message_id: str
    payload: str | None
    created_at: datetime


def retry_delay(settings: Settings, attempt: int) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1-based): the backoff, doubled."""
    return settings.mailer.outbox_retry_backoff * (2 ** (attempt - 1))


def claim(rt: Runtime, limit: int = CLAIM_BATCH) -> list[Claim]:
    """Take up to ``limit`` due rows for this dispatcher, in its own committed transaction."""
    now = rt.now()
    lease_end = now + rt.settings.mailer.outbox_lease
    table = MailOutboxRow
    query = (sa.select(table.id, table.attempts, table.message_id, table.payload,
                       table.created_at)
             .where(table.status == OUTBOX_PENDING, table.next_attempt_at <= now,
                    sa.or_(table.claimed_until.is_(None), table.claimed_until < now))
             .order_by(table.next_attempt_at).limit(limit))
    if db.session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    try:
        for row in db.session.execute(query).all():
            won = db.session.execute(
                sa.update(table)
                .where(table.id == row.id, table.attempts == row.attempts,
                       table.status == OUTBOX_PENDING)
                .values(attempts=row.attempts + 1, claimed_until=lease_end)
                .execution_options(synchronize_session=False))
            if won.rowcount == 1:
                claimed.append(Claim(row.id, row.attempts + 1, row.message_id, row.payload,
                                     row.created_at))
        db.session.commit()
    except sa.exc.OperationalError:
        # A lock timeout or a busy database: nothing was claimed; the next round tries again.
        db.session.rollback()
        log.warning("mail outbox: could not claim due emails now; will try again")
        return []
    return claimed


def _finish(claimed: Claim, **values) -> bool:
    """Store the attempt's outcome, unless the row was claimed again meanwhile (our lease ran
    out): then the newer claim owns it."""
    table = MailOutboxRow
    done = db.session.execute(
        sa.update(table).where(table.id == claimed.id, table.attempts == claimed.attempt)
        .values(claimed_until=None, **values).execution_options(synchronize_session=False))
    db.session.commit()
    return done.rowcount == 1


def attempt(rt: Runtime, sealer: PayloadSealer, claimed: Claim) -> str:
    """Send one claimed row; returns the row's new status."""
    settings = rt.settings.mailer
    now = rt.now()
    try:
        email = email_from_json(sealer.open(claimed.payload or ""), outbox.Email)
    except (UnreadablePayload, KeyError, TypeError, ValueError) as exc:
        log.error("mail outbox: email %s cannot be read (%s); giving it up", claimed.id, exc)
        _finish(claimed, status=OUTBOX_FAILED, payload=None, finished_at=now,
                last_error=str(exc))
        return OUTBOX_FAILED
    final = claimed.attempt >= settings.outbox_max_attempts
    retry_at = now + retry_delay(rt.settings, claimed.attempt)
    note = "" if final else (f" (attempt {claimed.attempt} of {settings.outbox_max_attempts}; "
                             f"retrying at {retry_at:%Y-%m-%d %H:%M:%S} UTC)")
    how = outbox.Attempt(message_id=claimed.message_id,
                         logged_at=None if claimed.attempt == 1 else now, retry_note=note)
    try:
        error = outbox.send(rt, email, how)
    except Exception as exc:  # noqa: BLE001 - a template or hook bug must not stop the outbox
        log.exception("mail outbox: %s email could not be sent", email.kind)
        rt.mail_log.record(now=how.logged_at or email.created_at, template=email.kind,
                           recipient=email.to, subject="", status=outbox.mail_log.FAILED,
                           error=f"{type(exc).__name__}: {exc}{note}", user_id=email.user_id)
        rt.metrics.email(email.kind, outbox.mail_log.FAILED)
        error = exc
    if error is not None:
        # A failed pg-functions send_email hook leaves the transaction aborted.
        db.session.rollback()
    if error is None:
        sent = rt.mail_log.pending()[-1].status == outbox.mail_log.SENT
        status = OUTBOX_SENT if sent else OUTBOX_NOT_SENT
        _finish(claimed, status=status, payload=None, finished_at=now, last_error=None)
    elif not final:
        status = OUTBOX_PENDING
        _finish(claimed, next_attempt_at=retry_at, last_error=_describe(error))
    else:
        status = OUTBOX_FAILED
        if _finish(claimed, status=status, payload=None, finished_at=now,
                   last_error=_describe(error)):
            for each in (email, *email.also):
                outbox.release(each)
    rt.mail_log.write_pending()
    return status


def _describe(error: BaseException) -> str:
    return getattr(error, "message", None) or str(error) or type(error).__name__


def deliver_due(rt: Runtime, sealer: PayloadSealer) -> int:
    """Send every row that is due now, one after the other; returns how many were tried.

    One row per claim: a batch sent in a row could outlast the lease of its last rows."""
    tried = 0
    while claimed := claim(rt, 1):
        for each in claimed:
            attempt(rt, sealer, each)
            tried += 1
    return tried


def backlog(rt: Runtime) -> int:
    """Emails waiting to be sent (due now or later)."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(MailOutboxRow)
        .where(MailOutboxRow.status == OUTBOX_PENDING)).scalar_one()


class MailOutbox:
    """The Runtime's outbox: writes rows into the request's transaction and runs this
    process's dispatcher thread (GOTRUE_MAILER_OUTBOX_DISPATCHER=server)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.sealer = PayloadSealer(settings)
        self.in_server = settings.mailer.outbox_dispatcher == "server"
        self._queued: ContextVar[tuple[uuid.UUID, ...]] = ContextVar("mail_outbox_queued",
                                                                      default=())
        self._state = threading.Condition()
        self._requested = self._done = self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._wakeup = threading.Event()
        self._stopped = threading.Event()

    def put(self, email: outbox.Email) -> None:
        """Add ``email``'s row to the request's session: it commits with the request."""
        domain = self.settings.smtp.admin_email.rpartition("@")[2] or "localhost"
        row_id = uuid.uuid4()
        db.session.add(MailOutboxRow(
            id=row_id, created_at=email.created_at, kind=email.kind,
            status=OUTBOX_PENDING, attempts=0, next_attempt_at=email.created_at,
            message_id=make_msgid(domain=domain), user_id=email.user_id,
            payload=self.sealer.seal(email_to_json(email))))
        self._queued.set((*self._queued.get(), row_id))

    def take(self) -> tuple[uuid.UUID, ...]:
        """The rows the current request queued (and forget them)."""
        queued = self._queued.get()
        self._queued.set(())
        return queued

    def discard(self, _exception=None) -> None:
        """Teardown: the list is per request (a failed request's rows rolled back with it)."""
        self._queued.set(())

    @staticmethod
    def withdraw(row_ids: tuple[uuid.UUID, ...]) -> None:
        """Delete rows of a request that answered with an error but committed (an error that
        keeps an audit entry or an attempt count): its emails must not go out either."""
        try:
            db.session.rollback()
            db.session.execute(sa.delete(MailOutboxRow).where(
                MailOutboxRow.id.in_(row_ids), MailOutboxRow.attempts == 0)
                .execution_options(synchronize_session=False))
            db.session.commit()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("mail outbox: could not withdraw the emails of a failed request")

    def start(self, app) -> None:
        """Start this process's dispatcher thread once (again after a fork). ``app`` is kept
        weakly: a discarded app's thread ends."""
        if not self.in_server or self._stopped.is_set():
            return
        if self._thread is not None and self._pid == process_id():
            return
        with self._state:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=_dispatch_loop, args=(weakref.ref(app), self), daemon=True,
                name="mail-outbox")
            self._thread.start()

    def wake(self) -> None:
        """A request committed mail: send it now rather than at the next poll."""
        if self._thread is None:
            return
        with self._state:
            self._requested += 1
        self._wakeup.set()

    def wait_until_sent(self, timeout: float | None = None) -> bool:
        """Block until the dispatcher thread has tried every email due when it was last woken;
        False if ``timeout`` ran out first (True at once without the thread)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        with self._state:
            target = self._requested
            return self._state.wait_for(
                lambda: self._done >= target or not thread.is_alive(), timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """End the dispatcher thread (tests; a process that exits just lets it die)."""
        self._stopped.set()
        self._wakeup.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)


def _dispatch_loop(app_ref: Callable, mail_outbox: MailOutbox) -> None:
    """Claim due rows while a sender thread is free; each row is sent on a sender thread, so a
    slow SMTP exchange does not hold up the next email."""
    interval = mail_outbox.settings.mailer.outbox_poll_interval.total_seconds()
    senders = ThreadPoolExecutor(max_workers=SENDER_THREADS,
                                 thread_name_prefix="mail-outbox-send")
    state = mail_outbox._state
    reported_at = None
    while not mail_outbox._stopped.is_set():
        mail_outbox._wakeup.clear()
        with state:
            target = mail_outbox._requested
            free = SENDER_THREADS - mail_outbox._in_flight
        app = app_ref()
        if app is None:
            break
        claimed: list[Claim] = []
        if free > 0:
            try:
                with app.app_context():
                    claimed = claim(app.extensions["gotrue"], free)
            except Exception:  # noqa: BLE001 - the thread must outlive a database outage
                log.exception("mail outbox: claiming due emails failed; will try again")
        del app
        with state:
            mail_outbox._in_flight += len(claimed)
            if free > len(claimed) and mail_outbox._in_flight == 0:
                # Nothing more is due and nothing is being sent: the requests so far are done.
                mail_outbox._done = max(mail_outbox._done, target)
                state.notify_all()
        for each in claimed:
            senders.submit(_send_claimed, app_ref, mail_outbox, each)
        if reported_at is None or time.monotonic() - reported_at >= interval:
            # Once a poll interval, however often requests wake the thread.
            reported_at = time.monotonic()
            _report_backlog(app_ref)
        mail_outbox._wakeup.wait(interval)
    # Sends already running finish (their rows would come back after the lease anyway); ones
    # not started are dropped, to be claimed again. Waiting keeps a stopped dispatcher from
    # writing through a connection pool its app has since disposed.
    senders.shutdown(wait=True, cancel_futures=True)
    with state:
        mail_outbox._done = mail_outbox._requested
        state.notify_all()


def _report_backlog(app_ref: Callable) -> None:
    app = app_ref()
    if app is None:
        return
    try:
        with app.app_context():
            report_backlog(app.extensions["gotrue"])
    except Exception:  # noqa: BLE001 - the thread must outlive anything a count meets
        log.debug("mail outbox: could not count the pending emails", exc_info=True)


def report_backlog(rt: Runtime) -> None:
    """Metrics on: the pending rows, as gotrue_mail_outbox_pending shows them."""
    if not rt.metrics.enabled:
        return
    try:
        rt.metrics.outbox_pending(backlog(rt))
    except sa.exc.SQLAlchemyError:  # claiming logs the outage; the count waits for the next poll
        db.session.rollback()
        log.debug("mail outbox: could not count the pending emails", exc_info=True)


def _send_claimed(app_ref: Callable, mail_outbox: MailOutbox, claimed: Claim) -> None:
    try:
        app = app_ref()
        if app is not None:
            with app.app_context():
                attempt(app.extensions["gotrue"], mail_outbox.sealer, claimed)
    except Exception:  # noqa: BLE001 - the lease brings the row back
        log.exception("mail outbox: sending email %s failed; it is retried after its lease",
                      claimed.id)
    finally:
        with mail_outbox._state:
            mail_outbox._in_flight -= 1
        mail_outbox._wakeup.set()


def run(rt: Runtime, sealer: PayloadSealer, *, once: bool = False,
        stop: threading.Event | None = None, echo: Callable[[str], None] = log.info) -> int:
    """``flask outbox run``: send due emails, then look again every poll interval (until
    ``stop``), or only once with ``once``. Returns how many emails were tried."""
    stop = stop or threading.Event()
    interval = rt.settings.mailer.outbox_poll_interval.total_seconds()
    tried = 0
    while True:
        try:
            count = deliver_due(rt, sealer)
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("mail outbox: the database failed; will try again")
            count = 0
        if count:
            echo(f"mail outbox: tried {count} email(s)")
        report_backlog(rt)
        tried += count
        if once or stop.wait(interval):
            return tried
