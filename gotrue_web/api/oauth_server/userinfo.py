"""GET /oauth/userinfo: the caller's claims by the scopes its session was granted (spec
idp-passkeys-web3.md section 1.8). Any valid access token is accepted."""

from __future__ import annotations

from flask import g

from ...services.oauth_server.userinfo import userinfo as userinfo_claims
from ..errors import json_response


def userinfo():
    caller = g.caller
    return json_response(userinfo_claims(caller.user, caller.session))
