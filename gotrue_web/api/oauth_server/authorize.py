"""GET /oauth/authorize: a third-party app asks for the user's authorization (spec
idp-passkeys-web3.md section 1.5). No user is needed here: the request is stored and the browser
sent on to the consent page, or back to the app with an error."""

from __future__ import annotations

from dataclasses import fields

from flask import redirect, request

from ...extensions import db
from ...runtime import current_runtime
from ...services.oauth_server import authorizations

_PARAMETERS = tuple(field.name for field in fields(authorizations.AuthorizeRequest))


def authorize():
    params = authorizations.AuthorizeRequest(
        **{name: request.args.get(name, "") for name in _PARAMETERS})
    location = authorizations.start(current_runtime(), params)
    db.session.commit()
    return redirect(location, 302)
