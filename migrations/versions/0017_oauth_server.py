"""OAuth 2.1 / OpenID Connect authorization server: oauth_clients, oauth_authorizations and
oauth_consents (GoTrue's tables, spec idp-passkeys-web3.md section 1.2, plus our
oauth_clients.disabled_at), and an index on
sessions.oauth_client_id (a revoked grant deletes the client's sessions of the user).

sessions.oauth_client_id and sessions.scopes exist since 0001 (GoTrue's sessions table). They get
no foreign key here: clients are only ever soft-deleted, and adding one would rebuild the
sessions table on SQLite.

Revision ID: 0017_oauth_server
Revises: 0016_sso_saml
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0017_oauth_server"
down_revision = "0016_sso_saml"
branch_labels = None
depends_on = None

_ENUMS = {
    "oauth_registration_type": ("dynamic", "manual"),
    "oauth_client_type": ("public", "confidential"),
    "oauth_authorization_status": ("pending", "approved", "denied", "expired"),
}


def _dialect() -> str:
    return op.get_bind().dialect.name


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(_dialect(), sa.DateTime())


def indexed_text():
    return sa.String(255) if _dialect() == "mysql" else sa.Text()


def enum(name: str):
    return sa.Enum(*_ENUMS[name], name=name)


def upgrade():
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_secret_hash", sa.Text()),
        sa.Column("registration_type", enum("oauth_registration_type"), nullable=False),
        sa.Column("client_type", enum("oauth_client_type"), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.Text(), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.Text(), nullable=False),
        sa.Column("client_name", sa.Text()),
        sa.Column("client_uri", sa.Text()),
        sa.Column("logo_uri", sa.Text()),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("deleted_at", timestamptz()),
        # Ours: an operator paused the client (the console's apps page).
        sa.Column("disabled_at", timestamptz()),
        sa.PrimaryKeyConstraint("id", name="oauth_clients_pkey"),
    )
    op.create_index("oauth_clients_deleted_at_idx", "oauth_clients", ["deleted_at"])
    op.create_table(
        "oauth_authorizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authorization_id", indexed_text(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid()),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.String(4096), nullable=False),
        sa.Column("state", sa.String(4096)),
        sa.Column("resource", sa.String(2048)),
        sa.Column("code_challenge", sa.String(128)),
        sa.Column("code_challenge_method", sa.String(16)),
        sa.Column("nonce", sa.String(255)),
        sa.Column("response_type", sa.String(16), nullable=False),
        sa.Column("status", enum("oauth_authorization_status"), nullable=False),
        sa.Column("authorization_code", indexed_text()),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("expires_at", timestamptz(), nullable=False),
        sa.Column("approved_at", timestamptz()),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"], ondelete="CASCADE",
                                name="oauth_authorizations_client_id_fkey"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="oauth_authorizations_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="oauth_authorizations_pkey"),
        sa.UniqueConstraint("authorization_id",
                            name="oauth_authorizations_authorization_id_key"),
        sa.UniqueConstraint("authorization_code",
                            name="oauth_authorizations_authorization_code_key"),
    )
    op.create_index("oauth_authorizations_client_id_idx", "oauth_authorizations", ["client_id"])
    op.create_index("oauth_authorizations_user_id_idx", "oauth_authorizations", ["user_id"])
    op.create_index("oauth_authorizations_expires_at_idx", "oauth_authorizations",
                    ["expires_at"])
    op.create_table(
        "oauth_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", sa.String(2048), nullable=False),
        sa.Column("granted_at", timestamptz(), nullable=False),
        sa.Column("revoked_at", timestamptz()),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="oauth_consents_user_id_fkey"),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"], ondelete="CASCADE",
                                name="oauth_consents_client_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="oauth_consents_pkey"),
        sa.UniqueConstraint("user_id", "client_id", name="oauth_consents_user_client_unique"),
    )
    op.create_index("oauth_consents_client_id_idx", "oauth_consents", ["client_id"])
    op.create_index("sessions_oauth_client_id_idx", "sessions", ["oauth_client_id"])


def downgrade():
    op.drop_index("sessions_oauth_client_id_idx", table_name="sessions")
    op.drop_table("oauth_consents")
    op.drop_table("oauth_authorizations")
    op.drop_table("oauth_clients")
    if _dialect() == "postgresql":
        for name in _ENUMS:
            op.execute(sa.text(f"DROP TYPE IF EXISTS {name}"))
