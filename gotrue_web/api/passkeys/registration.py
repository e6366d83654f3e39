"""POST /passkeys/registration/options and /verify: a signed-in, non-anonymous user registers
a passkey. Parity: GoTrue internal/api/passkey_registration.go."""

from __future__ import annotations

from flask import g

from ...extensions import db
from ...runtime import current_runtime
from ...serializers import timestamp
from ...services.mfa.factors import require_not_anonymous
from ...services.passkeys import registration
from ..errors import json_response
from ..params import json_body


def options():
    # The body is ignored (auth-js sends {}).
    caller = g.caller
    require_not_anonymous(caller.user)
    issued = registration.options(current_runtime(), caller.user, caller.session)
    payload = {"challenge_id": str(issued.challenge.id), "options": issued.options,
               "expires_at": issued.challenge.expires_at_unix}
    db.session.commit()
    return json_response(payload)


def verify():
    caller = g.caller
    require_not_anonymous(caller.user)
    # GoTrue refuses SSO and aal1 callers before it reads the body.
    registration.check_may_register(caller.user, caller.session)
    body = json_body()
    credential = registration.verify(
        current_runtime(), caller.user, caller.session, challenge_id=body.str("challenge_id"),
        credential=body.data.get("credential"), info=caller.info)
    payload = {"id": str(credential.id), "friendly_name": credential.friendly_name,
               "created_at": timestamp(credential.created_at)}
    db.session.commit()
    return json_response(payload)
