"""auth.flow_state: a PKCE or OAuth flow waiting for its code exchange."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IndexedText, UTCDateTime


class CodeChallengeMethod(str, enum.Enum):
    s256 = "s256"
    plain = "plain"


class FlowState(Base):
    __tablename__ = "flow_state"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    auth_code: Mapped[str] = mapped_column(IndexedText, nullable=False, index=True)
    code_challenge_method: Mapped[CodeChallengeMethod] = mapped_column(
        sa.Enum(CodeChallengeMethod, name="code_challenge_method",
                values_callable=lambda e: [m.value for m in e]),
        nullable=False)
    code_challenge: Mapped[str] = mapped_column(sa.Text, nullable=False)
    provider_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    provider_access_token: Mapped[str | None] = mapped_column(sa.Text)
    provider_refresh_token: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    authentication_method: Mapped[str] = mapped_column(IndexedText, nullable=False)
    auth_code_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invite_token: Mapped[str | None] = mapped_column(sa.Text)
    referrer: Mapped[str | None] = mapped_column(sa.Text)
    oauth_client_state_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    linking_target_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    email_optional: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false())

    __table_args__ = (
        sa.Index("idx_user_id_auth_method", "user_id", "authentication_method"),
    )
