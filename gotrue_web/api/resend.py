"""POST /resend. Parity: GoTrue internal/api/resend.go."""

from __future__ import annotations

from ..extensions import db
from ..runtime import current_runtime
from ..services.resend import resend as resend_confirmation
from .errors import json_response
from .params import json_body, pkce_params, request_info, resolved_redirect


def resend():
    body = json_body()
    message_id = resend_confirmation(current_runtime(), body.str("type"), body.str("email"),
                                     body.str("phone"), resolved_redirect(), pkce_params(body),
                                     request_info())
    db.session.commit()
    # A texted code's message id (spec D1); emails have none.
    return json_response({"message_id": message_id} if message_id else {})
