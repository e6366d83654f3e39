"""POST /passkeys/authentication/options and /verify: signing in with a passkey, no bearer
needed. Parity: GoTrue internal/api/passkey_authentication.go."""

from __future__ import annotations

from ...extensions import db
from ...runtime import current_runtime
from ...serializers import session_json
from ...services.passkeys import authentication
from ..errors import json_response
from ..params import json_body, request_info


def options():
    # The body only matters to the captcha (gotrue_meta_security.captcha_token).
    issued = authentication.options(current_runtime())
    payload = {"challenge_id": str(issued.challenge.id), "options": issued.options,
               "expires_at": issued.challenge.expires_at_unix}
    db.session.commit()
    return json_response(payload)


def verify():
    body = json_body()
    issued = authentication.verify(current_runtime(), challenge_id=body.str("challenge_id"),
                                   credential=body.data.get("credential"), info=request_info())
    payload = session_json(issued)
    db.session.commit()
    return json_response(payload)
