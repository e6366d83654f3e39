"""Bulk actions on the users list: the confirmation page, starting a run, and its batches.

The users list posts the ticked rows (or "all matching", with the list's filters in the query
string) and the chosen action to the confirmation page, which changes nothing: it counts the
users and asks for that number to be typed. Starting checks the number again and answers with
the progress page, whose form carries the signed run (operations.bulk.run_token). Each POST of
that form runs one batch, commits it, and answers with the progress again: htmx posts the next
one as soon as it is swapped in (hx-trigger="load"); without JavaScript the same form is a
Continue button. A batch that fails is rolled back alone, and the answer says where the run
stopped and offers to continue from there. No run lives on the server, so any worker can
answer any batch.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import make_response, render_template, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..models import User
from ..runtime import current_runtime
from .context import actor, request_info
from .htmx import toast, wants_fragment
from .operations.bulk import actions, runner, selection
from .operations.bulk.run_token import InvalidRun, Run, open_run, seal
from .operations.user_actions import BAN_CHOICES
from .operations.user_filters import InvalidSearch, UserFilters
from .operations.user_text_search import SearchTooSlow

log = logging.getLogger(__name__)

CONFIRM_PAGE = "console/bulk/confirm.html"
PROGRESS_PAGE = "console/bulk/progress.html"
PROGRESS = "console/bulk/_progress.html"
# Users named on the confirmation page when rows were ticked.
NAMED_USERS = 10
TOO_SLOW = ("Counting the users these filters match took too long: narrow them (a state, a "
            "provider or a date range) and try again.")


def _selection() -> selection.Selection:
    scope = request.values.get("scope", "all" if request.method == "GET" else "")
    return selection.Selection.parse(scope, request.args, request.form.getlist("user_id"))


def _list_url() -> str:
    return url_for("console.users", **{key: value for key, value in request.args.items()
                                       if key in UserFilters.PARAMS})


def _confirm_page(status: int = 200, *, chosen: selection.Selection | None = None,
                  error: str | None = None, values: dict | None = None):
    """The confirmation page for the request's selection and action, counted now."""
    rt = current_runtime()
    action = actions.ACTIONS.get(request.values.get("action", ""))
    context = {
        "section": "users", "chosen": chosen, "action": action, "error": error,
        "actions": [actions.ACTIONS[key] for key in actions.MENU], "total": None,
        "named": [], "mail_problem": None, "ban_choices": BAN_CHOICES,
        "values": values or {}, "list_url": _list_url(), "run_id": runner.new_run_id(),
    }
    if chosen is not None:
        try:
            context["total"] = selection.count(chosen, rt.now())
        except SearchTooSlow:
            context["error"], status = TOO_SLOW, 422
        if chosen.scope == "selected":
            context["named"] = _named(chosen)
    if action is not None and action.sends_mail:
        try:
            actions.check_mail(rt)
        except GoTrueError as problem:
            context["mail_problem"] = problem.message
    return make_response(render_template(CONFIRM_PAGE, **context), status)


def _named(chosen: selection.Selection) -> list[str]:
    """The first few ticked users, as the list names them."""
    found = db.session.execute(sa.select(User).where(User.id.in_(chosen.user_ids))
                               .order_by(User.email).limit(NAMED_USERS)).scalars()
    return [user.email or (f"+{user.phone}" if user.phone else str(user.id)) for user in found]


def bulk_confirm():
    """What would happen, to how many users, and what to type to start. Changes nothing."""
    try:
        chosen = _selection()
    except InvalidSearch as problem:
        return _confirm_page(400, error=str(problem))
    except GoTrueError as problem:
        return _confirm_page(422, error=problem.message)
    action_key = request.values.get("action", "")
    if action_key and action_key not in actions.ACTIONS:
        return _confirm_page(422, chosen=chosen, error="Choose one of the listed actions.")
    return _confirm_page(chosen=chosen)


def bulk_start():
    """Check the typed number against a fresh count and start the run."""
    form = request.form
    values = {"duration": form.get("duration", ""),
              "custom_duration": form.get("custom_duration", ""),
              "reason": form.get("reason", ""), "confirm": form.get("confirm", "")}
    try:
        chosen = _selection()
    except InvalidSearch as problem:
        return _confirm_page(400, error=str(problem))
    except GoTrueError as problem:
        return _confirm_page(422, error=problem.message)
    rt = current_runtime()
    action_key = form.get("action", "")
    try:
        params = {}
        if action_key == "ban":
            params = actions.ban_params(values["duration"], values["custom_duration"],
                                        values["reason"])
        run = runner.start(rt, form.get("run_id", ""), chosen, action_key, params,
                           values["confirm"], actor(), request_info())
    except (GoTrueError, SearchTooSlow) as problem:
        db.session.rollback()
        message = problem.message if isinstance(problem, GoTrueError) else TOO_SLOW
        status = 409 if isinstance(problem, GoTrueError) and problem.status == 409 else 422
        return _confirm_page(status, chosen=chosen, error=message, values=values)
    db.session.commit()
    return _progress(run, page=True)


def bulk_run():
    """Run the next batch of the signed run the form carries."""
    rt = current_runtime()
    try:
        run = open_run(request.form.get("run", ""), rt.settings.jwt.secret,
                       operator_id=actor().id, now=rt.now())
    except InvalidRun as problem:
        return _progress(None, status=400, stopped=str(problem))
    if run.finished:
        return _progress(run)
    try:
        result = runner.run_batch(rt, run, actor(), request_info())
        db.session.commit()
    except SearchTooSlow:
        db.session.rollback()
        return _progress(run, stopped="finding the next users took too long")
    except Exception as error:  # noqa: BLE001 - the run must say where it stopped
        db.session.rollback()
        log.exception("bulk %s run %s: a batch failed", run.action, run.id)
        message = error.message if isinstance(error, GoTrueError) else type(error).__name__
        return _progress(run, stopped=f"the batch failed ({message})")
    return _progress(result.run, notes=result.notes)


def _audit_url(run: Run) -> str:
    action = actions.ACTIONS[run.action]
    return url_for("console.audit_log", actor=actor().username,
                   since=run.started.strftime("%Y-%m-%dT%H:%M:%S"), **action.audit_filter)


def _progress(run: Run | None, *, status: int = 200, stopped: str | None = None,
              notes: list[str] | None = None, page: bool = False):
    """The progress (the page, or the fragment htmx swaps): the counts and, unless the run is
    over, the form that runs its next batch."""
    rt = current_runtime()
    context = {"section": "users", "run": run, "stopped": stopped, "notes": notes or [],
               "token": None, "action": None, "reasons": [], "audit_url": None,
               "list_url": url_for("console.users"),
               "email_budget": rt.settings.rate_limit.email_sent}
    if run is not None:
        context.update(token=seal(run, rt.settings.jwt.secret),
                       action=actions.ACTIONS[run.action],
                       reasons=runner.skip_summary(run), audit_url=_audit_url(run),
                       list_url=url_for("console.users", **run.filters))
    template = PROGRESS if wants_fragment() and not page else PROGRESS_PAGE
    response = make_response(render_template(template, **context), status)
    if stopped and wants_fragment():
        toast(response, f"Stopped: {stopped}.", "error")
    return response
