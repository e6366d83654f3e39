"""GET /reauthenticate. Parity: GoTrue internal/api/reauthenticate.go."""

from __future__ import annotations

from flask import g

from ..extensions import db
from ..runtime import current_runtime
from ..services.reauthentication import request_nonce
from .errors import json_response


def reauthenticate():
    caller = g.caller
    request_nonce(current_runtime(), caller.user, caller.info)
    db.session.commit()
    return json_response({})
