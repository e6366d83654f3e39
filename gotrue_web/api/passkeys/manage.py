"""GET /passkeys, PATCH and DELETE /passkeys/{id}: the signed-in user's passkeys. Parity:
GoTrue internal/api/passkey_manage.go."""

from __future__ import annotations

from flask import Response, g

from ...extensions import db
from ...runtime import current_runtime
from ...services.passkeys import manage
from ..errors import json_response
from ..params import json_body


def list_passkeys():
    return json_response([manage.passkey_json(credential)
                          for credential in manage.list_passkeys(g.caller.user.id)])


def update_passkey(passkey_id: str):
    caller = g.caller
    # A malformed id is a 404 before the body is read.
    parsed_id = manage.parse_passkey_id(passkey_id)
    body = json_body()
    credential = manage.rename(current_runtime(), caller.user, parsed_id,
                               body.str("friendly_name"), caller.info)
    payload = manage.passkey_json(credential)
    db.session.commit()
    return json_response(payload)


def delete_passkey(passkey_id: str):
    caller = g.caller
    manage.delete(current_runtime(), caller.user, caller.session, passkey_id, caller.info)
    db.session.commit()
    return Response(status=204)
