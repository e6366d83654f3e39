"""POSTing a hook's event to its HTTP endpoint, as GoTrue does.

Each attempt has a new ``webhook-id`` and is signed per Standard Webhooks (the maintained
``standardwebhooks`` package computes each ``v1,`` signature), one per secret. One deadline
covers the whole call: at most three attempts, a pause only after a transport error, an
immediate retry when a 429/503 names a Retry-After. The answer's status, media type and body are
returned for the caller to interpret.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import requests
from standardwebhooks.webhooks import Webhook

from . import HookDeadlineExceeded, HookPayloadTooLarge, HookSignatureError, HookUnreachable

MAX_ATTEMPTS = 3
DEADLINE_SECONDS = 5.0
BACKOFF_SECONDS = 2.0
MAX_BODY_BYTES = 204800
_SYMMETRIC_PREFIX = "v1,"


@dataclass
class HTTPReply:
    status: int
    content_type: str
    body: bytes
    attempts: int
    webhook_id: str


def signature_header(secrets: tuple[str, ...], webhook_id: str, timestamp: int,
                     body: bytes) -> str:
    """``v1,<sig>`` per secret joined by ", " (empty without secrets)."""
    signed_at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    signatures = []
    for secret in secrets:
        if not secret.startswith(_SYMMETRIC_PREFIX):
            raise HookSignatureError("Error generating signatures: invalid signature format")
        signatures.append(Webhook(secret[len(_SYMMETRIC_PREFIX):]).sign(
            msg_id=webhook_id, timestamp=signed_at, data=body))
    return ", ".join(signatures)


def post_event(uri: str, secrets: tuple[str, ...], body: bytes, *,
               deadline: float = DEADLINE_SECONDS, backoff: float = BACKOFF_SECONDS) -> HTTPReply:
    """POST ``body`` to ``uri``; raises HookDeadlineExceeded, HookUnreachable,
    HookSignatureError or HookPayloadTooLarge."""
    started = time.monotonic()
    attempts = 0
    with requests.Session() as session:
        while True:
            attempts += 1
            remaining = deadline - (time.monotonic() - started)
            if remaining <= 0:
                raise _counted(HookDeadlineExceeded(), attempts - 1)
            webhook_id = str(uuid.uuid4())
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json", "Accept-Encoding": "identity",
                "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
                "webhook-signature": signature_header(secrets, webhook_id, timestamp, body),
            }
            try:
                response = session.post(uri, data=body, headers=headers, stream=True,
                                        timeout=(remaining, remaining), allow_redirects=True)
            except requests.Timeout:
                raise _counted(HookDeadlineExceeded(), attempts) from None
            except requests.RequestException as error:
                if attempts >= MAX_ATTEMPTS:
                    raise _counted(HookUnreachable(str(error)), attempts) from None
                pause = min(backoff, deadline - (time.monotonic() - started))
                if pause > 0:
                    time.sleep(pause)
                continue
            with response:
                if (response.status_code in (429, 503) and response.headers.get("Retry-After")
                        and attempts < MAX_ATTEMPTS):
                    continue
                return HTTPReply(
                    status=response.status_code,
                    content_type=response.headers.get("Content-Type", ""),
                    body=_read_body(response, started, deadline, attempts),
                    attempts=attempts, webhook_id=webhook_id)


def _read_body(response: requests.Response, started: float, deadline: float,
               attempts: int) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=16384):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                too_large = _counted(HookPayloadTooLarge(), attempts)
                too_large.status = response.status_code
                raise too_large
            chunks.append(chunk)
            if time.monotonic() - started > deadline:
                raise _counted(HookDeadlineExceeded(), attempts)
    except requests.Timeout:
        raise _counted(HookDeadlineExceeded(), attempts) from None
    except requests.RequestException as error:
        raise _counted(HookUnreachable(str(error)), attempts) from None
    return b"".join(chunks)


def _counted(error, attempts: int):
    error.attempts = max(1, attempts)
    return error
