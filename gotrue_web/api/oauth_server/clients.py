"""/admin/oauth/clients (admin) and POST /oauth/clients/register (dynamic client registration,
public): the OAuth clients of this server's authorization server (spec idp-passkeys-web3.md
sections 1.3 and 1.4).

api/__init__.py adds the admin guard, the OAuth-server switch and the registration's rate
limit. The rules are in services/oauth_server/clients.py; each view commits once.
"""

from __future__ import annotations

from flask import Response

from ...errors import ErrorCode, GoTrueError, bad_request, forbidden
from ...extensions import db
from ...models import RegistrationType
from ...runtime import current_runtime
from ...services.oauth_server import clients
from ..errors import json_response
from ..params import json_body


def _body() -> dict:
    """The JSON object body; anything undecodable is GoTrue's "Invalid JSON body"."""
    try:
        return json_body().data
    except GoTrueError as error:
        if error.error_code == ErrorCode.BAD_JSON:
            raise bad_request(ErrorCode.BAD_JSON, "Invalid JSON body") from None
        raise


def admin_list_clients():
    # page and per_page are accepted and ignored, as in GoTrue: the whole list, no paging.
    return json_response({"clients": [clients.client_json(client)
                                      for client in clients.list_clients()]})


def admin_create_client():
    client, secret = clients.create_client(current_runtime(), _body(),
                                           registration_type=RegistrationType.manual)
    body = clients.client_json(client, secret)
    db.session.commit()
    return json_response(body, status=201)


def admin_get_client(client_id: str):
    return json_response(clients.client_json(clients.get_client(client_id)))


def admin_update_client(client_id: str):
    rt = current_runtime()
    # The path is checked before the body, as in GoTrue (its middleware loads the client).
    clients.get_client(client_id)
    client = clients.update_client(rt, client_id, _body())
    body = clients.client_json(client)
    db.session.commit()
    return json_response(body)


def admin_delete_client(client_id: str):
    clients.delete_client(current_runtime(), client_id)
    db.session.commit()
    return Response(status=204)


def admin_regenerate_secret(client_id: str):
    client, secret = clients.regenerate_secret(current_runtime(), client_id)
    body = clients.client_json(client, secret)
    db.session.commit()
    return json_response(body)


def register_client():
    rt = current_runtime()
    if not rt.settings.oauth_server.allow_dynamic_registration:
        raise forbidden(ErrorCode.OAUTH_DYNAMIC_CLIENT_REGISTRATION_DISABLED,
                        "Dynamic client registration is not enabled")
    client, secret = clients.create_client(rt, _body(),
                                           registration_type=RegistrationType.dynamic)
    body = clients.client_json(client, secret)
    db.session.commit()
    return json_response(body, status=201)
