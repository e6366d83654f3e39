"""POST /resend. Parity: GoTrue internal/api/resend.go."""

from __future__ import annotations

from ..extensions import db
from ..runtime import current_runtime
from ..services.resend import resend as resend_confirmation
from .errors import json_response
from .otp import pkce_params, resolved_redirect
from .params import json_body, request_info


def resend():
    body = json_body()
    resend_confirmation(current_runtime(), body.str("type"), body.str("email"), body.str("phone"),
                        resolved_redirect(), pkce_params(body), request_info())
    db.session.commit()
    return json_response({})
