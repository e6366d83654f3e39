"""OAuth providers: oauth_client_states (the PKCE verifier sent to providers that require PKCE)
and custom_oauth_providers (operator-defined OAuth2/OIDC providers).

Revision ID: 0008_oauth_provider_tables
Revises: 0007_operator_totp_step
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0008_oauth_provider_tables"
down_revision = "0007_operator_totp_step"
branch_labels = None
depends_on = None


def _dialect() -> str:
    return op.get_bind().dialect.name


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(_dialect(), sa.DateTime())


def jsonb():
    return postgresql.JSONB() if _dialect() == "postgresql" else sa.JSON()


def indexed_text():
    return sa.String(255) if _dialect() == "mysql" else sa.Text()


def upgrade():
    op.create_table(
        "oauth_client_states",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_type", sa.Text(), nullable=False),
        sa.Column("code_verifier", sa.Text()),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="oauth_client_states_pkey"),
    )
    op.create_index("oauth_client_states_created_at_idx", "oauth_client_states", ["created_at"])
    op.create_table(
        "custom_oauth_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_type", sa.String(16), nullable=False),
        sa.Column("identifier", indexed_text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("acceptable_client_ids", jsonb(), nullable=False),
        sa.Column("scopes", jsonb(), nullable=False),
        sa.Column("pkce_enabled", sa.Boolean(), nullable=False),
        sa.Column("attribute_mapping", jsonb(), nullable=False),
        sa.Column("authorization_params", jsonb(), nullable=False),
        sa.Column("custom_claims_allowlist", jsonb(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("email_optional", sa.Boolean(), nullable=False),
        sa.Column("issuer", sa.Text()),
        sa.Column("discovery_url", sa.Text()),
        sa.Column("skip_nonce_check", sa.Boolean(), nullable=False),
        sa.Column("cached_discovery", jsonb()),
        sa.Column("discovery_cached_at", timestamptz()),
        sa.Column("authorization_url", sa.Text()),
        sa.Column("token_url", sa.Text()),
        sa.Column("userinfo_url", sa.Text()),
        sa.Column("jwks_uri", sa.Text()),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="custom_oauth_providers_pkey"),
        sa.UniqueConstraint("identifier", name="custom_oauth_providers_identifier_key"),
    )
    op.create_index("custom_oauth_providers_created_at_idx", "custom_oauth_providers",
                    ["created_at"])


def downgrade():
    op.drop_index("custom_oauth_providers_created_at_idx", table_name="custom_oauth_providers")
    op.drop_table("custom_oauth_providers")
    op.drop_index("oauth_client_states_created_at_idx", table_name="oauth_client_states")
    op.drop_table("oauth_client_states")
