"""auth.one_time_tokens: the hashed OTPs and link tokens waiting to be verified."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, IndexedText, NaiveUTCDateTime


class OneTimeTokenType(str, enum.Enum):
    confirmation_token = "confirmation_token"
    reauthentication_token = "reauthentication_token"
    recovery_token = "recovery_token"
    email_change_token_new = "email_change_token_new"
    email_change_token_current = "email_change_token_current"
    phone_change_token = "phone_change_token"


# The users columns that hold each type's token and the time it was sent.
USER_COLUMNS = {
    OneTimeTokenType.confirmation_token: ("confirmation_token", "confirmation_sent_at"),
    OneTimeTokenType.recovery_token: ("recovery_token", "recovery_sent_at"),
    OneTimeTokenType.email_change_token_new: ("email_change_token_new", "email_change_sent_at"),
    OneTimeTokenType.email_change_token_current: ("email_change_token_current",
                                                  "email_change_sent_at"),
    OneTimeTokenType.phone_change_token: ("phone_change_token", "phone_change_sent_at"),
    OneTimeTokenType.reauthentication_token: ("reauthentication_token",
                                              "reauthentication_sent_at"),
}


class OneTimeToken(Base):
    __tablename__ = "one_time_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    token_type: Mapped[OneTimeTokenType] = mapped_column(
        sa.Enum(OneTimeTokenType, name="one_time_token_type",
                values_callable=lambda e: [m.value for m in e]),
        nullable=False)
    token_hash: Mapped[str] = mapped_column(IndexedText, nullable=False)
    relates_to: Mapped[str] = mapped_column(IndexedText, nullable=False)
    created_at: Mapped[datetime] = mapped_column(NaiveUTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(NaiveUTCDateTime, nullable=False)
    # Wrong codes typed against this token (ours, not GoTrue's): at the limit it is forgotten.
    failed_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0,
                                                 server_default="0")

    # Declared so the unit of work inserts users before their tokens; never navigated.
    user = relationship("User", lazy="raise", passive_deletes=True)

    __table_args__ = (
        sa.CheckConstraint("char_length(token_hash) > 0", name="token_hash").ddl_if(
            dialect=("postgresql", "mysql")),
        sa.CheckConstraint("length(token_hash) > 0", name="token_hash_length").ddl_if(
            dialect="sqlite"),
        sa.UniqueConstraint("user_id", "token_type", name="one_time_tokens_user_id_token_type_key"),
        sa.Index("one_time_tokens_token_hash_hash_idx", "token_hash", postgresql_using="hash"),
        sa.Index("one_time_tokens_relates_to_hash_idx", "relates_to", postgresql_using="hash"),
    )
