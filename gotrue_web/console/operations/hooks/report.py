"""Auth hooks as the console shows them: each hook's configuration (the URI without credentials
or query, how many secrets, never the secrets), its last deliveries, and the delivery log with
filters and keyset pages. The legacy webhook is shown the same way (deliveries of hook
"webhook"). Read only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ....extensions import db
from ....models import HookDelivery
from ....runtime import Runtime
from ....services.hooks import EVENT_NAMES
from ....services.hooks import log as hook_log
from ....settings import HOOK_NAMES
from .. import log_paging

LEGACY = "webhook"
DELIVERY_HOOKS = (*HOOK_NAMES, LEGACY)
STATUSES = (hook_log.SUCCEEDED, hook_log.FAILED)
ORIGINS = ("test", "live")
# Deliveries shown beside each hook (the log below has them all).
RECENT = 3

HOOK_LABELS = {
    "send_email": "Send email",
    "send_sms": "Send SMS",
    "custom_access_token": "Custom access token",
    "mfa_verification_attempt": "MFA verification attempt",
    "password_verification_attempt": "Password verification attempt",
    "before_user_created": "Before user created",
    "after_user_created": "After user created",
    LEGACY: "Legacy webhook",
}
HOOK_NOTES = {
    "send_email": "Replaces SMTP: every email the server would send goes to the hook.",
    "send_sms": "Replaces the SMS provider for codes, including MFA phone challenges.",
    "custom_access_token": "Rewrites the claims of every access token minted, refreshes too.",
    "mfa_verification_attempt": "Asked after each MFA code check; may reject further attempts.",
    "password_verification_attempt": "Asked after each password check of the password grant; "
                                     "may reject and sign the user out.",
    "before_user_created": "Asked before a new user is saved; an error refuses the sign-up.",
    "after_user_created": "Told after a new user is saved.",
}


@dataclass(frozen=True)
class HookRow:
    name: str
    label: str
    event_name: str
    note: str
    enabled: bool
    # "http", "pg" or "" (no URI).
    transport: str
    uri: str
    secret_count: int
    recent: list = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0

    @property
    def transport_label(self) -> str:
        return {"http": "HTTP", "pg": "PostgreSQL function"}.get(self.transport, "none")

    @property
    def variable_prefix(self) -> str:
        return f"GOTRUE_HOOK_{self.name.upper()}_"


@dataclass(frozen=True)
class WebhookRow:
    url: str
    configured: bool
    secret_set: bool
    events: tuple[str, ...]
    retries: int
    timeout_seconds: int
    recent: list = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0


def recent(hook: str, limit: int = RECENT) -> list[HookDelivery]:
    """The newest committed deliveries of ``hook``."""
    query = (sa.select(HookDelivery).where(HookDelivery.hook == hook)
             .order_by(HookDelivery.created_at.desc(), HookDelivery.id.desc()).limit(limit))
    return list(db.session.execute(query).scalars())


def counts() -> dict[str, dict[str, int]]:
    """Deliveries kept per hook and status (the log holds the retention period's)."""
    query = (sa.select(HookDelivery.hook, HookDelivery.status, sa.func.count())
             .group_by(HookDelivery.hook, HookDelivery.status))
    found: dict[str, dict[str, int]] = {}
    for hook, status, number in db.session.execute(query):
        found.setdefault(hook, {})[status] = int(number)
    return found


def _transport(uri: str, is_pg: bool) -> str:
    if not uri:
        return ""
    return "pg" if is_pg else "http"


def hook_row(rt: Runtime, name: str, tally: dict[str, dict[str, int]] | None = None,
             extra: list[HookDelivery] | None = None) -> HookRow:
    """One hook's row; ``extra`` are deliveries of this request not yet written (the test
    event just sent), shown first."""
    config = rt.settings.hooks.get(name)
    tally = counts() if tally is None else tally
    mine = tally.get(name, {})
    pending = [entry for entry in (extra or ()) if entry.hook == name]
    return HookRow(
        name=name, label=HOOK_LABELS[name], event_name=EVENT_NAMES[name],
        note=HOOK_NOTES[name], enabled=config.enabled,
        transport=_transport(config.uri, config.is_pg_function),
        uri=hook_log.shown_uri(config.uri) if config.uri else "",
        secret_count=len(config.secrets),
        recent=(list(reversed(pending)) + recent(name))[:RECENT],
        succeeded=mine.get(hook_log.SUCCEEDED, 0)
        + sum(entry.status == hook_log.SUCCEEDED for entry in pending),
        failed=mine.get(hook_log.FAILED, 0)
        + sum(entry.status == hook_log.FAILED for entry in pending))


def hooks(rt: Runtime) -> list[HookRow]:
    tally = counts()
    return [hook_row(rt, name, tally) for name in HOOK_NAMES]


def webhook(rt: Runtime, tally: dict[str, dict[str, int]] | None = None) -> WebhookRow:
    settings = rt.settings.webhook
    mine = (counts() if tally is None else tally).get(LEGACY, {})
    return WebhookRow(
        url=hook_log.shown_uri(settings.url) if settings.url else "",
        configured=bool(settings.url) and bool(settings.events),
        secret_set=bool(settings.secret), events=tuple(settings.events),
        retries=settings.retries, timeout_seconds=int(settings.timeout.total_seconds()),
        recent=recent(LEGACY), succeeded=mine.get(hook_log.SUCCEEDED, 0),
        failed=mine.get(hook_log.FAILED, 0))


@dataclass(frozen=True)
class DeliveryFilter:
    """What the console narrows the delivery log to; empty fields do not filter."""

    hook: str = ""
    status: str = ""
    # "test" (the console's test events), "live" (real calls) or "" (both).
    origin: str = ""
    # created_at >= since and < until.
    since: datetime | None = None
    until: datetime | None = None


def search(filters: DeliveryFilter, *, limit: int = log_paging.DEFAULT_PAGE_SIZE,
           before: str | None = None, after: str | None = None) -> log_paging.Page:
    """One page of committed deliveries matching ``filters``, newest first."""
    query = sa.select(HookDelivery)
    if filters.hook:
        query = query.where(HookDelivery.hook == filters.hook)
    if filters.status:
        query = query.where(HookDelivery.status == filters.status)
    if filters.origin:
        query = query.where(HookDelivery.test == (filters.origin == "test"))
    if filters.since is not None:
        query = query.where(HookDelivery.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(HookDelivery.created_at < filters.until)
    return log_paging.fetch(query, HookDelivery.created_at, HookDelivery.id, limit=limit,
                            before=before, after=after)
