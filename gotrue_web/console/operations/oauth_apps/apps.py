"""The registered OAuth clients ("apps") as the console lists them, the register form's body,
and the changes: register, regenerate the secret, disable, enable, delete.

Each change goes through services/oauth_server/clients.py (the admin API's rules and words),
only while the OAuth server is on (as the admin API, which answers 404 feature_disabled), and
is audited as ``oauth_client_changed`` with who, which client and what changed. Nothing is
committed here. A secret is handed back to be shown once; it is never stored or audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ....errors import ErrorCode, unprocessable
from ....extensions import db
from ....models import ClientType, OAuthClient, RegistrationType
from ....runtime import Runtime
from ....services import audit
from ....services.oauth_server import clients, require_enabled

ACTION = "oauth_client_changed"
# GoTrue prefixes some validation messages with the status ("400: redirect_uris is required");
# the console shows the words alone.
_STATUS_PREFIX = "400: "


def readable(message: str) -> str:
    return message.removeprefix(_STATUS_PREFIX)


@dataclass(frozen=True)
class AppRow:
    id: str
    name: str
    client_type: str
    auth_method: str
    redirect_uris: list[str]
    registration_type: str
    created_at: datetime | None
    disabled_at: datetime | None

    @property
    def label(self) -> str:
        return self.name or f"App {self.id}"

    @property
    def confidential(self) -> bool:
        return self.client_type == ClientType.confidential.value

    @property
    def confirmation_phrase(self) -> str:
        """What to type to delete it: its name, or its client_id when it has none."""
        return self.name or self.id


def _value(member) -> str:
    return getattr(member, "value", member) or ""


def row_of(client: OAuthClient) -> AppRow:
    return AppRow(id=str(client.id), name=client.client_name or "",
                  client_type=_value(client.client_type),
                  auth_method=client.token_endpoint_auth_method or "",
                  redirect_uris=client.redirect_uri_list,
                  registration_type=_value(client.registration_type),
                  created_at=client.created_at, disabled_at=client.disabled_at)


def rows() -> list[AppRow]:
    """Every client not deleted, disabled ones included, newest first (the admin API's list)."""
    return [row_of(client) for client in clients.list_clients()]


@dataclass(frozen=True)
class Revealed:
    """A client with its secret in plain text, for the one answer that shows it."""

    row: AppRow
    secret: str | None
    regenerated: bool = False


def register_body(form) -> dict:
    """The register form as the admin API's body: redirect URIs one per line (any blank
    splits them), the client type, and the name (empty: none)."""
    name = form.get("client_name", "").strip()
    return {"redirect_uris": form.get("redirect_uris", "").split(),
            "client_type": form.get("client_type", "") or None,
            "client_name": name or None}


def _record(rt: Runtime, client: OAuthClient, change: str, actor: audit.Actor, ip: str,
            **traits) -> None:
    audit.record(ACTION, actor, now=rt.now(), ip=ip, traits={
        "oauth_client_id": str(client.id), "client_name": client.client_name or "",
        "change": change, **traits})


def register(rt: Runtime, body: dict, actor: audit.Actor, ip: str) -> Revealed:
    require_enabled(rt)
    client, secret = clients.create_client(rt, body, registration_type=RegistrationType.manual)
    db.session.flush()  # the id and defaults, for the audit entry and the answer
    _record(rt, client, "created", actor, ip, client_type=_value(client.client_type),
            redirect_uris=client.redirect_uri_list)
    return Revealed(row_of(client), secret)


def regenerate_secret(rt: Runtime, client_id: str, actor: audit.Actor, ip: str) -> Revealed:
    require_enabled(rt)
    client, secret = clients.regenerate_secret(rt, client_id)
    _record(rt, client, "secret_regenerated", actor, ip)
    return Revealed(row_of(client), secret, regenerated=True)


def set_disabled(rt: Runtime, client_id: str, disabled: bool, actor: audit.Actor,
                 ip: str) -> tuple[AppRow, bool]:
    """The client, and whether anything changed (disabling a disabled client does not)."""
    require_enabled(rt)
    client = clients.get_client(client_id)
    if (client.disabled_at is not None) == disabled:
        return row_of(client), False
    client = clients.set_disabled(rt, client_id, disabled)
    _record(rt, client, "disabled" if disabled else "enabled", actor, ip)
    return row_of(client), True


def delete(rt: Runtime, client_id: str, typed: str, actor: audit.Actor, ip: str) -> AppRow:
    """Soft-delete the client once its name (or client_id) was typed; the deleted row."""
    require_enabled(rt)
    client = clients.get_client(client_id)
    row = row_of(client)
    if typed.strip() != row.confirmation_phrase:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            f"Type {row.confirmation_phrase} to confirm. Nothing was deleted.")
    _record(rt, client, "deleted", actor, ip, redirect_uris=client.redirect_uri_list)
    clients.delete_client(rt, client_id)
    return row
