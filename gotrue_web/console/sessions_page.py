"""Sessions: every live session of the realm (filters, keyset pages), revoking one, and signing
out everyone a filter matches, or everyone, after a typed confirmation.

The list is a plain GET form and page; htmx swaps only the results (#sessions-results), from
the same template. A revoke answers htmx with the results again and a toast, a plain post with
a flash and a 303 back to the same view. A sign-out runs in batches and commits each one, so
a large realm is not one transaction; it stops between batches after SIGN_OUT_BUDGET_SECONDS
and says that some sessions remain.
"""

from __future__ import annotations

import time

from flask import make_response, render_template, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from .context import actor, request_info
from .htmx import done, refused, wants_fragment
from .operations.realm_sessions import listing, sign_out
from .operations.realm_sessions.filters import AAL_CHOICES, SessionFilters
from .operations.user_filters import InvalidSearch
from .operations.user_text_search import SearchTooSlow

PAGE = "console/sessions/index.html"
RESULTS = "console/sessions/_results.html"
CONFIRM_PAGE = "console/sessions/sign_out.html"
# A sign-out answers within about this long; what is left is done by signing out again.
SIGN_OUT_BUDGET_SECONDS = 20.0
_PAGE_ARGS = ("per_page", "count", "after", "before")


def _wants_results() -> bool:
    # A history restore (back button after hx-push-url) replaces the whole body: it needs the
    # page even though htmx marks it as an htmx request.
    return wants_fragment() and request.headers.get("HX-History-Restore-Request") != "true"


def _page_url(filters: SessionFilters, **extra) -> str:
    """The list's URL for these filters; ``extra`` (page, count) in a fixed order."""
    args = filters.to_args()
    args.update({key: extra[key] for key in _PAGE_ARGS if extra.get(key)})
    return url_for("console.sessions", **args)


def _listing(filters: SessionFilters | None = None, error: str | None = None) -> dict:
    """Everything the page and its results fragment show for the request's query string."""
    rt = current_runtime()
    now = rt.now()
    context = {"section": "sessions", "form": request.args, "aal_choices": AAL_CHOICES,
               "page_url": _page_url, "ago": listing.ago,
               "per_page": request.args.get("per_page", ""),
               "exact_count": request.args.get("count") == "all", "now": now,
               "filters": filters or SessionFilters(), "result": None, "total": None,
               "error": error}
    if filters is None or error:
        return context
    # A revoke posts to a URL with the same view, so its answer shows that view again.
    context["view_args"] = {**filters.to_args(), **{key: request.args[key] for key in _PAGE_ARGS
                                                    if request.args.get(key)}}
    try:
        page = listing.PageRequest.from_args(request.args)
    except InvalidSearch as problem:
        context["error"] = str(problem)
        return context
    limits = rt.settings.sessions
    context["result"] = listing.find_page(filters, page, now, limits)
    cap = None if context["exact_count"] else listing.COUNT_CAP
    context["total"] = listing.count(filters, now, limits, cap=cap)
    return context


def _parsed() -> tuple[SessionFilters | None, str | None]:
    try:
        return SessionFilters.from_args(request.args), None
    except InvalidSearch as problem:
        return None, str(problem)


def sessions():
    filters, error = _parsed()
    context = _listing(filters, error)
    results_only = _wants_results()
    # 422 so that htmx swaps the message in; a plain request is simply a bad one.
    status = (422 if results_only else 400) if context["error"] else 200
    response = make_response(render_template(RESULTS if results_only else PAGE, **context),
                             status)
    response.vary.add("HX-Request")
    return response


def revoke(session_id: str):
    """End one session; the answer shows the same view of the list (query string kept)."""
    filters, error = _parsed()
    location = (_page_url(filters, **{key: request.args.get(key) for key in _PAGE_ARGS})
                if filters is not None else url_for("console.sessions"))
    try:
        user = sign_out.revoke_one(current_runtime(), session_id, actor(), request_info())
    except GoTrueError as problem:
        db.session.rollback()
        context = _listing(filters, error)
        context.pop("error")
        return refused(problem.message, fragment=RESULTS, location=location, **context)
    db.session.commit()
    label = user.email or (f"+{user.phone}" if user.phone else str(user.id))
    return done(f"Session of {label} revoked; its refresh token no longer works.",
                fragment=RESULTS, location=location, **_listing(filters, error))


# --- signing out many ----------------------------------------------------------------------------


def _confirmation(filters: SessionFilters, status: int = 200, error: str | None = None,
                  typed: str = ""):
    rt = current_runtime()
    context = {"section": "sessions", "filters": filters, "error": error, "typed": typed,
               "everyone": sign_out.CONFIRM_EVERYONE, "reach": None, "word": None,
               "list_url": _page_url(filters)}
    try:
        found = listing.reach(filters, rt.now(), rt.settings.sessions)
    except SearchTooSlow:
        context["error"] = ("Counting the sessions these filters match took too long: narrow "
                            "them (a user, an exact IP or a shorter time range).")
        return make_response(render_template(CONFIRM_PAGE, **context), 422)
    context.update(reach=found, word=sign_out.confirmation_word(filters, found))
    return make_response(render_template(CONFIRM_PAGE, **context), status)


def confirm_sign_out():
    """The confirmation step: how many sessions and users, and what to type. Changes nothing."""
    filters, error = _parsed()
    if filters is None:
        return make_response(render_template(PAGE, **_listing(None, error)), 400)
    return _confirmation(filters)


def sign_out_matching():
    """Sign out every live session the query string's filters match (all with none set)."""
    filters, error = _parsed()
    if filters is None:
        return make_response(render_template(PAGE, **_listing(None, error)), 400)
    rt = current_runtime()
    typed = request.form.get("confirm", "")
    try:
        found = listing.reach(filters, rt.now(), rt.settings.sessions)
        sign_out.check_confirmation(filters, found, typed)
    except (GoTrueError, SearchTooSlow) as problem:
        db.session.rollback()
        message = problem.message if isinstance(problem, GoTrueError) else str(problem)
        return _confirmation(filters, 422, message, typed)
    ended, users, stopped = 0, 0, None
    deadline = time.monotonic() + SIGN_OUT_BUDGET_SECONDS
    batches = sign_out.sign_out(rt, filters, actor(), request_info())
    try:
        for batch in batches:
            db.session.commit()
            ended, users = ended + batch.sessions, users + batch.users
            if batch.more and time.monotonic() >= deadline:
                stopped = "Time ran out before the end"
                break
    except SearchTooSlow:
        # (The batches before were committed; the one being found was rolled back.)
        stopped = "Finding the next batch took too long"
    finally:
        batches.close()
    message = f"Signed out {_plural(ended, 'session')} of {_plural(users, 'user')}."
    if stopped:
        message += f" {stopped}: sign out again to end the rest."
    return done(message, location=_page_url(filters), kind="warn" if stopped else "ok")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"
