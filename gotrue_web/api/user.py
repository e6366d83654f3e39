"""GET /user and PUT /user. Parity: GoTrue internal/api/user.go."""

from __future__ import annotations

from flask import g

from ..errors import ErrorCode, bad_request
from ..extensions import db
from ..runtime import current_runtime
from ..security.access_tokens import claim_audiences
from ..serializers import user_json
from ..services.user_updates import UserUpdate, update_self
from .errors import json_response
from .params import json_body, resolved_redirect


def get_user():
    caller = g.caller
    audiences = claim_audiences(caller.claims)
    # caller.info.aud is request_audience(caller.claims), worked out by the guard.
    if not audiences or caller.info.aud != audiences[0]:
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
        redirect_to=resolved_redirect(),
        code_challenge=body.str("code_challenge"),
        code_challenge_method=body.str("code_challenge_method"),
    )
    user = update_self(rt, caller.user, caller.session, change, caller.info)
    payload = user_json(user)
    db.session.commit()
    return json_response(payload)
