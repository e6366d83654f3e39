"""The OAuth clients registered with this server's authorization server (spec
idp-passkeys-web3.md sections 1.3 and 1.4): their registration (by an admin or, when allowed,
dynamically), the admin API's reads and partial updates, soft deletion, secret regeneration
and our own pause switch (disabled_at). Shared by the JSON API and the console; nothing here
commits.

A confidential client's secret is shown once, by create and regenerate; only its hash is
stored (security/client_secrets.py). Registration errors carry GoTrue's "400: " prefix in
their message; the update's errors do not (both as GoTrue answers).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request, not_found
from ...extensions import db
from ...models import ClientType, OAuthClient, RegistrationType
from ...runtime import Runtime
from ...security.client_secrets import client_secret_hash, new_client_secret
from ...serializers import timestamp
from ..validation import json_storage_problem
from . import parse_client_id, redirect_uris

GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post")
MAX_CLIENT_NAME_BYTES = 1024
MAX_CLIENT_URI_BYTES = 2048

# Go prints a []string as "[a b c]".
_AUTH_METHODS_TEXT = "[" + " ".join(AUTH_METHODS) + "]"
_REGISTRATION_PREFIX = "400: "
_UPDATABLE = ("redirect_uris", "grant_types", "client_name", "client_uri", "logo_uri",
              "token_endpoint_auth_method")


def _bad_json() -> GoTrueError:
    return bad_request(ErrorCode.BAD_JSON, "Invalid JSON body")


def _invalid(message: str) -> GoTrueError:
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


# --- the body ----------------------------------------------------------------------------------

def _checked_body(body) -> dict:
    """The body as a dict that every database can store; bad_json otherwise."""
    if not isinstance(body, dict) or json_storage_problem(body):
        raise _bad_json()
    return body


def _text(body: dict, key: str) -> str | None:
    """A string field; None when absent or null (GoTrue's decoder leaves it unset)."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad_json()
    return value


def _texts(body: dict, key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad_json()
    return list(value)


@dataclass(frozen=True)
class _Registration:
    """A registration body, type-checked; empty strings and lists stand for "not given"."""

    redirect_uris: list[str]
    grant_types: list[str]
    client_type: str
    auth_method: str
    client_name: str
    client_uri: str
    logo_uri: str


def _registration(body) -> _Registration:
    body = _checked_body(body)
    return _Registration(
        redirect_uris=_texts(body, "redirect_uris") or [],
        grant_types=_texts(body, "grant_types") or [],
        client_type=_text(body, "client_type") or "",
        auth_method=_text(body, "token_endpoint_auth_method") or "",
        client_name=_text(body, "client_name") or "",
        client_uri=_text(body, "client_uri") or "",
        logo_uri=_text(body, "logo_uri") or "")


# --- shared checks -------------------------------------------------------------------------------

def _grant_types_problem(grant_types: list[str]) -> str | None:
    if any(grant not in GRANT_TYPES for grant in grant_types):
        return "grant_types must only contain 'authorization_code' and/or 'refresh_token'"
    return None


def _name_problem(name: str) -> str | None:
    if len(name.encode("utf-8")) > MAX_CLIENT_NAME_BYTES:
        return f"client_name cannot exceed {MAX_CLIENT_NAME_BYTES} characters"
    return None


def _uri_problem(key: str, value: str) -> str | None:
    """client_uri / logo_uri, when set: at most 2048 bytes and absolute."""
    if not value:
        return None
    message = f"{key} must be a valid URL"
    if len(value.encode("utf-8")) > MAX_CLIENT_URI_BYTES:
        return message
    try:
        absolute = bool(urlsplit(value).scheme)
    except ValueError:
        absolute = False
    if not absolute or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return message
    return None


def _expected_type(method: str) -> str:
    return ClientType.public.value if method == "none" else ClientType.confidential.value


def _registration_problem(fields: _Registration) -> str | None:
    """The first of GoTrue's registration checks that fails, in its order."""
    problem = (
        redirect_uris.list_problem(fields.redirect_uris,
                                   empty_message="redirect_uris is required")
        or _grant_types_problem(fields.grant_types)
        or _name_problem(fields.client_name)
        or _uri_problem("client_uri", fields.client_uri)
        or _uri_problem("logo_uri", fields.logo_uri))
    if problem:
        return problem
    if fields.client_type and fields.client_type not in (ClientType.public.value,
                                                         ClientType.confidential.value):
        return "client_type must be 'public' or 'confidential'"
    if fields.auth_method and fields.auth_method not in AUTH_METHODS:
        return f"token_endpoint_auth_method must be one of: {_AUTH_METHODS_TEXT}"
    if fields.client_type and fields.auth_method:
        expected = _expected_type(fields.auth_method)
        if fields.client_type != expected:
            return (f"client_type '{fields.client_type}' is inconsistent with "
                    f"token_endpoint_auth_method '{fields.auth_method}' "
                    f"(expected client_type '{expected}')")
    return None


# --- JSON ----------------------------------------------------------------------------------------

def client_json(client: OAuthClient, secret: str | None = None) -> dict:
    """GoTrue's client JSON, in its key order; empty optional keys are left out."""
    body: dict = {"client_id": str(client.id)}
    if secret:
        body["client_secret"] = secret
    body.update({
        "client_type": ClientType(client.client_type).value,
        "redirect_uris": client.redirect_uri_list,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_type_list,
        "response_types": ["code"],
    })
    for key in ("client_name", "client_uri", "logo_uri"):
        value = getattr(client, key)
        if value:
            body[key] = value
    body.update({
        "registration_type": RegistrationType(client.registration_type).value,
        "created_at": timestamp(client.created_at),
        "updated_at": timestamp(client.updated_at),
    })
    return body


# --- reads ---------------------------------------------------------------------------------------

def list_clients() -> list[OAuthClient]:
    """Every client not deleted (disabled ones too), newest first."""
    return list(db.session.execute(
        sa.select(OAuthClient).where(OAuthClient.deleted_at.is_(None))
        .order_by(OAuthClient.created_at.desc(), OAuthClient.id)).scalars())


def get_client(client_id: str) -> OAuthClient:
    """The client a path names: 400 when it is not a UUID, 404 when missing or deleted (a
    disabled client is found: the admin API and the console still manage it)."""
    parsed = parse_client_id(client_id)
    if parsed is None:
        raise _invalid("invalid client_id format")
    client = db.session.get(OAuthClient, parsed)
    if client is None or client.deleted_at is not None:
        raise not_found(ErrorCode.OAUTH_CLIENT_NOT_FOUND, "OAuth client not found")
    return client


def find_usable_client(client_id: uuid.UUID) -> OAuthClient | None:
    """The client /oauth/authorize, the consent API and /oauth/token may serve: neither
    deleted nor disabled (a disabled client is as unknown there)."""
    return db.session.execute(
        sa.select(OAuthClient).where(OAuthClient.id == client_id,
                                     OAuthClient.deleted_at.is_(None),
                                     OAuthClient.disabled_at.is_(None))).scalar_one_or_none()


# --- changes -------------------------------------------------------------------------------------

def create_client(rt: Runtime, body: dict, *,
                  registration_type: RegistrationType) -> tuple[OAuthClient, str | None]:
    """Register a client (POST /admin/oauth/clients: manual; POST /oauth/clients/register:
    dynamic). Returns it with its plain secret (None for a public client)."""
    fields = _registration(body)
    problem = _registration_problem(fields)
    if problem:
        raise _invalid(_REGISTRATION_PREFIX + problem)
    client_type = fields.client_type or (_expected_type(fields.auth_method)
                                         if fields.auth_method else ClientType.confidential.value)
    method = fields.auth_method or ("none" if client_type == ClientType.public.value
                                    else "client_secret_basic")
    secret = new_client_secret() if client_type == ClientType.confidential.value else None
    now = rt.now()
    client = OAuthClient(
        id=uuid.uuid4(), client_secret_hash=client_secret_hash(secret) if secret else None,
        registration_type=registration_type, client_type=ClientType(client_type),
        token_endpoint_auth_method=method, redirect_uris=",".join(fields.redirect_uris),
        grant_types=",".join(fields.grant_types or GRANT_TYPES),
        client_name=fields.client_name or None, client_uri=fields.client_uri or None,
        logo_uri=fields.logo_uri or None, created_at=now, updated_at=now)
    db.session.add(client)
    db.session.flush()
    return client, secret


def _update_problem(client: OAuthClient, changes: dict) -> str | None:
    if all(value is None for value in changes.values()):
        return "No fields provided for update"
    uris = changes["redirect_uris"]
    problem = (
        (redirect_uris.list_problem(uris, empty_message="redirect_uris cannot be empty")
         if uris is not None else None)
        or _grant_types_problem(changes["grant_types"] or [])
        or _name_problem(changes["client_name"] or "")
        or _uri_problem("client_uri", changes["client_uri"] or "")
        or _uri_problem("logo_uri", changes["logo_uri"] or ""))
    if problem:
        return problem
    method = changes["token_endpoint_auth_method"]
    if method is None:
        return None
    if method not in AUTH_METHODS:
        return f"invalid token_endpoint_auth_method: must be one of {_AUTH_METHODS_TEXT}"
    client_type = ClientType(client.client_type).value
    if _expected_type(method) != client_type:
        valid = ["none"] if client_type == ClientType.public.value else CONFIDENTIAL_METHODS
        return (f"token_endpoint_auth_method '{method}' is not valid for client_type "
                f"'{client_type}'; valid methods: [{' '.join(valid)}]")
    return None


def update_client(rt: Runtime, client_id: str, body: dict) -> OAuthClient:
    """PUT: a partial update. A field absent or null keeps its value; "" clears client_name,
    client_uri and logo_uri; an empty grant_types goes back to the default pair; the client's
    type never changes."""
    client = get_client(client_id)
    body = _checked_body(body)
    changes = {key: (_texts(body, key) if key in ("redirect_uris", "grant_types")
                     else _text(body, key)) for key in _UPDATABLE}
    problem = _update_problem(client, changes)
    if problem:
        raise _invalid(problem)
    if changes["redirect_uris"] is not None:
        client.redirect_uris = ",".join(changes["redirect_uris"])
    if changes["grant_types"] is not None:
        client.grant_types = ",".join(changes["grant_types"] or GRANT_TYPES)
    for key in ("client_name", "client_uri", "logo_uri"):
        if changes[key] is not None:
            setattr(client, key, changes[key] or None)
    if changes["token_endpoint_auth_method"] is not None:
        client.token_endpoint_auth_method = changes["token_endpoint_auth_method"]
    client.updated_at = rt.now()
    db.session.flush()
    return client


def delete_client(rt: Runtime, client_id: str) -> None:
    """Soft delete: the row stays with deleted_at; the client is gone for every API."""
    client = get_client(client_id)
    client.deleted_at = rt.now()
    db.session.flush()


def regenerate_secret(rt: Runtime, client_id: str) -> tuple[OAuthClient, str]:
    """A new secret for a confidential client; the old one stops working at once."""
    client = get_client(client_id)
    if ClientType(client.client_type) != ClientType.confidential:
        raise _invalid("Cannot regenerate secret for public client")
    secret = new_client_secret()
    client.client_secret_hash = client_secret_hash(secret)
    client.updated_at = rt.now()
    db.session.flush()
    return client, secret


def set_disabled(rt: Runtime, client_id: str, disabled: bool) -> OAuthClient:
    """Ours: pause a client (refused by authorize, consent and token as if unknown) or let it
    work again. Its registration, secret, consents and sessions are kept."""
    client = get_client(client_id)
    if disabled != (client.disabled_at is not None):
        now = rt.now()
        client.disabled_at = now if disabled else None
        client.updated_at = now
        db.session.flush()
    return client
