"""The secret of an operator's invitation link: signed with a key derived from the server's
secret, valid for 72 hours, and tied to the operator's session_version, so it stops working
once used (setting the password bumps the version), when a new link is made, and when the
operator is disabled.

Form: ``<operator id hex>.<session version>.<expiry, unix seconds>.<HMAC-SHA256, base64url>``.
Nothing is stored: the operator row is the state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ....models import Operator
from ....runtime import Runtime

LIFETIME = timedelta(hours=72)
# Longer than any link this module makes; anything longer is not read at all.
_MAX_LENGTH = 200


def _key(rt: Runtime) -> bytes:
    # Its own key: an invitation signature says nothing about the JWT or cookie keys.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"gotrue-web operator invitation").derive(rt.settings.jwt.secret.encode())


def _signature(rt: Runtime, body: str) -> str:
    digest = hmac.new(_key(rt), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(rt: Runtime, operator: Operator) -> str:
    """The secret for ``operator``'s invitation link as the row stands (its session_version)."""
    expires = int((rt.now() + LIFETIME).timestamp())
    body = f"{operator.id.hex}.{operator.session_version}.{expires}"
    return f"{body}.{_signature(rt, body)}"


def expires_at(rt: Runtime) -> datetime:
    """When a link issued now stops working."""
    return rt.now() + LIFETIME


def verified_parts(rt: Runtime, secret: str) -> tuple[uuid.UUID, int] | None:
    """The operator id and session version a well-signed, unexpired secret names; else None."""
    if not secret or len(secret) > _MAX_LENGTH or not secret.isascii():
        return None
    body, _, signature = secret.rpartition(".")
    if not body or not hmac.compare_digest(signature, _signature(rt, body)):
        return None
    try:
        operator_hex, version, expires = body.split(".")
        operator_id, version_number = uuid.UUID(hex=operator_hex), int(version)
        expired = rt.now().timestamp() >= int(expires)
    except ValueError:
        return None
    return None if expired else (operator_id, version_number)
