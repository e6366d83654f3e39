"""Sending an email: now (inside the request) or through the mail outbox (after its commit).

The flows whose answer must not tell whether an address has an account (sign-up, recovery,
magic link and OTP, resend, an anonymous user's email change) do not talk to the SMTP server
inside the request: an unknown address would answer in a few milliseconds and a known one only
after the SMTP exchange. They put the email in the outbox instead (``rt.outbox.put``,
dispatcher.py): a ``mail_outbox`` row, its payload encrypted (sealing.py), added to the
request's session, so it commits with the change that causes it and rolls back with a request
that fails. Everything that can refuse the request is decided before: authorized addresses,
SMTP_MAX_FREQUENCY and the global budget.

A dispatcher (a thread per server process, woken after such a request, or ``flask outbox run``)
claims due rows and calls ``send`` for each, with the row's Message-ID. Every attempt lands in
the mail log as ``sent``, ``failed`` or ``not_sent``; the first dated when the email was
queued. A failed attempt is retried with a growing wait; after the last one the row is
``failed`` and the code nobody received is forgotten and the flow's SMTP_MAX_FREQUENCY window
freed (``release``), so the user can ask again at once.

With the send_email hook on, ``send`` calls the hook instead of the SMTP server (send_hook.py),
at the same moment: in the request, or from the outbox, where a hook error is then a ``failed``
attempt like an SMTP failure.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class Attempt:
    """How the outbox sends: the row's Message-ID, the attempt's date for the mail log (the
    first is dated when the email was queued), and a note for a failure that will be retried."""

    message_id: str = ""
    logged_at: datetime | None = None
    retry_note: str = ""


def send(rt: Runtime, email: Email, attempt: Attempt = Attempt()
         ) -> MailDeliveryError | GoTrueError | None:
    """Render and send ``email`` now and keep the attempt for the mail log; returns the
    delivery error when the SMTP exchange failed. With the send_email hook, the hook gets the
    email's event instead (nothing is rendered) and its error, if any, is returned."""
    if email.hook_event is not None:
        return _send_by_hook(rt, email, attempt)
    rendered = render(rt, email.kind, email.variables)
    entry = {"now": attempt.logged_at or email.created_at, "template": email.kind,
             "recipient": email.to, "subject": redact(rendered.subject, email.variables),
             "user_id": email.user_id}
    try:
        sent = rt.mailer.send(OutgoingMail(to=email.to, subject=rendered.subject,
                                           html=rendered.html, template=email.kind,
                                           message_id=attempt.message_id))
    except MailDeliveryError as exc:
        rt.mail_log.record(**entry, status=mail_log.FAILED, error=str(exc) + attempt.retry_note)
        rt.metrics.email(email.kind, mail_log.FAILED)
        log.warning("mail delivery failed: template=%s error=%s", email.kind, exc)
        return exc
    status = mail_log.SENT if sent else mail_log.NOT_SENT
    rt.mail_log.record(**entry, status=status)
    rt.metrics.email(email.kind, status)
    return None


def _send_by_hook(rt: Runtime, email: Email, attempt: Attempt) -> GoTrueError | None:
    error = send_hook.call(rt, email.hook_event)
    for each in (email, *email.also):
        rt.mail_log.record(now=attempt.logged_at or each.created_at, template=each.kind,
                           recipient=each.to, subject=send_hook.SUBJECT,
                           status=mail_log.FAILED if error else mail_log.SENT,
                           error=error.message + attempt.retry_note if error else None,
                           user_id=each.user_id)
    rt.metrics.email(email.kind, mail_log.FAILED if error else mail_log.SENT)
    return error


def release(email: Email) -> None:
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
