"""GET /user and PUT /user. Parity: GoTrue internal/api/user.go."""

from __future__ import annotations

from flask import g, request

from ..errors import ErrorCode, bad_request
from ..extensions import db
from ..runtime import current_runtime
from ..services import redirects
from ..services.user_updates import UserUpdate, update_self
from .errors import json_response
from .params import json_body, redirect_to_param
from .serializers import user_json


def get_user():
    caller = g.caller
    claim = caller.claims.get("aud")
    audiences = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else []
    token_aud = audiences[0] if audiences else None
    # The request's audience: X-JWT-AUD, else the token's own, else GOTRUE_JWT_AUD.
    request_aud = (request.headers.get("X-JWT-AUD") or token_aud
                   or current_runtime().settings.jwt.aud)
    if token_aud is None or request_aud != token_aud:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Token audience doesn't match request audience")
    return json_response(user_json(caller.user))


def update_user():
    caller = g.caller
    rt = current_runtime()
    body = json_body()
    change = UserUpdate(
        email=body.str("email") or None,
        phone=body.str("phone") or None,
        password=body.optional_str("password"),
        current_password=body.str("current_password") or None,
        nonce=body.str("nonce") or None,
        data=body.object("data"),
        app_metadata=body.object("app_metadata"),
        channel=body.str("channel"),
        redirect_to=redirects.resolve(redirect_to_param(), rt.settings.site_url,
                                      rt.settings.uri_allow_list),
        code_challenge=body.str("code_challenge"),
        code_challenge_method=body.str("code_challenge_method"),
    )
    user = update_self(rt, caller.user, caller.session, change, caller.info)
    payload = user_json(user)
    db.session.commit()
    return json_response(payload)
