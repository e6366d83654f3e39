"""POST /oauth/token: the token endpoint of this server's authorization server (spec
idp-passkeys-web3.md section 1.7). Parity: GoTrue internal/api/oauthserver/handlers.go
(OAuthServerToken) behind the requireOAuthClientAuth middleware.

api/__init__.py adds the OAuth-server switch and the token rate limit (no captcha). The client
is authenticated first (services/oauth_server/client_auth.py), then the grant runs
(services/oauth_server/exchange.py); the view commits once.
"""

from __future__ import annotations

import json

from flask import request

from ...errors import OAuthError
from ...extensions import db
from ...runtime import current_runtime
from ...services.oauth_server import client_auth, exchange
from ..errors import json_response
from ..params import request_info

_FIELDS = ("grant_type", "code", "refresh_token", "redirect_uri", "client_id",
           "client_secret", "code_verifier")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _well_formed(text: str) -> str:
    # A lone surrogate escape ("\ud800") cannot be encoded; Go's decoder makes it U+FFFD.
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


def _json_params() -> dict[str, str] | None:
    """The JSON body's parameters (resource too), or None when the body is not a JSON object
    of strings where these keys are concerned (null counts as absent)."""
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"),
                          parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None
    params = {}
    for name in (*_FIELDS, "resource"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return None
        params[name] = _well_formed(value)
    return params


def _form_value(name: str) -> str:
    # Go's FormValue: the posted form's value when the key is there, else the query's.
    if name in request.form:
        return request.form[name]
    return request.args.get(name, "")


def _params() -> dict[str, str] | None:
    """The request's parameters: a JSON body when the Content-Type says so (None if it cannot
    be read), else the form, then the query string. resource is read from JSON only."""
    if "application/json" in request.headers.get("Content-Type", ""):
        return _json_params()
    return {name: _form_value(name) for name in _FIELDS}


def token():
    rt = current_runtime()
    params = _params()
    # Client authentication comes first (GoTrue's middleware); with Basic credentials it
    # does not need the body, so an unreadable one is reported after it.
    client = client_auth.authenticate(request.headers.get("Authorization", ""), params)
    if params is None:
        raise OAuthError("invalid_request", "Invalid JSON body")
    tokens = exchange.grant(rt, client, exchange.TokenRequest(
        grant_type=params.get("grant_type", ""), code=params.get("code", ""),
        refresh_token=params.get("refresh_token", ""),
        redirect_uri=params.get("redirect_uri", ""),
        code_verifier=params.get("code_verifier", ""), resource=params.get("resource", ""),
    ), request_info())
    db.session.commit()
    return json_response(tokens.json())
