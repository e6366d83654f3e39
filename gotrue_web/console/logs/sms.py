"""Text messages in the console: the SMS log (the message log's second tab, beside the mail
log) and the SMS template page with its preview and test send."""

from __future__ import annotations

from flask import request, url_for

from ...errors import GoTrueError
from ...extensions import db
from ...runtime import current_runtime
from ...transports.sms import SMSDeliveryError
from . import log_pages
from ..context import actor, client_ip
from ..htmx import done, refused, render_page_or_fragment
from ..operations import log_paging
from ..operations.messages import sms_checks, sms_log_search
from ...services.phone.masking import digits_of, mask_phone

KIND_LABELS = {
    "confirmation": "Confirmation", "phone_change": "Phone change",
    "reauthentication": "Reauthentication", "mfa": "MFA challenge", "test": "Test",
}
STATUS_LABELS = {"sent": "Sent", "failed": "Failed", "test_otp": "Test code"}
CHANNEL_LABELS = {"sms": "SMS", "whatsapp": "WhatsApp"}
_FILTER_NAMES = ("number", "kind", "status", "channel", "message_id", "since", "until")
TEMPLATE_PAGE = "console/sms/template.html"
TEST_FORM = "console/sms/_test_form.html"


def _filters() -> tuple[sms_log_search.SMSLogFilter, dict[str, str], list[str]]:
    """The filters of the query string, their raw values (for the form and links), and what
    was wrong with them."""
    raw = {name: request.args.get(name, "").strip() for name in _FILTER_NAMES}
    problems = []
    texts = {}
    for name, label in (("number", "Number"), ("message_id", "Message id")):
        try:
            texts[name] = log_paging.filter_text(raw[name])
        except ValueError as problem:
            problems.append(f"{label}: {problem}.")
            texts[name] = ""
    number = digits_of(texts["number"])
    if texts["number"] and not number:
        problems.append("Number: type some digits of the number.")
    times = log_pages.time_range(raw, problems)
    for name, allowed, label in (("kind", sms_log_search.KINDS, "Kind"),
                                 ("status", sms_log_search.STATUSES, "Status"),
                                 ("channel", sms_log_search.CHANNELS, "Channel")):
        if raw[name] and raw[name] not in allowed:
            problems.append(f"{label}: {raw[name]!r} is not one of {', '.join(allowed)}.")
    filters = sms_log_search.SMSLogFilter(
        number=number, kind=raw["kind"], status=raw["status"], channel=raw["channel"],
        message_id=texts["message_id"], since=times["since"], until=times["until"])
    return filters, raw, problems


def sms_log():
    rt = current_runtime()
    filters, raw, problems = _filters()
    limit = log_pages.page_size()
    page = log_paging.Page()
    if not problems:
        page = sms_log_search.search(filters, limit=limit, before=request.args.get("before"),
                                     after=request.args.get("after"))
    return render_page_or_fragment(
        "console/sms/index.html", "console/sms/_results.html",
        status=422 if problems else 200, section="mail", tab="sms", results=page, raw=raw,
        problems=problems, **log_pages.pager("console.sms_log", raw, limit, page),
        kinds=sms_log_search.KINDS, kind_labels=KIND_LABELS,
        statuses=sms_log_search.STATUSES, status_labels=STATUS_LABELS,
        channels=sms_log_search.CHANNELS, channel_labels=CHANNEL_LABELS, mask=mask_phone,
        provider=rt.settings.sms.provider,
        linked_users=log_paging.existing_users(entry.user_id for entry in page.items))


def _template_context(**extra) -> dict:
    rt = current_runtime()
    values = {"number": "", "channel": "sms"}
    values.update(extra.pop("values", {}))
    return {"section": "templates", "report": sms_checks.report(rt),
            "channel_labels": CHANNEL_LABELS, "values": values, **extra}


def sms_template():
    return render_page_or_fragment(TEMPLATE_PAGE, TEST_FORM, **_template_context())


def send_test():
    """Text the template to a number: the outcome (the provider's message id, or its error in
    its own words) is shown by the form, and the attempt is in the SMS log and audit log."""
    rt = current_runtime()
    number, channel = request.form.get("number", ""), request.form.get("channel", "sms")
    values = {"number": number.strip()[:64], "channel": channel}
    location = url_for("console.sms_template")
    try:
        result = sms_checks.send_test(rt, number, channel, actor(), ip=client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, fragment=TEST_FORM, location=location,
                       **_template_context(values=values))
    except ValueError as problem:
        db.session.rollback()
        return refused(f"The template does not render: {problem}", fragment=TEST_FORM,
                       location=location, **_template_context(values=values))
    except SMSDeliveryError as exc:
        # The audit entry of the failed attempt is kept; the SMS log row has the error.
        db.session.commit()
        message = f"The provider refused the test: {exc}"
        return refused(message, fragment=TEST_FORM, location=location,
                       **_template_context(values=values))
    db.session.commit()
    masked = mask_phone(result.to)
    ident = f" Message id: {result.message_id}." if result.message_id else ""
    message = (f"Test {CHANNEL_LABELS.get(result.channel, result.channel)} sent to {masked} "
               f"through {result.provider}.{ident}")
    return done(message, fragment=TEST_FORM, location=location,
                **_template_context(values=values, result=result, sent=message))
