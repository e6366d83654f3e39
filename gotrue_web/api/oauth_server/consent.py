"""The consent page's API (spec idp-passkeys-web3.md section 1.6): GET
/oauth/authorizations/{id} (the request to show, or an immediate approval) and POST
/oauth/authorizations/{id}/consent (approve or deny). Both answer JSON; the consent page then
sends the browser to the returned redirect_url."""

from __future__ import annotations

import json

from flask import g, request

from ...errors import ErrorCode, bad_request
from ...extensions import db
from ...runtime import current_runtime
from ...services.oauth_server import consent
from ..errors import json_response


def get_authorization(authorization_id: str):
    rt = current_runtime()
    consent.check_origin(rt, request.headers.get("Origin"))
    payload = consent.details(rt, authorization_id, g.caller.user)
    db.session.commit()
    return json_response(payload)


def _action() -> str:
    """The body's action, read as Go's json.Decoder reads it: the first JSON value (null = an
    empty object); anything undecodable or mistyped is bad_json."""
    invalid = bad_request(ErrorCode.BAD_JSON, "invalid JSON body")
    try:
        text = request.get_data(cache=True).decode("utf-8").lstrip(" \t\r\n")
        body, _ = json.JSONDecoder().raw_decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid from None
    if body is None:
        body = {}
    if not isinstance(body, dict) or not isinstance(body.get("action", ""), (str, type(None))):
        raise invalid
    action = body.get("action") or ""
    if action not in (consent.APPROVE, consent.DENY):
        raise bad_request(ErrorCode.VALIDATION_FAILED, "action must be 'approve' or 'deny'")
    return action


def decide(authorization_id: str):
    rt = current_runtime()
    consent.check_origin(rt, request.headers.get("Origin"))
    action = _action()
    payload = consent.decide(rt, authorization_id, g.caller.user, action)
    db.session.commit()
    return json_response(payload)
