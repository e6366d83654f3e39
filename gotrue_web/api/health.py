"""GET /health (liveness, no database) and GET /ready (each dependency, services.readiness).

Parity: GoTrue internal/api/api.go (HealthCheck).
"""

from __future__ import annotations

from .. import ROOT, __version__
from ..runtime import current_runtime
from ..services.readiness import check as check_readiness
from .errors import json_response


def health():
    return json_response({
        "version": __version__,
        "name": "GoTrue",
        "description": "GoTrue is a user registration and authentication API",
    })


def ready():
    """200 when the database answers, carries the newest migration and the rate-limit storage
    answers; 503 otherwise. Each check is named, with the mail outbox's backlog."""
    readiness = check_readiness(current_runtime(), ROOT / "migrations")
    return json_response(readiness.as_json(), 200 if readiness.ready else 503)
