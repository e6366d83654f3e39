"""hook_deliveries: one row per call of an auth hook (or the legacy webhook), for the console."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class HookDelivery(Base):
    __tablename__ = "hook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # send_email, ..., after_user_created, or "webhook" for the legacy webhook
    hook: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    # The URI without credentials or query string.
    uri: Mapped[str] = mapped_column(sa.String(512), nullable=False)
    # succeeded | failed
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    http_status: Mapped[int | None] = mapped_column(sa.Integer)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    latency_ms: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # The webhook-id of the last attempt (HTTP hooks) or the event's uuid.
    event_id: Mapped[str | None] = mapped_column(sa.String(64))
    # True for the console's "send a test event".
    test: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False,
                                       server_default=sa.false())
