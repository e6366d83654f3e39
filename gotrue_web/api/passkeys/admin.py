"""GET /admin/users/{uid}/passkeys and DELETE /admin/users/{uid}/passkeys/{pid}: an admin's view
of a user's passkeys, served whether or not passkeys are on. Parity: GoTrue
internal/api/passkey_admin.go."""

from __future__ import annotations

from flask import Response

from ...extensions import db
from ...runtime import current_runtime
from ...services.admin import users as admin_users
from ...services.passkeys import manage
from ..errors import json_response
from ..guards import admin_actor
from ..params import request_info


def list_passkeys(user_id: str):
    user = admin_users.load(user_id)
    return json_response([manage.passkey_json(credential)
                          for credential in manage.list_passkeys(user.id)])


def delete_passkey(user_id: str, passkey_id: str):
    user = admin_users.load(user_id)
    manage.admin_delete(current_runtime(), user.id, passkey_id, admin_actor(), request_info())
    db.session.commit()
    return Response(status=204)
