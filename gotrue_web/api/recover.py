"""POST /recover. Parity: GoTrue internal/api/recover.go."""

from __future__ import annotations

from ..extensions import db
from ..runtime import current_runtime
from ..services.recovery import request_recovery, require_email_provider
from .errors import json_response
from .params import json_body, pkce_params, request_info, resolved_redirect


def recover():
    rt = current_runtime()
    require_email_provider(rt)
    body = json_body()
    sent = request_recovery(rt, body.str("email"), resolved_redirect(), pkce_params(body),
                            request_info())
    # The same answer whether or not the address exists or the mail went out.
    if sent:
        db.session.commit()
    else:
        db.session.rollback()
    return json_response({})
