"""GET /health (liveness, no database) and GET /ready (database reachable and migrated).

Parity: GoTrue internal/api/api.go (HealthCheck).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from .. import __version__
from ..extensions import db
from .errors import json_response


def health():
    return json_response({
        "version": __version__,
        "name": "GoTrue",
        "description": "GoTrue is a user registration and authentication API",
    })


def ready():
    """200 when the database answers and carries the schema; 503 otherwise."""
    try:
        db.session.execute(sa.select(sa.literal(1))).scalar_one()
        db.session.execute(sa.text("SELECT 1 FROM users WHERE 1 = 0")).all()
    except sa.exc.SQLAlchemyError as exc:
        current_app.logger.warning("readiness check failed: %s", type(exc).__name__)
        db.session.rollback()
        return json_response({"status": "unavailable"}, 503)
    return json_response({"status": "ok"})
