"""The captcha guard of the route table (``_route(..., captcha=...)``). Parity: GoTrue
internal/api/middleware.go (verifyCaptcha, isIgnoreCaptchaRoute).

Like GoTrue's middleware it runs before the view, so a request without a token is refused
before its body is otherwise validated; a body that is not a JSON object is still 400
bad_json. An admin bearer (a valid token whose role is in GOTRUE_JWT_ADMIN_ROLES) skips it.
"""

from __future__ import annotations

import functools

from flask import request

from ..runtime import current_runtime
from ..services import captcha
from .guards import optional_admin
from .params import Body, json_body

# The /token grants GoTrue checks; pkce, refresh_token and id_token are exempt.
TOKEN_GRANTS = ("password", "web3")


def captcha_token() -> str:
    """``gotrue_meta_security.captcha_token`` of the JSON body ("" when absent)."""
    return Body(json_body().object("gotrue_meta_security") or {}).str("captcha_token")


def captcha_required(view, grants: tuple[str, ...] | None = None):
    """Route decorator: 400 captcha_failed unless the request carries a solved captcha.
    With ``grants``, only requests whose ``grant_type`` is one of them are checked."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        applies = grants is None or request.args.get("grant_type", "") in grants
        if applies and current_runtime().settings.captcha.enabled and optional_admin() is None:
            captcha.require_solved(current_runtime(), captcha_token(),
                                   request.remote_addr or "")
        return view(*args, **kwargs)

    return wrapper
