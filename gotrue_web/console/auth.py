"""Operator sign-in, sign-out and profile (TOTP), and the session rules every console page obeys.

The console session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure and __Host- when the
server is reached over HTTPS). It is replaced entirely at sign-in, ends after the idle timeout
and the absolute lifetime, and dies with the operator's session_version (password reset).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from urllib.parse import unquote, urlsplit

from flask import flash, g, make_response, redirect, render_template, request, session, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from .context import client_ip
from .htmx import done, is_htmx, refused
from .operations import operators

# Pages reachable without a console session.
PUBLIC_ENDPOINTS = frozenset({"console.login", "console.login_submit",
                              # An invited operator's link: they have no password yet.
                              "console.operator_join", "console.operator_join_submit"})


def _timestamp(value: datetime) -> float:
    return value.timestamp()


def start_session(operator) -> None:
    """A brand-new session for ``operator`` (nothing of the previous cookie survives)."""
    now = _timestamp(current_runtime().now())
    session.clear()
    session.permanent = True
    session.update({"op": str(operator.id), "v": operator.session_version, "login": now,
                    "seen": now, "nonce": secrets.token_urlsafe(16)})


def end_session() -> None:
    session.clear()


def _signed_in_operator():
    """The operator of this request's session cookie, or None when there is none or it has
    ended (idle timeout, absolute lifetime, password reset, sign-out elsewhere)."""
    operator_id = session.get("op")
    if not operator_id:
        return None
    rt = current_runtime()
    now = _timestamp(rt.now())
    rules = rt.settings.console
    if (now - session.get("seen", 0) > rules.idle_timeout.total_seconds()
            or now - session.get("login", 0) > rules.max_age.total_seconds()):
        return None
    try:
        operator = operators.get(uuid.UUID(operator_id))
    except (ValueError, TypeError):
        return None
    if operator is None or operator.session_version != session.get("v"):
        return None
    if operator.disabled_at is not None:
        return None  # disabling bumps session_version too; this holds should that change
    return operator


def _return_path() -> str | None:
    """Where to come back to after signing in: this page for a plain GET, the page the
    browser shows for an htmx request (its fragment URL is not a page)."""
    if is_htmx():
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        path = current.path + (f"?{current.query}" if current.query else "")
        return path if _is_console_path(path) else None
    if request.method == "GET":
        return request.full_path.rstrip("?")
    return None


def load_operator():
    """Before every console request: the signed-in operator in ``g.operator``, or the way to
    the login page (a 303 for the browser, HX-Redirect with 401 for htmx, whose XHR would
    follow a redirect silently and swap the login page into a fragment)."""
    g.operator = None
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint == "console.static":
        return None
    operator = _signed_in_operator()
    if operator is None:
        if session.get("op"):
            end_session()
            flash("Your session has ended. Please sign in again.", "warn")
        target = url_for("console.login", next=_return_path())
        if is_htmx():
            response = make_response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target, 303)
    session["seen"] = _timestamp(current_runtime().now())
    g.operator = operator
    return None


def _is_console_path(value: str) -> bool:
    """A path on this server under /console: no scheme, no host, nothing a browser could
    read as another origin (``//host``, ``/\\host``), no control characters."""
    if not value or any(ord(char) < 0x20 or char in "\\\x7f" for char in value):
        return False
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return False
    # Browsers resolve dot segments (also percent-encoded ones) before requesting.
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        return False
    return parts.path == "/console" or parts.path.startswith("/console/")


def _safe_next(value: str | None) -> str:
    # Only paths inside the console: never an absolute URL (no open redirect).
    return value if value and _is_console_path(value) else url_for("console.overview")


def login():
    if _signed_in_operator() is not None:
        return redirect(_safe_next(request.args.get("next")), 303)
    return render_template("console/auth/login.html", next=request.args.get("next", ""),
                           email="", error=None)


def login_submit():
    rt = current_runtime()
    form = request.form
    credentials = operators.Credentials(email=form.get("email", ""),
                                        password=form.get("password", ""),
                                        totp_code=form.get("totp_code", ""))
    try:
        operator = operators.authenticate(rt, credentials, client_ip())
    except operators.LoginRefused as refusal:
        db.session.rollback()
        operators.record_failure(rt, credentials.email, client_ip())
        db.session.commit()
        return _login_form(refusal.message, credentials.email, 401)
    except GoTrueError as error:
        # Throttled: nothing was checked and nothing is recorded.
        db.session.rollback()
        response = make_response(_login_form(error.message, credentials.email, error.status))
        response.headers.update(error.headers)
        return response
    db.session.commit()
    start_session(operator)
    return redirect(_safe_next(form.get("next")), 303)


def _login_form(message: str, email: str, status: int):
    return render_template("console/auth/login.html", next=request.form.get("next", ""),
                           email=email, error=message), status


def logout():
    """Sign out. The session lives in the cookie, so a copy of it would outlive a cleared
    browser cookie: bumping the session version makes every copy useless (it also ends the
    operator's sessions in other browsers)."""
    rt = current_runtime()
    operators.sign_out(rt, g.operator, client_ip())
    db.session.commit()
    end_session()
    flash("You have signed out.", "ok")
    return redirect(url_for("console.login"), 303)


def _profile_page(error: str | None = None, status: int = 200):
    enrolment = None
    if g.operator.totp_secret and not g.operator.totp_enabled:
        enrolment = operators.enrolment_of(g.operator)
    return render_template("console/auth/profile.html", enrolment=enrolment, error=error), status


def profile():
    return _profile_page()


def _recheck_password(password: str) -> str | None:
    """None when ``password`` is the operator's, else why not. A wrong one counts as a failed
    sign-in, and the sign-in throttle applies (a stolen session cannot guess the password)."""
    rt = current_runtime()
    try:
        if operators.recheck_password(rt, g.operator, password, client_ip()):
            return None
    except GoTrueError as error:
        db.session.rollback()
        return error.message
    operators.record_failure(rt, g.operator.email, client_ip())
    db.session.commit()
    return "The password is not right."


def totp_start():
    rt = current_runtime()
    try:
        operators.start_totp_enrolment(g.operator, rt.now())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, location=url_for("console.profile"))
    db.session.commit()
    return redirect(url_for("console.profile"), 303)


def totp_confirm():
    rt = current_runtime()
    try:
        operators.confirm_totp(rt, g.operator, request.form.get("code", ""), client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return _profile_page(error.message, 422)
    db.session.commit()
    # Enabling TOTP ends the operator's other sessions; this one carries on.
    session["v"] = g.operator.session_version
    return done("Two-factor sign-in is on.", location=url_for("console.profile"))


def totp_disable():
    rt = current_runtime()
    if not g.operator.totp_enabled:
        return refused("Two-factor sign-in is already off.", location=url_for("console.profile"))
    problem = _recheck_password(request.form.get("current_password", ""))
    if problem:
        return refused(problem, location=url_for("console.profile"))
    operators.disable_totp(rt, g.operator, client_ip())
    db.session.commit()
    return done("Two-factor sign-in is off.", location=url_for("console.profile"))


def password_change():
    rt = current_runtime()
    form = request.form
    problem = _recheck_password(form.get("current_password", ""))
    if problem:
        return refused(problem, location=url_for("console.profile"))
    if form.get("password", "") != form.get("password_confirm", ""):
        return refused("The two new passwords differ.", location=url_for("console.profile"))
    try:
        operators.change_own_password(rt, g.operator, form.get("password", ""), client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, location=url_for("console.profile"))
    db.session.commit()
    # The other sessions end; this one carries on.
    session["v"] = g.operator.session_version
    return done("Password changed. Your other sessions have ended.",
                location=url_for("console.profile"))
