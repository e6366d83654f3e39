"""Sending an email, now or after the answer.

The flows whose answer must not tell whether an address has an account (sign-up, recovery,
magic link and OTP, resend, an anonymous user's email change) do not talk to the SMTP server
inside the request: an unknown address would answer in a few milliseconds and a known one only
after the SMTP exchange. They queue the email here instead (``MailOutbox``, one queue per request
on the Runtime). Everything that can refuse the request is decided before an email is queued:
authorized addresses, SMTP_MAX_FREQUENCY and the global budget.

When a request has answered successfully, the factory hands its queue to a few sender threads
of the process (``MailOutbox.dispatch``), which run ``deliver`` in an app context of their own.
Not the request's thread after the answer (``call_on_close``): the next request on the same
keep-alive connection would then wait for the SMTP exchange and show it. A failed request drops
its queue together with the tokens it rolled back. Every attempt lands in the mail log as
``sent``, ``failed`` or ``not_sent``, dated when it was queued. After a failure the code nobody
received is forgotten and the flow's SMTP_MAX_FREQUENCY window freed, so the user can ask again
at once, as when a send inside the request failed and rolled back.

With the send_email hook on, ``send`` calls the hook instead of the SMTP server (send_hook.py),
at the same moment: in the request, or after the answer for the flows above, where a hook error
is then a ``failed`` entry and the code is released as after an SMTP failure.

The queue lives in the worker process: a stopping worker sends what it holds before it exits,
but one killed between the answer and the send loses the email (the user asks again once
SMTP_MAX_FREQUENCY has passed). A database outbox would survive that; ``MailOutbox`` and
``deliver`` are the seam to replace.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ...errors import GoTrueError
from ...extensions import db
from ...models import OneTimeTokenType, User
from ...models.one_time_token import USER_COLUMNS
from ...runtime import Runtime
from ...transports.mail import MailDeliveryError, OutgoingMail
from .. import one_time_tokens
from . import log as mail_log
from . import send_hook
from . import template_store as email_template_store
from . import templates as email_templates
from .redaction import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Email:
    """An email to render and send: everything the template needs, taken in the request."""

    kind: str
    to: str
    variables: dict
    user_id: uuid.UUID | None
    # When the request asked for it: the mail log entry's date, which the budget counts.
    created_at: datetime
    # The code the email carries, as its users column holds it: undone if the send fails.
    token_type: OneTimeTokenType | None = None
    stored_token: str = ""
    # With the send_email hook on: its event (send_hook.event), sent instead of SMTP.
    hook_event: dict | None = None
    # Emails the same hook call covers (a secure email change's current address): logged and,
    # should the call fail, released with this one, never sent on their own.
    also: tuple["Email", ...] = ()


def render(rt: Runtime, kind: str, variables: dict) -> email_templates.RenderedEmail:
    """Render with the stored, configured or built-in template, falling back down that list
    when one does not render (logged: the operator has a broken template to fix)."""
    settings = rt.settings
    locale = email_template_store.normalize_locale(variables["Data"].get("locale"))
    source = email_template_store.resolve(rt, kind, locale)
    while True:
        try:
            return email_templates.render(kind, variables, subject=source.subject,
                                          body=source.body)
        except email_templates.TemplateSyntaxProblem as exc:
            log.error("email template %s (%s) does not render, falling back: %s",
                      kind, source.origin, exc)
        if source.origin == "database":
            source = email_template_store.configured(rt, kind)
        elif source.origin == "url":
            source = email_template_store.builtin(settings, kind)
        else:
            # Only a configured subject can break the built-in: use the stock one.
            return email_templates.render(kind, variables)


def send(rt: Runtime, email: Email) -> MailDeliveryError | GoTrueError | None:
    """Render and send ``email`` now and keep the attempt for the mail log; returns the
    delivery error when the SMTP exchange failed. With the send_email hook, the hook gets the
    email's event instead (nothing is rendered) and its error, if any, is returned."""
    if email.hook_event is not None:
        return _send_by_hook(rt, email)
    rendered = render(rt, email.kind, email.variables)
    entry = {"now": email.created_at, "template": email.kind, "recipient": email.to,
             "subject": redact(rendered.subject, email.variables), "user_id": email.user_id}
    try:
        sent = rt.mailer.send(OutgoingMail(to=email.to, subject=rendered.subject,
                                           html=rendered.html, template=email.kind))
    except MailDeliveryError as exc:
        rt.mail_log.record(**entry, status=mail_log.FAILED, error=str(exc))
        log.warning("mail delivery failed: template=%s error=%s", email.kind, exc)
        return exc
    rt.mail_log.record(**entry, status=mail_log.SENT if sent else mail_log.NOT_SENT)
    return None


def _send_by_hook(rt: Runtime, email: Email) -> GoTrueError | None:
    error = send_hook.call(rt, email.hook_event)
    for each in (email, *email.also):
        rt.mail_log.record(now=each.created_at, template=each.kind, recipient=each.to,
                           subject=send_hook.SUBJECT,
                           status=mail_log.FAILED if error else mail_log.SENT,
                           error=error.message if error else None, user_id=each.user_id)
    return error


# Threads per process that send queued emails; SMTP exchanges wait on the network, and a burst
# only queues (the email budgets bound how many there can be).
SENDER_THREADS = 2


class MailOutbox:
    """The emails the current request queued, and the threads that send them after the answer.

    One per app (on the Runtime); each request (each thread or context) has its own list. The
    threads start with the first email (in the worker process, after any fork).
    """

    def __init__(self):
        self._queued: ContextVar[list[Email] | None] = ContextVar("queued_mail", default=None)
        self._senders: ThreadPoolExecutor | None = None
        self._in_flight = 0
        self._state = threading.Condition()

    def put(self, email: Email) -> None:
        queued = self._queued.get()
        if queued is None:
            queued = []
            self._queued.set(queued)
        queued.append(email)

    def take(self) -> list[Email]:
        """This request's queue, emptied: the caller now owns the emails."""
        queued = self._queued.get() or []
        self._queued.set(None)
        return queued

    def discard(self, _exception=None) -> None:
        """Teardown: whatever a request that did not answer successfully queued is dropped."""
        dropped = self.take()
        if dropped:
            log.info("dropped %d queued email(s) of a request that failed", len(dropped))

    def dispatch(self, send_all: Callable[[], None]) -> None:
        """Run ``send_all`` (a request's emails) on a sender thread; returns at once."""
        with self._state:
            if self._senders is None:
                self._senders = ThreadPoolExecutor(max_workers=SENDER_THREADS,
                                                   thread_name_prefix="mail-outbox")
            self._in_flight += 1
        try:
            self._senders.submit(self._run, send_all)
        except RuntimeError:
            # The interpreter is shutting down and takes no new threads: send here.
            self._run(send_all)

    def _run(self, send_all: Callable[[], None]) -> None:
        try:
            send_all()
        except Exception:  # noqa: BLE001 - a sender thread must survive anything
            log.exception("queued emails could not be sent")
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()

    def wait_until_sent(self, timeout: float | None = None) -> bool:
        """Block until every dispatched email was tried; False if ``timeout`` ran out first."""
        with self._state:
            return self._state.wait_for(lambda: self._in_flight == 0, timeout)


def deliver(rt: Runtime, emails: list[Email]) -> None:
    """Send queued emails, one after the other; a failure is logged, its code released, and
    the rest still sent. The caller provides the app context (the mail log is written at its
    teardown)."""
    for email in emails:
        try:
            failed = send(rt, email) is not None
        except Exception as exc:  # noqa: BLE001 - the answer is gone; log and go on
            log.exception("queued %s email could not be sent", email.kind)
            rt.mail_log.record(now=email.created_at, template=email.kind, recipient=email.to,
                               subject="", status=mail_log.FAILED,
                               error=f"{type(exc).__name__}: {exc}", user_id=email.user_id)
            failed = True
        if failed:
            for each in (email, *email.also):
                _release(each)


def _release(email: Email) -> None:
    """Forget the code of an email that was not delivered and clear its ``*_sent_at``, unless a
    newer code replaced it meanwhile."""
    if email.token_type is None or email.user_id is None:
        return
    column, sent_column = USER_COLUMNS[email.token_type]
    try:
        # A failed pg-functions send_email hook leaves this context's transaction aborted.
        db.session.rollback()
        user = db.session.get(User, email.user_id)
        if user is None or getattr(user, column) != email.stored_token:
            return
        one_time_tokens.forget(user, email.token_type)
        setattr(user, sent_column, None)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the code then simply stays until it expires
        db.session.rollback()
        log.exception("could not release the code of an undelivered %s email", email.kind)
