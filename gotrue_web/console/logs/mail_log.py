"""The mail log (filters, keyset pages) and the SMTP test button."""

from __future__ import annotations

from flask import g, request, url_for

from ...errors import GoTrueError
from ...extensions import db
from ...runtime import current_runtime
from ...services.mail import log
from ...transports.mail import MailDeliveryError
from . import log_pages
from ..context import actor, client_ip
from ..email_templates import LABELS
from ..htmx import done, refused, render_page_or_fragment
from ..operations import log_paging, mail_checks, mail_log_search

TEMPLATE_LABELS = {**LABELS, log.SMTP_TEST: "SMTP test"}
STATUS_LABELS = {log.SENT: "Sent", log.FAILED: "Failed", log.NOT_SENT: "Not sent"}
_FILTER_NAMES = ("recipient", "template", "status", "since", "until")


def _filters() -> tuple[mail_log_search.MailLogFilter, dict[str, str], list[str]]:
    """The filters of the query string, their raw values (for the form and links), and what
    was wrong with them."""
    args = request.args
    raw = {name: args.get(name, "").strip() for name in _FILTER_NAMES}
    problems = []
    try:
        recipient = log_paging.filter_text(raw["recipient"])
    except ValueError as problem:
        problems.append(f"Recipient: {problem}.")
        recipient = ""
    times = log_pages.time_range(raw, problems)
    if raw["template"] and raw["template"] not in log.TEMPLATES:
        problems.append(f"Template: there is no template {raw['template']!r}.")
    if raw["status"] and raw["status"] not in log.STATUSES:
        problems.append(f"Status: {raw['status']!r} is not sent, failed or not_sent.")
    filters = mail_log_search.MailLogFilter(recipient=recipient, template=raw["template"],
                                status=raw["status"], since=times["since"],
                                until=times["until"])
    return filters, raw, problems


def mail_log():
    rt = current_runtime()
    filters, raw, problems = _filters()
    limit = log_pages.page_size()
    page = log_paging.Page()
    if not problems:
        page = mail_log_search.search(filters, limit=limit, before=request.args.get("before"),
                          after=request.args.get("after"))
    return render_page_or_fragment(
        "console/mail/index.html", "console/mail/_results.html",
        status=422 if problems else 200, section="mail", results=page, raw=raw,
        problems=problems, **log_pages.pager("console.mail_log", raw, limit, page),
        templates=log.TEMPLATES, template_labels=TEMPLATE_LABELS, statuses=log.STATUSES,
        status_labels=STATUS_LABELS, smtp=rt.settings.smtp, mail_enabled=rt.mailer.enabled,
        linked_users=log_paging.existing_users(entry.user_id for entry in page.items),
        test_to=g.operator.email)


def smtp_test():
    """Send a test message through the configured SMTP server; the outcome is a flash (or
    toast) and a mail log entry."""
    rt = current_runtime()
    to = request.form.get("to", "").strip() or g.operator.email
    location = url_for("console.mail_log")
    try:
        result = mail_checks.send_smtp_test(rt, to, actor(),
                                            ip=client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, location=location)
    except MailDeliveryError as exc:
        # The audit entry of the failed attempt is kept; the mail log entry has the error.
        db.session.commit()
        return done(f"SMTP test failed: {exc}", location=location, kind="error")
    db.session.commit()
    if result.status == log.NOT_SENT:
        return done("Nothing was sent: no SMTP server is configured (GOTRUE_SMTP_HOST).",
                    location=location, kind="error")
    server = f"{rt.settings.smtp.host}:{rt.settings.smtp.port}"
    return done(f"SMTP test sent to {result.to} through {server}.", location=location)
