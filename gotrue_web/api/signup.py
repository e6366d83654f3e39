"""POST /signup. Parity: GoTrue internal/api/signup.go."""

from __future__ import annotations

from ..extensions import db
from ..runtime import current_runtime
from ..serializers import session_json, user_json
from ..services.signup import SignupRequest, sign_up
from .errors import json_response
from .params import json_body, request_info, resolved_redirect


def signup():
    rt = current_runtime()
    body = json_body()
    request = SignupRequest(
        email=body.str("email"),
        phone=body.str("phone"),
        password=body.str("password"),
        data=body.object("data"),
        channel=body.str("channel"),
        redirect_to=resolved_redirect(),
        code_challenge=body.str("code_challenge"),
        code_challenge_method=body.str("code_challenge_method"),
    )
    result = sign_up(rt, request, request_info())
    payload = (session_json(result.session) if result.session is not None
               else user_json(result.user))
    db.session.commit()
    return json_response(payload)
