"""POST /logout?scope=global|local|others. Parity: GoTrue internal/api/logout.go."""

from __future__ import annotations

from flask import g, request

from ..errors import ErrorCode, bad_request
from ..extensions import db
from ..runtime import current_runtime
from ..services import sessions

SCOPES = ("global", "local", "others")


def logout():
    scope = request.args.get("scope", "global") or "global"
    if scope not in SCOPES:
        raise bad_request(ErrorCode.VALIDATION_FAILED, f"Unsupported logout scope {scope!r}")
    caller = g.caller
    sessions.logout(current_runtime(), caller.user, caller.session, scope, caller.info)
    db.session.commit()
    return "", 204
