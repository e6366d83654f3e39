"""The auth hooks page: each hook's configuration (URI without credentials or query, the number
of secrets, never the secrets), its last deliveries, the legacy webhook, the delivery log with
filters and keyset pages, and a "send a test event" button per enabled hook.

The test answers htmx with the hook's card (the outcome and the new delivery row) and an
HX-Trigger that makes the delivery log reload; a plain form post gets a flash and a 303 to the
log filtered to that hook.
"""

from __future__ import annotations

import json

from flask import abort, flash, make_response, redirect, render_template, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from ..services.hooks import log as hook_log
from ..settings import HOOK_NAMES
from .logs import log_pages
from .context import actor, client_ip
from .htmx import is_htmx, refused, render_page_or_fragment, wants_fragment
from .operations import log_paging
from .operations.hooks import report, sample_events

PAGE = "console/hooks/index.html"
RESULTS = "console/hooks/_deliveries.html"
CARD = "console/hooks/_hook.html"
STATUS_LABELS = {hook_log.SUCCEEDED: "Succeeded", hook_log.FAILED: "Failed"}
ORIGIN_LABELS = {"test": "Test events", "live": "Real calls"}
# The hook output shown after a test, cut to a readable size.
MAX_OUTPUT_CHARS = 20_000
_FILTER_NAMES = ("hook", "status", "origin", "since", "until")


def _filters() -> tuple[report.DeliveryFilter, dict[str, str], list[str]]:
    raw = {name: request.args.get(name, "").strip() for name in _FILTER_NAMES}
    problems: list[str] = []
    times = log_pages.time_range(raw, problems)
    for name, allowed, label in (("hook", report.DELIVERY_HOOKS, "Hook"),
                                 ("status", report.STATUSES, "Status"),
                                 ("origin", report.ORIGINS, "Origin")):
        if raw[name] and raw[name] not in allowed:
            problems.append(f"{label}: {raw[name][:64]!r} is not one of {', '.join(allowed)}.")
    filters = report.DeliveryFilter(hook=raw["hook"], status=raw["status"],
                                    origin=raw["origin"], since=times["since"],
                                    until=times["until"])
    return filters, raw, problems


def _labels() -> dict:
    rt = current_runtime()
    return {"hook_labels": report.HOOK_LABELS, "status_labels": STATUS_LABELS,
            "origin_labels": ORIGIN_LABELS, "retention_days": rt.settings.hooks.delivery_log_days}


def hooks():
    rt = current_runtime()
    filters, raw, problems = _filters()
    limit = log_pages.page_size()
    page = log_paging.Page()
    if not problems:
        page = report.search(filters, limit=limit, before=request.args.get("before"),
                             after=request.args.get("after"))
    cards = {}
    if not wants_fragment():
        tally = report.counts()
        cards = {"rows": [report.hook_row(rt, name, tally) for name in HOOK_NAMES],
                 "webhook": report.webhook(rt, tally)}
    return render_page_or_fragment(
        PAGE, RESULTS, status=422 if problems else 200, section="hooks", **cards,
        results=page, raw=raw, problems=problems,
        **log_pages.pager("console.hooks", raw, limit, page),
        delivery_hooks=report.DELIVERY_HOOKS, statuses=report.STATUSES,
        origins=report.ORIGINS, **_labels())


def _output_text(output: dict | None) -> str:
    if output is None:
        return ""
    text = json.dumps(output, indent=2, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + "\n… (cut)"
    return text


def _summary(result: sample_events.HookTestResult) -> str:
    if result.ok:
        answer = "with an output" if result.output is not None else "with no output"
        return f"Test event sent to {result.hook}: the hook answered {answer}."
    return f"Test event to {result.hook} failed: {result.error}"


def send_test(name: str):
    """Send hook ``name`` a sample event (POST, CSRF, audited as hook_test_sent)."""
    if name not in HOOK_NAMES:
        abort(404)
    rt = current_runtime()
    location = url_for("console.hooks", hook=name)
    try:
        result = sample_events.send_test(rt, name, actor(), ip=client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, fragment=CARD, location=location,
                       row=report.hook_row(rt, name), result=None, **_labels())
    db.session.commit()
    message = _summary(result)
    kind = "ok" if result.ok else "error"
    if not is_htmx():
        flash(message, kind)
        return redirect(location, 303)
    row = report.hook_row(rt, name, extra=hook_log.pending())
    response = make_response(render_template(
        CARD, row=row, result=result, output_text=_output_text(result.output),
        message=message, **_labels()))
    # The toast, and the delivery log below reloads (it listens for hook-delivered).
    response.headers["HX-Trigger"] = json.dumps(
        {"toast": {"message": message, "kind": kind}, "hook-delivered": {"hook": name}})
    response.vary.add("HX-Request")
    return response
