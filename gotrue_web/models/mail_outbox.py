"""The mail outbox: emails written with the change that causes them, sent after its commit."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime

# pending: waiting for its (next) attempt; sent and failed are final.
OUTBOX_PENDING, OUTBOX_SENT, OUTBOX_FAILED = "pending", "sent", "failed"


class MailOutboxRow(Base):
    """One email to deliver (services/mail/outbox.py and dispatcher.py).

    The payload (recipient, template variables with the codes and links, a send_email hook
    event) is encrypted and cleared once the row is final. A dispatcher that claims the row
    sets ``claimed_until``: until then no other dispatcher takes it, after it (a sender that
    died) the row is due again.
    """

    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=OUTBOX_PENDING)
    # Claimed this many times; also the claim's fencing number (a late sender cannot finish a
    # row that was claimed again after its lease ran out).
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The same on every attempt, so a receiving server can drop a duplicate.
    message_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    payload: Mapped[str | None] = mapped_column(sa.Text)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)

    __table_args__ = (
        sa.Index("mail_outbox_status_next_attempt_at_idx", "status", "next_attempt_at"),
    )
