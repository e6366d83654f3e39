"""GET|POST /callback: the provider sends the browser back here (spec oauth-sso.md 1.3).

Parity: GoTrue internal/api/external.go ExternalProviderCallback. Every failure is a redirect:
a 303 to SITE_URL while the state is unknown (phase A), then a 302 to the flow's redirect
target with the error in the query and the fragment (phase B).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import redirect, request

from ...errors import ErrorCode, GoTrueError
from ...extensions import db
from ...runtime import current_runtime
from ...services.oauth import callback as oauth_callback
from ...services.oauth import flow
from ...services.oauth.base import Grant
from ..params import request_info

# OAuth error names by status, as GoTrue puts them in redirects; other statuses: server_error.
_ERROR_NAMES = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied",
                500: "server_error", 503: "temporarily_unavailable"}
_ACCESS_DENIED = {ErrorCode.SIGNUP_DISABLED, ErrorCode.USER_BANNED,
                  ErrorCode.PROVIDER_EMAIL_NEEDS_VERIFICATION}


def _param(name: str) -> str:
    if request.method == "POST":
        return request.form.get(name, "")
    return request.args.get(name, "")


def _grant() -> Grant:
    # Twitter (OAuth1) comes back with its request token and verifier in the query.
    return Grant(code=_param("code"), oauth_token=request.args.get("oauth_token", ""),
                 oauth_verifier=request.args.get("oauth_verifier", ""))


def _with_query(url: str, values: dict) -> str:
    """``url`` with ``values`` set in its query, keys sorted (Go's url.Values.Encode)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    query = sorted(query + list(values.items()), key=lambda item: item[0])
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redirect(location: str, status: int = 302):
    response = redirect(location, status)
    # The landing page must not pass a URL with a code or tokens on to other sites.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _error_name(error: GoTrueError) -> str:
    if error.error_code in _ACCESS_DENIED:
        return "access_denied"
    return _ERROR_NAMES.get(error.status, "server_error")


def _error_values(error: GoTrueError) -> dict:
    return {"error": _error_name(error), "error_code": error.error_code,
            "error_description": error.message}


def _phase_b_error(base: str, values: dict):
    fragment = {**values, "sb": ""}
    location = _with_query(base, values).split("#", 1)[0]
    return _redirect(location + "#" + urlencode(sorted(fragment.items())))


def callback():
    rt = current_runtime()
    state = request.form.get("state", "") if request.method == "POST" else ""
    state = state or request.args.get("state", "")
    try:
        flow_row = flow.load_state(rt, state)
    except GoTrueError as error:
        db.session.rollback()
        return _redirect(_with_query(rt.settings.site_url, _error_values(error)), 303)
    base = rt.settings.external.redirect_url or flow_row.referrer or rt.settings.site_url
    if _param("error"):
        # The provider refused (the user cancelled): its words, with no error_code.
        db.session.rollback()
        return _phase_b_error(base, {"error": _param("error"),
                                     "error_description": _param("error_description")})
    try:
        finished = oauth_callback.finish(rt, flow_row, _grant(), request_info(),
                                         form_user=_param("user"))
    except GoTrueError as error:
        if error.commit_first:
            db.session.commit()
        else:
            db.session.rollback()
        return _phase_b_error(base, _error_values(error))
    db.session.commit()
    if finished.session is None:
        return _redirect(_with_query(base, {"code": finished.auth_code}))
    issued = finished.session
    values = {"access_token": issued.access_token, "expires_at": str(issued.expires_at),
              "expires_in": str(issued.expires_in), "provider_token": finished.provider_token,
              "refresh_token": issued.refresh_token, "sb": "", "token_type": "bearer"}
    if finished.provider_refresh_token:
        values["provider_refresh_token"] = finished.provider_refresh_token
    # A string append, as GoTrue does: a base that has a fragment gets a second one.
    return _redirect(base + "#" + urlencode(sorted(values.items())))
