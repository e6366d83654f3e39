"""auth.audit_log_entries: what happened to whom, written by services in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from uuid6 import uuid7

from ..db import Base, UTCDateTime


class AuditLogEntry(Base):
    __tablename__ = "audit_log_entries"

    instance_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    # Time-ordered (version 7, services.audit.entry_values): new entries append to the index.
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    payload: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    ip_address: Mapped[str] = mapped_column(
        sa.String(64), nullable=False, default="", server_default="")
