"""hook_deliveries: one row per hook call, kept aside during the request and written after its
transaction in one of their own (as the mail and SMS logs are), so a call that made the request
fail is still logged. Rows older than GOTRUE_HOOK_DELIVERY_LOG_DAYS are deleted as new ones are
written. The event body is never stored: it carries codes and tokens."""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from ...extensions import db
from ...models import HookDelivery
from ...runtime import Runtime
from ..deferred_rows import DeferredRows

logger = logging.getLogger(__name__)

SUCCEEDED, FAILED = "succeeded", "failed"
_rows = DeferredRows("pending_hook_log", "hook delivery rows")
_retention: ContextVar[timedelta | None] = ContextVar("hook_log_retention", default=None)


def shown_uri(uri: str) -> str:
    """The URI without credentials, query or fragment (tokens sometimes travel there)."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))[:512]
    except ValueError:
        return uri.split("?", 1)[0][:512]


def record(rt: Runtime, hook: str, uri: str, outcome, started: float, *,
           error: str | None = None, test: bool = False) -> None:
    entry = HookDelivery(
        id=uuid.uuid4(), created_at=rt.now(), hook=hook[:40], uri=shown_uri(uri),
        status=FAILED if error else SUCCEEDED, http_status=outcome.http_status,
        attempts=outcome.attempts, latency_ms=int((time.monotonic() - started) * 1000),
        error=error[:2000] if error else None, event_id=(outcome.event_id or None), test=test)
    _rows.add(entry)
    _retention.set(timedelta(days=rt.settings.hooks.delivery_log_days))
    if error:
        logger.warning("hook %s (%s) failed: %s", hook, entry.uri, error)


def pending() -> list[HookDelivery]:
    return _rows.pending()


def write_pending(_exception=None) -> None:
    """Teardown: persist this request's rows and drop the expired ones."""
    retention = _retention.get()

    def drop_expired(rows: list[HookDelivery]) -> None:
        if retention is not None:
            cutoff = min(row.created_at for row in rows) - retention
            db.session.execute(sa.delete(HookDelivery).where(HookDelivery.created_at < cutoff))

    _rows.write(drop_expired)
