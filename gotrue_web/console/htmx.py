"""Answering htmx and plain browser requests from the same views.

A page includes its fragments, so markup has one source; htmx requests that target a fragment
get only the fragment. Mutations answer htmx with the updated fragment and a toast
(HX-Trigger), and plain form posts with a flash message and a 303.
"""

from __future__ import annotations

import json

from flask import flash, make_response, redirect, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment() -> bool:
    """htmx asked for part of a page (boosted navigation wants the whole page)."""
    return is_htmx() and request.headers.get("HX-Boosted") != "true"


def render_page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    response = make_response(render_template(fragment if wants_fragment() else page, **context),
                             status)
    response.vary.add("HX-Request")
    return response


def toast(response, message: str, kind: str = "ok"):
    """Attach a toast that the layout shows after htmx swaps the response in."""
    response.headers["HX-Trigger"] = json.dumps({"toast": {"message": message, "kind": kind}})
    return response


def done(message: str, *, fragment: str | None = None, location: str, kind: str = "ok",
         **context):
    """The answer to a successful mutation: the updated fragment (htmx) or a 303 (plain)."""
    if is_htmx() and fragment is not None:
        return toast(make_response(render_template(fragment, **context)), message, kind)
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        flash(message, kind)
        return response
    flash(message, kind)
    return redirect(location, 303)


def refused(message: str, *, status: int = 422, fragment: str | None = None,
            location: str | None = None, **context):
    """The answer to a mutation the rules refused: the form again with the error (422), or a
    flash and a 303 back for plain posts."""
    if fragment is not None and (is_htmx() or location is None):
        response = make_response(render_template(fragment, error=message, **context), status)
        return toast(response, message, "error")
    if is_htmx():
        return toast(make_response("", status), message, "error")
    flash(message, "error")
    return redirect(location or request.referrer or "/console/", 303)
