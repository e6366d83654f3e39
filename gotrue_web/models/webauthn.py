"""auth.webauthn_credentials and auth.webauthn_challenges: passkeys (spec idp-passkeys-web3.md
section 2.1).

A credential is one passkey of a user: the authenticator's credential id (unique across all
users), its COSE public key, the signature counter and the backup flags the authenticator
reported. A challenge row holds one ceremony between its options and its verify call and is
consumed by a conditional delete; a sign-in challenge has no user (discoverable credentials).
WebAuthn MFA factors keep their credential in mfa_factors instead, as in GoTrue.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from ..db import JSONB, Base, IndexedText, UTCDateTime

# WebAuthn credential ids are at most 1023 bytes; MariaDB indexes VARBINARY, not BLOB.
CredentialBytes = sa.LargeBinary().with_variant(mysql.VARBINARY(1023), "mysql", "mariadb")

CHALLENGE_TYPES = ("signup", "registration", "authentication")


class WebAuthnCredential(Base):
    __tablename__ = "webauthn_credentials"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    credential_id: Mapped[bytes] = mapped_column(CredentialBytes, nullable=False, unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    attestation_type: Mapped[str] = mapped_column(sa.Text, nullable=False, default="none")
    aaguid: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    transports: Mapped[list] = mapped_column(JSONB, nullable=False, default=list)
    backup_eligible: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    backed_up: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    friendly_name: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnChallenge(Base):
    __tablename__ = "webauthn_challenges"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # NULL for a sign-in ceremony: the passkey names its user.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    challenge_type: Mapped[str] = mapped_column(IndexedText, nullable=False)
    # The ceremony's state between options and verify: the challenge, rp id, user handle,
    # user verification and the algorithms offered.
    session_data: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    __table_args__ = (
        sa.CheckConstraint("challenge_type IN ('signup', 'registration', 'authentication')",
                           name="webauthn_challenges_type_check"),
    )
