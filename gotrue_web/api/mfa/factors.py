"""POST /factors, POST /factors/{id}/challenge and /verify, DELETE /factors/{id}.
Parity: GoTrue internal/api/mfa.go."""

from __future__ import annotations

from flask import g

from ...extensions import db
from ...models import FactorType
from ...runtime import current_runtime
from ...serializers import session_json
from ...services.mfa import challenges, factors, webauthn
from ..errors import json_response
from ..params import json_body


def enroll():
    caller = g.caller
    factors.require_not_anonymous(caller.user)
    body = json_body()
    enrolment = factors.enroll(
        current_runtime(), caller.user, caller.session, caller.info,
        factor_type=body.str("factor_type"), friendly_name=body.str("friendly_name"),
        issuer=body.str("issuer"), phone=body.str("phone"))
    factor = enrolment.factor
    payload = {"id": str(factor.id), "type": factor.factor_type.value,
               "friendly_name": factor.friendly_name or ""}
    if enrolment.phone:
        payload["phone"] = enrolment.phone
    elif enrolment.secret:
        payload["totp"] = {"qr_code": enrolment.qr_code, "secret": enrolment.secret,
                           "uri": enrolment.uri}
    db.session.commit()
    return json_response(payload)


def challenge(factor_id: str):
    caller = g.caller
    factors.require_not_anonymous(caller.user)
    factor = factors.load_factor(caller.user, factor_id)
    body = json_body(optional=True)
    rt = current_runtime()
    # A WebAuthn factor's client sends its own relying party ({"webauthn": {"rpId",
    # "rpOrigins"}}): ignored, the server's WEBAUTHN_* settings are the relying party.
    ceremony = None
    if factor.factor_type == FactorType.webauthn:
        created, ceremony = webauthn.create_challenge(rt, caller.user, factor, caller.info)
    else:
        created = challenges.create(rt, caller.user, factor, caller.info,
                                    channel=body.str("channel"))
    payload = {"id": str(created.id), "type": factor.factor_type.value,
               "expires_at": challenges.expires_at(rt, created)}
    if ceremony is not None:
        payload["webauthn"] = ceremony
    db.session.commit()
    return json_response(payload)


def verify(factor_id: str):
    caller = g.caller
    factors.require_not_anonymous(caller.user)
    factor = factors.load_factor(caller.user, factor_id)
    body = json_body()
    if factor.factor_type == FactorType.webauthn:
        issued = webauthn.verify(current_runtime(), caller.user, caller.session, factor,
                                 caller.info, challenge_id=body.str("challenge_id"),
                                 params=body.object("webauthn"))
    else:
        issued = challenges.verify(current_runtime(), caller.user, caller.session, factor,
                                   caller.info, challenge_id=body.str("challenge_id"),
                                   code=body.str("code"))
    payload = session_json(issued)
    db.session.commit()
    return json_response(payload)


def unenroll(factor_id: str):
    caller = g.caller
    factors.require_not_anonymous(caller.user)
    factor = factors.load_factor(caller.user, factor_id)
    factors.unenroll(current_runtime(), caller.user, caller.session, factor, caller.info)
    db.session.commit()
    return json_response({"id": factor_id})
