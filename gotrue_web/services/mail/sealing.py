"""Outbox payloads at rest: the recipient, the template variables (sign-in codes and links) and
a send_email hook event, encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from
``cryptography``) under a key derived with HKDF-SHA256.

The key comes from GOTRUE_MAILER_OUTBOX_KEY when it is set, else from the JWT secret. Payloads
sealed under the JWT secret's key still open after GOTRUE_MAILER_OUTBOX_KEY is set, so mail
pending across that change is not lost.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ...models import OneTimeTokenType
from ...settings import Settings

# Binds the derived key to this use: the JWT secret also signs tokens.
HKDF_INFO = b"gotrue-web mail outbox payload v1"


class UnreadablePayload(Exception):
    """The payload was sealed under a key this server does not have (or was altered)."""


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class PayloadSealer:
    """Seals and opens outbox payloads (JSON objects)."""

    def __init__(self, settings: Settings):
        keys = [_fernet(settings.mailer.outbox_key)] if settings.mailer.outbox_key else []
        keys.append(_fernet(settings.jwt.secret))
        self._fernet = MultiFernet(keys)

    def seal(self, data: dict) -> str:
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return self._fernet.encrypt(raw).decode("ascii")

    def open(self, sealed: str) -> dict:
        try:
            return json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise UnreadablePayload("the outbox payload cannot be decrypted with the "
                                    "configured keys") from exc


def email_to_json(email) -> dict:
    """An outbox.Email as JSON (the inverse of email_from_json)."""
    return {
        "kind": email.kind, "to": email.to, "variables": email.variables,
        "user_id": str(email.user_id) if email.user_id else None,
        "created_at": email.created_at.isoformat(),
        "token_type": email.token_type.value if email.token_type else None,
        "stored_token": email.stored_token, "hook_event": email.hook_event,
        "also": [email_to_json(each) for each in email.also],
    }


def email_from_json(data: dict, email_class):
    return email_class(
        kind=data["kind"], to=data["to"], variables=data["variables"],
        user_id=uuid.UUID(data["user_id"]) if data["user_id"] else None,
        created_at=datetime.fromisoformat(data["created_at"]),
        token_type=OneTimeTokenType(data["token_type"]) if data["token_type"] else None,
        stored_token=data["stored_token"], hook_event=data["hook_event"],
        also=tuple(email_from_json(each, email_class) for each in data["also"]),
    )
