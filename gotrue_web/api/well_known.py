"""GET /.well-known/jwks.json: the public keys that verify access tokens (none for HS256 only)."""

from __future__ import annotations

from flask import current_app

from ..runtime import current_runtime


def jwks():
    response = current_app.response_class(
        current_runtime().keyring.jwks_document, mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=600"
    return response
