"""auth.mfa_factors, auth.mfa_challenges and auth.mfa_amr_claims."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONB, Base, IndexedText, IPAddress, UTCDateTime


class FactorType(str, enum.Enum):
    totp = "totp"
    webauthn = "webauthn"
    phone = "phone"


class FactorStatus(str, enum.Enum):
    unverified = "unverified"
    verified = "verified"


def _values(enum_class):
    return [member.value for member in enum_class]


class Factor(Base):
    __tablename__ = "mfa_factors"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    friendly_name: Mapped[str | None] = mapped_column(IndexedText)
    factor_type: Mapped[FactorType] = mapped_column(
        sa.Enum(FactorType, name="factor_type", values_callable=_values), nullable=False)
    status: Mapped[FactorStatus] = mapped_column(
        sa.Enum(FactorStatus, name="factor_status", values_callable=_values), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    secret: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(IndexedText)
    last_challenged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, unique=True)
    web_authn_credential: Mapped[dict | None] = mapped_column(JSONB)
    web_authn_aaguid: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    last_webauthn_challenge_data: Mapped[dict | None] = mapped_column(JSONB)
    # Beyond GoTrue: the time step of the last TOTP code accepted, so a code is used once.
    last_totp_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    user = relationship("User", back_populates="factors")

    __table_args__ = (
        sa.Index("mfa_factors_user_friendly_name_unique", "friendly_name", "user_id", unique=True,
                 postgresql_where=sa.text("trim(friendly_name) <> ''"),
                 sqlite_where=sa.text("trim(friendly_name) <> ''")).ddl_if(
                     dialect=("postgresql", "sqlite")),
        sa.UniqueConstraint("user_id", "phone", name="unique_phone_factor_per_user"),
    )

    @property
    def is_verified(self) -> bool:
        return self.status == FactorStatus.verified


class Challenge(Base):
    __tablename__ = "mfa_challenges"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    factor_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("mfa_factors.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip_address: Mapped[str] = mapped_column(IPAddress, nullable=False)
    otp_code: Mapped[str | None] = mapped_column(sa.Text)
    web_authn_session_data: Mapped[dict | None] = mapped_column(JSONB)
    # Beyond GoTrue: codes typed against this challenge (it dies after a few wrong ones).
    failed_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0,
                                                 server_default="0")

    factor = relationship("Factor", lazy="raise", passive_deletes=True)


class AMRClaim(Base):
    __tablename__ = "mfa_amr_claims"

    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    authentication_method: Mapped[str] = mapped_column(IndexedText, nullable=False)
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)

    __table_args__ = (
        sa.UniqueConstraint("session_id", "authentication_method",
                            name="mfa_amr_claims_session_id_authentication_method_pkey"),
    )
