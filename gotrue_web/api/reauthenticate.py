"""GET /reauthenticate. Parity: GoTrue internal/api/reauthenticate.go."""

from __future__ import annotations

from flask import g

from ..extensions import db
from ..runtime import current_runtime
from ..services.reauthentication import request_nonce
from .errors import json_response


def reauthenticate():
    caller = g.caller
    message_id = request_nonce(current_runtime(), caller.user, caller.info)
    db.session.commit()
    # A texted code's message id (spec D1); an emailed code has none.
    return json_response({"message_id": message_id} if message_id else {})
