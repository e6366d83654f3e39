"""The audit log with filters: end-user events and operator actions, newest first."""

from __future__ import annotations

from flask import request

from . import log_pages
from ..htmx import render_page_or_fragment
from ..operations import log_paging
from ..operations.audit_log import search as audit_search
from ..operations.audit_log import summaries as audit_summaries

_FILTER_NAMES = ("actor", "action", "happened", "target", "since", "until")
LOG_TYPE_LABELS = {"account": "Account", "team": "Team", "token": "Tokens", "user": "User",
                   "factor": "MFA", "operator": "Operators"}


def _filters() -> tuple[audit_search.AuditFilter, dict[str, str], list[str]]:
    """The filters of the query string, their raw values, and what was wrong with them."""
    raw = {name: request.args.get(name, "").strip()[:log_paging.MAX_FILTER_LENGTH]
           for name in _FILTER_NAMES}
    problems = []
    texts = {}
    for name, label in (("actor", "Actor"), ("action", "Action"), ("target", "Target user")):
        try:
            texts[name] = log_paging.filter_text(raw[name])
        except ValueError as problem:
            problems.append(f"{label}: {problem}.")
            texts[name] = ""
    if raw["happened"] and raw["happened"] not in audit_summaries.HAPPENING_KEYS:
        problems.append("What happened: choose one of the listed kinds.")
        raw["happened"] = ""
    times = log_pages.time_range(raw, problems)
    filters = audit_search.AuditFilter(actor=texts["actor"], action=texts["action"],
                                       happened=raw["happened"], target=texts["target"],
                                       since=times["since"], until=times["until"])
    return filters, raw, problems


def audit_log():
    filters, raw, problems = _filters()
    limit = log_pages.page_size()
    page = log_paging.Page()
    if not problems:
        page = audit_search.search(filters, limit=limit, before=request.args.get("before"),
                                   after=request.args.get("after"))
    actions = audit_search.known_actions()
    known = {action for _, names in actions for action in names}
    return render_page_or_fragment(
        "console/audit/index.html", "console/audit/_results.html",
        status=422 if problems else 200, section="audit", results=page, raw=raw,
        problems=problems, actions=actions, happenings=audit_summaries.HAPPENINGS,
        unknown_action=raw["action"] if raw["action"] and raw["action"] not in known else "",
        log_type_labels=LOG_TYPE_LABELS,
        linked_users=log_paging.existing_users(
            [entry.target_id for entry in page.items]
            + [entry.actor_user_id for entry in page.items]),
        **log_pages.pager("console.audit_log", raw, limit, page))
