"""Auth hooks: calling one and turning what happened into GoTrue's answer.

``invoke(rt, name, payload)`` sends the hook its event (``metadata`` first, then ``payload``)
over HTTP or as a PostgreSQL function and returns the hook's output object (None when it gave
none), or raises the GoTrueError GoTrue answers with (phone-sms.md section 4.2). Every call is
logged in hook_deliveries (services.hooks.log) for the console.

Callers decide where a hook runs (inside their transaction or not) and map errors where GoTrue
does (the MFA send-sms hook: 500 "error invoking hook").
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from ...errors import ErrorCode, GoTrueError, bad_request, internal, unprocessable
from ...extensions import db
from ...runtime import Runtime
from ...settings import HookConfig
from ...transports.hooks import (HookDeadlineExceeded, HookFunctionError, HookPayloadTooLarge,
                                 HookSignatureError, HookTransportError, HookUnreachable)
from ...transports.hooks import http as hook_http
from ...transports.hooks import pg as hook_pg
from . import log

# The name each hook's event carries in metadata.name.
EVENT_NAMES = {
    "send_email": "send-email",
    "send_sms": "send-sms",
    "custom_access_token": "customize-access-token",
    "mfa_verification_attempt": "mfa-verification",
    "password_verification_attempt": "password-verification",
    "before_user_created": "before-user-created",
    "after_user_created": "after-user-created",
}


def enabled(rt: Runtime, name: str) -> bool:
    return rt.settings.hooks.enabled(name)


@dataclass
class Outcome:
    """What one call gave: the output (or the error raised), for the log."""

    output: dict | None = None
    http_status: int | None = None
    attempts: int = 1
    event_id: str = ""


def event(name: str, payload: dict, ip: str = "", *, event_id: str | None = None,
          now=None) -> dict:
    """The hook's input: metadata (uuid, time, name, ip_address when known), then payload."""
    instant = now or datetime.now(timezone.utc)
    metadata = {"uuid": event_id or str(uuid.uuid4()),
                "time": instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "name": EVENT_NAMES[name]}
    if ip:
        metadata["ip_address"] = ip
    return {"metadata": metadata, **payload}


def invoke(rt: Runtime, name: str, payload: dict, *, ip: str = "",
           in_transaction: bool = True, test: bool = False) -> dict | None:
    """Call hook ``name`` (which must be enabled) with ``payload``; see the module docstring.

    ``in_transaction``: a pg-functions hook runs on the request's own connection and
    transaction (a failure rolls the request back); False runs it on a connection of its own.
    """
    config = rt.settings.hooks.get(name)
    event_id = str(uuid.uuid4())
    body = json.dumps(event(name, payload, ip, event_id=event_id, now=rt.now()),
                      separators=(",", ":"), ensure_ascii=False).encode()
    started = time.monotonic()
    outcome = Outcome(event_id=event_id)
    try:
        if not config.uri:
            raise internal(f"Hook {name} is enabled but has no URI")
        raw = (_call_function(config, body, in_transaction) if config.is_pg_function
               else _post(config, body, outcome))
        outcome.output = parse_output(raw)
    except GoTrueError as error:
        log.record(rt, name, config.uri, outcome, started, error=error.message, test=test)
        raise
    log.record(rt, name, config.uri, outcome, started, test=test)
    return outcome.output


def _call_function(config: HookConfig, body: bytes, in_transaction: bool) -> bytes | None:
    schema, function = config.pg_function()
    try:
        if in_transaction:
            driver = db.session.connection().connection.driver_connection
            return hook_pg.call_function(driver, schema, function, body.decode())
        # Outside a transaction (autocommit), as GoTrue: SET LOCAL then has no effect (D5).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            driver = connection.connection.driver_connection
            return hook_pg.call_function(driver, schema, function, body.decode())
    except HookFunctionError as error:
        raise internal(f"Error running hook URI: {config.uri}", cause=error) from None


def _post(config: HookConfig, body: bytes, outcome: Outcome) -> bytes | None:
    try:
        reply = hook_http.post_event(config.uri, config.secrets, body)
    except HookSignatureError as error:
        raise internal(str(error)) from None
    except HookPayloadTooLarge as error:
        outcome.attempts, outcome.http_status = error.attempts, error.status
        raise unprocessable(ErrorCode.HOOK_PAYLOAD_OVER_SIZE_LIMIT,
                            f"Payload size exceeded size limit of {hook_http.MAX_BODY_BYTES} "
                            "bytes") from None
    except HookDeadlineExceeded as error:
        outcome.attempts = error.attempts
        raise unprocessable(ErrorCode.HOOK_TIMEOUT,
                            "Failed to reach hook within maximum time of "
                            f"{hook_http.DEADLINE_SECONDS:f} seconds") from None
    except HookUnreachable as error:
        outcome.attempts = error.attempts
        raise unprocessable(ErrorCode.HOOK_TIMEOUT_AFTER_RETRY,
                            "Failed to reach hook after maximum retries",
                            cause=error) from None
    except HookTransportError as error:  # pragma: no cover - every kind is named above
        raise internal("Error invoking hook", cause=error) from None
    outcome.http_status, outcome.attempts = reply.status, reply.attempts
    outcome.event_id = reply.webhook_id
    return _http_body(reply)


def _http_body(reply: hook_http.HTTPReply) -> bytes | None:
    status = reply.status
    if status == 204:
        return None
    if status in (200, 202):
        media_type = reply.content_type.split(";")[0].strip().lower()
        if not reply.content_type:
            raise bad_request(ErrorCode.HOOK_PAYLOAD_INVALID_CONTENT_TYPE,
                              "Invalid Content-Type: Missing Content-Type header")
        if media_type != "application/json":
            raise bad_request(ErrorCode.HOOK_PAYLOAD_INVALID_CONTENT_TYPE,
                              f"Invalid JSON response. Received content-type: "
                              f"{reply.content_type}")
        return reply.body
    if status in (429, 503):
        raise internal("Service currently unavailable due to hook")
    if status == 400:
        raise internal("Invalid payload sent to hook")
    if status == 401:
        raise internal("Hook requires authorization token")
    raise internal(f"Unexpected status code returned from hook: {status}")


def parse_output(raw: bytes | None) -> dict | None:
    """The hook's output object; an ``error`` object with a message becomes that error (its
    http_code, 500 when absent or 0; no error code, as GoTrue)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise internal("Error unmarshaling JSON output.") from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise internal("Error unmarshaling JSON output.")
    error = value.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
        status = error.get("http_code")
        status = status if isinstance(status, int) and 400 <= status <= 599 else 500
        raise GoTrueError(status, "", error["message"])
    return value
