"""A user's passkeys as their console page lists them, and removing one: through
services/passkeys/manage.py (the admin API's list and delete), with the operator as the actor
of its passkey_deleted entry. Nothing is committed here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ....runtime import RequestInfo, Runtime
from ....services import audit
from ....services.passkeys import manage

# What a passkey without a name goes by (the API stores the authenticator's name, else this).
UNNAMED = "Passkey"


@dataclass(frozen=True)
class PasskeyRow:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    # Synced to the user's other devices by their password manager or platform (the BS flag).
    backed_up: bool


def rows(user_id: uuid.UUID) -> list[PasskeyRow]:
    """The user's passkeys, oldest first (GET /admin/users/{id}/passkeys' order)."""
    return [PasskeyRow(id=str(credential.id), name=credential.friendly_name or UNNAMED,
                       created_at=credential.created_at, last_used_at=credential.last_used_at,
                       backed_up=bool(credential.backed_up))
            for credential in manage.list_passkeys(user_id)]


def remove(rt: Runtime, user_id: uuid.UUID, passkey_id: str, actor: audit.Actor,
           info: RequestInfo) -> str:
    """Delete one of the user's passkeys; its name as the page showed it. The service refuses
    (404 "Passkey not found") an id that is not one of this user's passkeys."""
    name = next((row.name for row in rows(user_id) if row.id == passkey_id), UNNAMED)
    manage.admin_delete(rt, user_id, passkey_id, actor, info)
    return name
