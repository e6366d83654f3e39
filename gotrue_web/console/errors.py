"""Errors in the console become HTML: a toast or flash for refused actions, an error page
otherwise. Never JSON, never a stack trace."""

from __future__ import annotations

from flask import g, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..errors import GoTrueError
from .htmx import refused

_TITLES = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    413: "Too large",
    429: "Slow down",
}


def refused_error(error: GoTrueError):
    return refused(error.message, status=error.status if error.status < 500 else 422)


def _page(code: int, title: str, message: str):
    if not request.path.startswith("/console"):
        # Static files have no console session (nor CSRF token) to render the layout with.
        return f"<!doctype html><title>{code}</title><p>{code} {title}</p>\n", code, {
            "Content-Type": "text/html; charset=utf-8"}
    response = render_template("errors/error.html", code=code, title=title, message=message)
    return response, code


def http_error(exc: HTTPException):
    code = exc.code or 500
    if isinstance(exc, CSRFError):
        return _page(400, "This form has expired",
                     "The page was open too long or the request did not come from the console. "
                     "Go back, reload the page and try again.")
    return _page(code, _TITLES.get(code, exc.name), exc.description or "")


def unexpected_error():
    return _page(500, "Something went wrong", "The error has been logged. Please try again.")


def database_unavailable(retry_after: int):
    """503 while the database is down, read-only or full (db.database_unavailable)."""
    # The operator's row cannot be read back now: the page leaves out the account menu.
    g.operator = None
    response = make_response(_page(
        503, "The database is unavailable",
        "It could not be reached or written to. Please try again in a moment."))
    response.headers["Retry-After"] = str(retry_after)
    return response
