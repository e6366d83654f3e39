"""auth.sso_providers, sso_domains, saml_providers and saml_relay_states: SAML 2.0 identity
providers added through /admin/sso/providers, and the AuthnRequests sent to them.

GoTrue's tables and names (models/sso.go; spec oauth-sso.md section 5). Deleting a provider
deletes its domains, its SAML row and its pending relay states (ON DELETE CASCADE); the
identities ``sso:<id>`` of its users stay.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONB, Base, IndexedText, UTCDateTime

# A whole IdP metadata document can pass MariaDB's TEXT (64 KiB).
_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")

# MariaDB has neither expression nor partial indexes. There the indexed value is a stored
# generated column, and a plain unique index on it has GoTrue's index name. These columns are
# the database's, not the models' (like the substring search's tables): migration 0016 makes
# them and migrations/env.py leaves them out of the schema comparison. Per table: the column,
# the unique index on it, and what the column holds.
MARIADB_GENERATED_KEYS = {
    "users": ("email_non_sso", "users_email_partial_key",
              "CASE WHEN is_sso_user THEN NULL ELSE email END"),
    "sso_providers": ("resource_id_lower", "sso_providers_resource_id_idx", "LOWER(resource_id)"),
    "sso_domains": ("domain_lower", "sso_domains_domain_idx", "LOWER(domain)"),
}

# The expression indexes below, which alembic cannot compare on SQLite (it warns and skips).
EXPRESSION_INDEXES = ("sso_providers_resource_id_idx", "sso_domains_domain_idx")


class SSOProvider(Base):
    __tablename__ = "sso_providers"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    resource_id: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool | None] = mapped_column(sa.Boolean)

    domains = relationship("SSODomain", back_populates="provider",
                           order_by="(SSODomain.created_at, SSODomain.domain)",
                           cascade="all, delete-orphan", passive_deletes=True)
    saml = relationship("SAMLProvider", back_populates="provider", uselist=False,
                        cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        sa.CheckConstraint("resource_id IS NULL OR resource_id <> ''",
                           name="resource_id_not_empty"),
    )

    @property
    def is_disabled(self) -> bool:
        return bool(self.disabled)


class SSODomain(Base):
    __tablename__ = "sso_domains"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    sso_provider_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("sso_providers.id", ondelete="CASCADE"), nullable=False,
        index=True)
    domain: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    provider = relationship("SSOProvider", back_populates="domains")

    __table_args__ = (
        sa.CheckConstraint("domain <> ''", name="domain_not_empty"),
    )


class SAMLProvider(Base):
    __tablename__ = "saml_providers"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    sso_provider_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("sso_providers.id", ondelete="CASCADE"), nullable=False,
        index=True)
    entity_id: Mapped[str] = mapped_column(IndexedText, nullable=False, unique=True)
    metadata_xml: Mapped[str] = mapped_column(_LONG_TEXT, nullable=False)
    metadata_url: Mapped[str | None] = mapped_column(sa.Text)
    attribute_mapping: Mapped[dict | None] = mapped_column(JSONB)
    name_id_format: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    provider = relationship("SSOProvider", back_populates="saml")

    __table_args__ = (
        sa.CheckConstraint("metadata_xml <> ''", name="metadata_xml_not_empty"),
        sa.CheckConstraint("metadata_url IS NULL OR metadata_url <> ''",
                           name="metadata_url_not_empty"),
        sa.CheckConstraint("entity_id <> ''", name="entity_id_not_empty"),
    )


class SAMLRelayState(Base):
    """An AuthnRequest POST /sso sent: the ACS finds it by RelayState and deletes it. The
    database cleanup deletes it after 24 hours; for_email is GoTrue's and unused."""

    __tablename__ = "saml_relay_states"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    sso_provider_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("sso_providers.id", ondelete="CASCADE"), nullable=False,
        index=True)
    request_id: Mapped[str] = mapped_column(sa.Text, nullable=False)
    for_email: Mapped[str | None] = mapped_column(IndexedText, index=True)
    redirect_to: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flow_state_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow_state.id", ondelete="CASCADE"))

    __table_args__ = (
        sa.CheckConstraint("request_id <> ''", name="request_id_not_empty"),
    )


# GoTrue's case-insensitive unique indexes (MariaDB: MARIADB_GENERATED_KEYS above).
sa.Index("sso_providers_resource_id_idx", sa.func.lower(SSOProvider.resource_id),
         unique=True).ddl_if(dialect=("postgresql", "sqlite"))
sa.Index("sso_domains_domain_idx", sa.func.lower(SSODomain.domain),
         unique=True).ddl_if(dialect=("postgresql", "sqlite"))
