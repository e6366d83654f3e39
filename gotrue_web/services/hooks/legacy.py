"""The legacy webhook (GOTRUE_WEBHOOK_*, the seed's WEBHOOK_*), as GoTrue had it until effef1b6.

``trigger(rt, event, user)`` POSTs ``{event, instance_id, user}`` to WEBHOOK_URL when the event
is one of WEBHOOK_EVENTS, inside the caller's transaction: any error it raises rolls the request
back (phone-sms.md section 4.5). Each attempt has its own timeout; a timed-out attempt or a
status other than 200/202/204 is retried at once, up to WEBHOOK_RETRIES attempts. A reply with a
body may replace the user's user_metadata and app_metadata. Every call is logged in
hook_deliveries under the hook name ``webhook``.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
from jwt.warnings import InsecureKeyLengthWarning
from urllib3.exceptions import NewConnectionError

from ...db import NIL_UUID
from ...errors import GoTrueError
from ...models import User
from ...runtime import Runtime
from ...serializers import user_json
from . import Outcome, log

HOOK_NAME = "webhook"
SIGNATURE_HEADER = "x-webhook-signature"
ISSUER = "gotrue"
_OK = (200, 202, 204)


class _Failed(Exception):
    """The call's GoTrue error (the legacy errors carry no error code)."""

    def __init__(self, error: GoTrueError):
        super().__init__(error.message)
        self.error = error


def target_url(rt: Runtime, url: str) -> str:
    """WEBHOOK_URL; a relative one takes SITE_URL's scheme and host (and credentials)."""
    parts = urlsplit(url)
    if parts.scheme:
        return url
    site = urlsplit(rt.settings.site_url)
    return urlunsplit((site.scheme, site.netloc, parts.path, parts.query, parts.fragment))


def body_of(event: str, user: User) -> bytes:
    payload = {"event": event, "instance_id": NIL_UUID, "user": user_json(user)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes, issued_at: int) -> str:
    """The HS256 JWT of the x-webhook-signature header: the body's SHA-256 in ``sha256``."""
    claims = {"iat": issued_at, "iss": ISSUER, "sub": NIL_UUID,
              "sha256": hashlib.sha256(body).hexdigest()}
    with warnings.catch_warnings():
        # GoTrue signs with whatever WEBHOOK_SECRET is, however short.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret.encode(), algorithm="HS256",
                          headers={"alg": "HS256", "typ": "JWT"})


def trigger(rt: Runtime, event: str, user: User) -> None:
    """Send ``event`` for ``user`` if the webhook wants it; raise GoTrue's error otherwise."""
    settings = rt.settings.webhook
    if not settings.wants(event):
        return
    url = target_url(rt, settings.url)
    body = body_of(event, user)
    outcome = Outcome()
    started = time.monotonic()
    try:
        reply = _post(rt, url, body, outcome)
        if reply is not None:
            _apply_reply(user, reply)
    except _Failed as failed:
        log.record(rt, HOOK_NAME, url, outcome, started, error=failed.error.message)
        raise failed.error from None
    log.record(rt, HOOK_NAME, url, outcome, started)


def _post(rt: Runtime, url: str, body: bytes, outcome: Outcome) -> bytes | None:
    """The reply's body when it has one (Content-Length > 0), else None."""
    settings = rt.settings.webhook
    seconds = settings.timeout.total_seconds()
    attempts = settings.retries or 3
    with requests.Session() as session:
        for attempt in range(1, attempts + 1):
            outcome.attempts = attempt
            headers = {"Content-Type": "application/json"}
            if settings.secret:
                headers[SIGNATURE_HEADER] = signature(settings.secret, body, int(time.time()))
            try:
                response = session.post(url, data=body, headers=headers, timeout=seconds,
                                        allow_redirects=True)
            except requests.Timeout:
                if attempt == attempts:
                    raise _Failed(GoTrueError(
                        504, "", f"Failed to perform webhook in time frame ({seconds:g} "
                        "seconds)")) from None
                continue
            except requests.RequestException as exc:
                raise _Failed(_transport_error(url, exc)) from None
            with response:
                outcome.http_status = response.status_code
                if response.status_code in _OK:
                    return _body(response)
    raise _Failed(GoTrueError(422, "", "Failed to handle signup webhook"))


def _transport_error(url: str, exc: requests.RequestException) -> GoTrueError:
    """502 when no connection was made (refused, unknown host), else 500; neither retried."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):
        return GoTrueError(502, "", f"Failed to connect to {url}")
    return GoTrueError(500, "", f"Failed to trigger webhook to {url}", cause=exc)


def _body(response: requests.Response) -> bytes | None:
    try:
        length = int(response.headers.get("Content-Length", "-1"))
    except ValueError:
        length = -1
    return response.content if length > 0 else None


def _apply_reply(user: User, raw: bytes) -> None:
    """A non-null user_metadata / app_metadata in the reply replaces the stored one."""
    try:
        reply = json.loads(raw)
        if reply is not None and not isinstance(reply, dict):
            raise ValueError(f"cannot use a JSON {type(reply).__name__} as the reply object")
        reply = reply or {}
        for key in ("user_metadata", "app_metadata"):
            if reply.get(key) is not None and not isinstance(reply[key], dict):
                raise ValueError(f"{key} must be an object")
    except ValueError as exc:
        raise _Failed(GoTrueError(500, "", f"Webhook returned malformed JSON: {exc}",
                                  cause=exc)) from None
    if reply.get("user_metadata") is not None:
        user.raw_user_meta_data = dict(reply["user_metadata"])
    if reply.get("app_metadata") is not None:
        user.raw_app_meta_data = dict(reply["app_metadata"])
