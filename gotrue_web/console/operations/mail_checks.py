"""Emails an operator sends on purpose to check the set-up: a template rendered with sample
values, and a plain SMTP check. Both go through the real mailer, land in the mail log (sent,
failed with the SMTP error, or not_sent without an SMTP host) and in the audit log.

They honour GOTRUE_EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES but not the global email budget: an
operator must be able to test while users are throttled (the attempts still count against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ...runtime import Runtime
from ...services import audit
from ...services.mail import flows as mail_flows
from ...services.mail import log as mail_log
from ...services.mail import template_store as email_template_store
from ...services.mail import templates as email_templates
from ...services.validation import normalize_email
from ...transports.mail import MailDeliveryError, OutgoingMail
from . import template_editor

TEST_SUBJECT_PREFIX = "[Test] "
SMTP_TEST_SUBJECT = "SMTP test from gotrue-web"


@dataclass(frozen=True)
class MailCheckResult:
    to: str
    subject: str
    # mail_log.SENT, or mail_log.NOT_SENT when no SMTP host is configured.
    status: str


def _send(rt: Runtime, *, to: str, subject: str, html: str, template: str) -> str:
    """Send and log one message; returns its mail log status, raises MailDeliveryError."""
    entry = {"now": rt.now(), "template": template, "recipient": to, "subject": subject}
    try:
        sent = rt.mailer.send(OutgoingMail(to=to, subject=subject, html=html, template=template))
    except MailDeliveryError as exc:
        rt.mail_log.record(**entry, status=mail_log.FAILED, error=str(exc))
        raise
    status = mail_log.SENT if sent else mail_log.NOT_SENT
    rt.mail_log.record(**entry, status=status)
    return status


def send_template_test(rt: Runtime, kind: str, to: str, actor: audit.Actor, *, ip: str = "",
                       subject: str | None = None, body: str | None = None,
                       locale: str = "") -> MailCheckResult:
    """Render ``kind`` with sample values and send it to ``to``, subject prefixed "[Test]".

    Uses ``subject``/``body`` when given (an unsaved edit), else the template in use for
    ``locale``. Writes a mail log entry and an "email_template_test_sent" audit entry (with the
    outcome). Raises 400 validation_failed / email_address_not_authorized for the address,
    TemplateSyntaxProblem when the template does not render, MailDeliveryError when SMTP fails
    (logged and audited first; the caller should commit before answering).
    """
    if kind not in email_templates.KINDS:
        raise ValueError(f"unknown email template {kind!r}")
    address = normalize_email(to)
    mail_flows.check_authorized(rt, address)
    if subject is None or body is None:
        source = email_template_store.resolve(rt, kind, locale)
        subject = source.subject if subject is None else subject
        body = source.body if body is None else body
    rendered = template_editor.preview(rt, kind, subject, body)
    rendered = email_templates.RenderedEmail(
        subject=TEST_SUBJECT_PREFIX + rendered.subject, html=rendered.html)
    traits = {"template": kind, "to": address}
    try:
        status = _send(rt, to=address, subject=rendered.subject, html=rendered.html,
                       template=kind)
    except MailDeliveryError as exc:
        audit.record("email_template_test_sent", actor, now=rt.now(), ip=ip,
                     traits={**traits, "status": mail_log.FAILED, "error": str(exc)})
        raise
    audit.record("email_template_test_sent", actor, now=rt.now(), ip=ip,
                 traits={**traits, "status": status})
    return MailCheckResult(to=address, subject=rendered.subject, status=status)


def smtp_test_html(settings) -> str:
    server = f"{settings.smtp.host}:{settings.smtp.port}"
    return ("<p>This is a test message from the gotrue-web operator console.</p>"
            f"<p>It was sent through {escape(server)} from "
            f"{escape(settings.smtp.admin_email)} for {escape(settings.site_url)}.</p>")


def send_smtp_test(rt: Runtime, to: str, actor: audit.Actor, *, ip: str = "") -> MailCheckResult:
    """Connect to the configured SMTP server and send a short test message to ``to``.

    Logged in the mail log as template "smtp_test" and audited as "smtp_test_sent" with the
    outcome. Without an SMTP host nothing is sent and the status is not_sent. Raises 400 for
    the address and MailDeliveryError (logged and audited first) when the exchange fails.
    """
    address = normalize_email(to)
    mail_flows.check_authorized(rt, address)
    traits = {"to": address, "server": f"{rt.settings.smtp.host}:{rt.settings.smtp.port}"
              if rt.settings.smtp.host else ""}
    try:
        status = _send(rt, to=address, subject=SMTP_TEST_SUBJECT,
                       html=smtp_test_html(rt.settings), template=mail_log.SMTP_TEST)
    except MailDeliveryError as exc:
        audit.record("smtp_test_sent", actor, now=rt.now(), ip=ip,
                     traits={**traits, "status": mail_log.FAILED, "error": str(exc)})
        raise
    audit.record("smtp_test_sent", actor, now=rt.now(), ip=ip,
                 traits={**traits, "status": status})
    return MailCheckResult(to=address, subject=SMTP_TEST_SUBJECT, status=status)
