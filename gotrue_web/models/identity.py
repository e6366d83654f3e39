"""auth.identities: how a user signs in (email, phone, an OAuth provider)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONB, Base, ExactIndexedText, IndexedText, UTCDateTime


class Identity(Base):
    __tablename__ = "identities"

    # The provider's id of the account (an OAuth subject, a SAML NameID, a wallet address),
    # compared with letter case on every database, as GoTrue's PostgreSQL does.
    provider_id: Mapped[str] = mapped_column(ExactIndexedText, nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    identity_data: Mapped[dict] = mapped_column(JSONB, nullable=False)
    provider: Mapped[str] = mapped_column(IndexedText, nullable=False)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # GoTrue generates this as lower(identity_data->>'email'); kept in step by set_data so that
    # every database gets the same value without dialect-specific JSON expressions.
    email: Mapped[str | None] = mapped_column(IndexedText, index=True)
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)

    user = relationship("User", back_populates="identities")

    __table_args__ = (
        sa.UniqueConstraint("provider_id", "provider",
                            name="identities_provider_id_provider_unique"),
    )

    def set_data(self, data: dict) -> None:
        self.identity_data = data
        email = data.get("email")
        self.email = email.lower() if isinstance(email, str) and email else None
