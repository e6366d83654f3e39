"""auth.sessions and auth.refresh_tokens: a signed-in device and its rotating refresh tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, IPAddress, NaiveUTCDateTime, UTCDateTime


class AAL(str, enum.Enum):
    aal1 = "aal1"
    aal2 = "aal2"
    aal3 = "aal3"


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    factor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    aal: Mapped[AAL | None] = mapped_column(
        sa.Enum(AAL, name="aal_level", values_callable=lambda e: [m.value for m in e]))
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(NaiveUTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(sa.Text)
    ip: Mapped[str | None] = mapped_column(IPAddress)
    tag: Mapped[str | None] = mapped_column(sa.Text)
    oauth_client_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    refresh_token_hmac_key: Mapped[str | None] = mapped_column(sa.Text)
    refresh_token_counter: Mapped[int | None] = mapped_column(sa.BigInteger)
    scopes: Mapped[str | None] = mapped_column(sa.Text)

    user = relationship("User")
    amr_claims = relationship(
        "AMRClaim", order_by="AMRClaim.created_at.desc()", cascade="all, delete-orphan",
        passive_deletes=True, lazy="select",
    )

    __table_args__ = (
        sa.Index("sessions_user_id_created_at_idx", "user_id", "created_at"),
        sa.Index("sessions_updated_at_idx", "updated_at"),
        # A revoked OAuth grant deletes the client's sessions of the user (migration 0017).
        sa.Index("sessions_oauth_client_id_idx", "oauth_client_id"),
    )


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    # Not indexed, nor (instance_id, user_id) as GoTrue does: no statement reads tokens by
    # instance or user, and each index is one more write per refresh (migration 0022).
    instance_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True)
    # SHA-256 hex of the refresh token, never the token (security.codes.refresh_token_hash).
    token: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    revoked: Mapped[bool | None] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The parent's token column: its hash too.
    parent: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("sessions.id", ondelete="CASCADE"))
    # Ours, not GoTrue's: the random salt this token was derived from its parent with
    # (security.codes.child_refresh_token), so that the parent can get it back. NULL for a
    # session's first token and for tokens made before migration 0006.
    derivation_salt: Mapped[str | None] = mapped_column(sa.String(32))

    # Declared so the unit of work inserts sessions before their tokens; never navigated.
    session = relationship("Session", lazy="raise", passive_deletes=True)

    __table_args__ = (
        sa.Index("refresh_tokens_session_id_revoked_idx", "session_id", "revoked"),
    )
