"""The Overview page, the console's home: charts of the last day, week or month and what needs
attention, from console.operations.overview. A read: no commit, no audit entry.

The range switch is a plain link; htmx swaps only #overview-body (from the same template) and
pushes the URL. What was computed is kept for a minute in this process (the page says when it
was counted).
"""

from __future__ import annotations

from flask import current_app, make_response, render_template, request

from ..runtime import current_runtime
from .htmx import render_page_or_fragment, wants_fragment
from .operations import overview as operation

PAGE = "console/overview/index.html"
BODY = "console/overview/_body.html"
_CACHE_KEY = "console_overview"


def _cache() -> operation.OverviewCache:
    """The app's cache (one per app, so test apps never share one)."""
    return current_app.extensions.setdefault(_CACHE_KEY, operation.OverviewCache())


def overview():
    chosen = operation.parse_range(request.args.get("range"))
    context = {"section": "overview", "ranges": operation.RANGES,
               "report": operation.overview(current_runtime(), chosen, _cache())}
    # A history restore (back after a pushed URL) replaces the whole body: it needs the page.
    if wants_fragment() and request.headers.get("HX-History-Restore-Request") == "true":
        response = make_response(render_template(PAGE, **context))
        response.vary.add("HX-Request")
        return response
    return render_page_or_fragment(PAGE, BODY, **context)
