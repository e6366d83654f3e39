"""Tables of our own beside GoTrue's schema: the mail log and operator-edited email templates."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class MailLogEntry(Base):
    """One email the server sent or tried to send."""

    __tablename__ = "mail_log"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    template: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    recipient: Mapped[str] = mapped_column(sa.String(255), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    # sent | failed | not_sent (no SMTP host configured, as in GoTrue)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(sa.Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class EmailTemplate(Base):
    """An operator's version of a template; without a row the configured default applies."""

    __tablename__ = "email_templates"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    # "" is the template for everyone; other values match user_metadata.locale.
    locale: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="",
                                        server_default="")
    subject: Mapped[str] = mapped_column(sa.Text, nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="",
                                            server_default="")

    __table_args__ = (
        sa.UniqueConstraint("kind", "locale", name="email_templates_kind_locale_key"),
    )


class SMSLogEntry(Base):
    """One text message (SMS or WhatsApp) the server sent or tried to send: the console's
    message log shows it next to mail. The number is stored whole and masked when shown."""

    __tablename__ = "sms_log"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # confirmation | phone_change | reauthentication | mfa | test
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    recipient: Mapped[str] = mapped_column(sa.String(32), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    provider: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    # sent | failed | test_otp (a configured test code: nothing was sent)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    error: Mapped[str | None] = mapped_column(sa.Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
