"""auth.oauth_clients, oauth_authorizations and oauth_consents: this server as an OAuth 2.1 /
OpenID Connect authorization server for third-party apps (spec idp-passkeys-web3.md section 1).

GoTrue's tables and names. A client is soft-deleted (deleted_at); its authorizations and
consents go with it only when the row itself is removed (ON DELETE CASCADE). A session made by
a code exchange names its client in sessions.oauth_client_id and its scope in sessions.scopes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IndexedText, UTCDateTime


def _enum(python_enum: type[enum.Enum], name: str) -> sa.Enum:
    return sa.Enum(python_enum, name=name, values_callable=lambda e: [m.value for m in e])


class RegistrationType(str, enum.Enum):
    dynamic = "dynamic"
    manual = "manual"


class ClientType(str, enum.Enum):
    public = "public"
    confidential = "confidential"


class AuthorizationStatus(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    denied = "denied"
    expired = "expired"


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    # The client_id clients present.
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # base64url (no padding) of the secret's SHA-256; NULL for public clients.
    client_secret_hash: Mapped[str | None] = mapped_column(sa.Text)
    registration_type: Mapped[RegistrationType] = mapped_column(
        _enum(RegistrationType, "oauth_registration_type"), nullable=False)
    client_type: Mapped[ClientType] = mapped_column(
        _enum(ClientType, "oauth_client_type"), nullable=False,
        default=ClientType.confidential)
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # Comma-joined, as GoTrue stores them.
    redirect_uris: Mapped[str] = mapped_column(sa.Text, nullable=False)
    grant_types: Mapped[str] = mapped_column(sa.Text, nullable=False)
    client_name: Mapped[str | None] = mapped_column(sa.Text)
    client_uri: Mapped[str | None] = mapped_column(sa.Text)
    logo_uri: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Ours, not GoTrue's: an operator paused the client (console). A disabled client is
    # refused like a deleted one by /oauth/authorize, the consent API and /oauth/token, but
    # keeps its registration and can be enabled again.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("oauth_clients_deleted_at_idx", "deleted_at"),
    )

    @property
    def redirect_uri_list(self) -> list[str]:
        return [uri for uri in (self.redirect_uris or "").split(",") if uri]

    @property
    def grant_type_list(self) -> list[str]:
        return [grant for grant in (self.grant_types or "").split(",") if grant]


class OAuthAuthorization(Base):
    __tablename__ = "oauth_authorizations"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # 32 characters of [a-z2-7]: what the consent page and its API name the request by.
    authorization_id: Mapped[str] = mapped_column(IndexedText, nullable=False, unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False,
        index=True)
    # NULL until the consent API's first call binds the signed-in user.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    scope: Mapped[str] = mapped_column(sa.String(4096), nullable=False)
    state: Mapped[str | None] = mapped_column(sa.String(4096))
    resource: Mapped[str | None] = mapped_column(sa.String(2048))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(16))
    nonce: Mapped[str | None] = mapped_column(sa.String(255))
    response_type: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="code")
    status: Mapped[AuthorizationStatus] = mapped_column(
        _enum(AuthorizationStatus, "oauth_authorization_status"), nullable=False,
        default=AuthorizationStatus.pending)
    # Set when approved (a UUIDv4); single use: the exchange deletes the row.
    authorization_code: Mapped[str | None] = mapped_column(IndexedText, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OAuthConsent(Base):
    __tablename__ = "oauth_consents"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    client_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False,
        index=True)
    # Space-joined.
    scopes: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "client_id", name="oauth_consents_user_client_unique"),
    )

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in self.scopes.split(" ") if scope]
