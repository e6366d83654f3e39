"""A user's OAuth grants (the apps they allowed to sign them in) on their console page, and
revoking one: through services/oauth_server/grants.py, as GET and DELETE /user/oauth/grants do,
with the operator as the actor of its token_revoked entry. Nothing is committed here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ....runtime import Runtime
from ....services import audit
from ....services.oauth_server import grants


@dataclass(frozen=True)
class GrantRow:
    client_id: str
    app_name: str
    scopes: list[str]
    granted_at: datetime | None

    @property
    def label(self) -> str:
        return self.app_name or f"App {self.client_id}"


def _time(value) -> datetime | None:
    """granted_at as the API item holds it (a datetime, or its ISO text)."""
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def rows(user_id: uuid.UUID) -> list[GrantRow]:
    """The user's active grants, newest first (GET /user/oauth/grants' items)."""
    found = []
    for item in grants.list_grants(user_id):
        client = item.get("client") or {}
        found.append(GrantRow(client_id=str(client.get("id", "")),
                              app_name=client.get("name") or "",
                              scopes=list(item.get("scopes") or []),
                              granted_at=_time(item.get("granted_at"))))
    return found


def revoke(rt: Runtime, user_id: uuid.UUID, client_id: str, actor: audit.Actor,
           ip: str) -> str:
    """Revoke the grant and end the user's sessions of that app; the app's name as the page
    shows it (the service refuses a grant that is not there)."""
    label = next((row.label for row in rows(user_id) if row.client_id == client_id),
                 f"App {client_id}")
    grants.revoke_grant(rt, user_id, client_id, actor, ip=ip)
    return label
