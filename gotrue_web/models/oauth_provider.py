"""auth.oauth_client_states and auth.custom_oauth_providers: the provider-side PKCE verifier of
an OAuth flow, and the OAuth/OIDC providers operators add through the admin API."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import JSONB, Base, IndexedText, UTCDateTime


class OAuthClientState(Base):
    """The PKCE verifier we send to a provider that requires PKCE from its clients (x, custom
    providers with pkce_enabled); flow_state.oauth_client_state_id points here."""

    __tablename__ = "oauth_client_states"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    provider_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    code_verifier: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class CustomOAuthProvider(Base):
    """An operator-defined provider, used as ``provider=custom:<identifier suffix>``.

    List-valued settings are JSON arrays (portable across the three databases); client_secret
    holds the encrypted secret, never the plain one."""

    __tablename__ = "custom_oauth_providers"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    provider_type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    identifier: Mapped[str] = mapped_column(IndexedText, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    client_id: Mapped[str] = mapped_column(sa.Text, nullable=False)
    client_secret: Mapped[str] = mapped_column(sa.Text, nullable=False)
    acceptable_client_ids: Mapped[list] = mapped_column(JSONB, nullable=False)
    scopes: Mapped[list] = mapped_column(JSONB, nullable=False)
    pkce_enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    attribute_mapping: Mapped[dict] = mapped_column(JSONB, nullable=False)
    authorization_params: Mapped[dict] = mapped_column(JSONB, nullable=False)
    custom_claims_allowlist: Mapped[list] = mapped_column(JSONB, nullable=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    email_optional: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # OIDC providers
    issuer: Mapped[str | None] = mapped_column(sa.Text)
    discovery_url: Mapped[str | None] = mapped_column(sa.Text)
    skip_nonce_check: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    cached_discovery: Mapped[dict | None] = mapped_column(JSONB)
    discovery_cached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # OAuth2 providers
    authorization_url: Mapped[str | None] = mapped_column(sa.Text)
    token_url: Mapped[str | None] = mapped_column(sa.Text)
    userinfo_url: Mapped[str | None] = mapped_column(sa.Text)
    jwks_uri: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
