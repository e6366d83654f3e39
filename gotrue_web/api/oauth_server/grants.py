"""GET and DELETE /user/oauth/grants: the apps the signed-in user consented to, and revoking
one (spec idp-passkeys-web3.md section 1.8)."""

from __future__ import annotations

from flask import g, request

from ...extensions import db
from ...runtime import current_runtime
from ...services.audit import Actor
from ...services.oauth_server import grants
from ..errors import json_response


def list_grants():
    return json_response(grants.list_grants(g.caller.user.id))


def revoke_grant():
    caller = g.caller
    grants.revoke_grant(current_runtime(), caller.user.id, request.args.get("client_id", ""),
                        Actor.of_user(caller.user), ip=caller.info.ip)
    db.session.commit()
    return "", 204
