"""Passkeys: webauthn_credentials and webauthn_challenges (GoTrue's tables, spec
idp-passkeys-web3.md section 2.1). WebAuthn MFA factors use mfa_factors' columns from 0001.

Revision ID: 0018_passkeys
Revises: 0017_oauth_server
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0018_passkeys"
down_revision = "0017_oauth_server"
branch_labels = None
depends_on = None


def _dialect() -> str:
    return op.get_bind().dialect.name


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(_dialect(), sa.DateTime())


def jsonb():
    return postgresql.JSONB() if _dialect() == "postgresql" else sa.JSON()


def credential_bytes():
    # Credential ids are at most 1023 bytes; MariaDB indexes VARBINARY, not BLOB.
    return mysql.VARBINARY(1023) if _dialect() == "mysql" else sa.LargeBinary()


def indexed_text():
    return sa.String(255) if _dialect() == "mysql" else sa.Text()


def upgrade():
    op.create_table(
        "webauthn_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", credential_bytes(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("attestation_type", sa.Text(), nullable=False),
        sa.Column("aaguid", sa.Uuid()),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", jsonb(), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("friendly_name", sa.Text()),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("last_used_at", timestamptz()),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="webauthn_credentials_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="webauthn_credentials_pkey"),
        sa.UniqueConstraint("credential_id", name="webauthn_credentials_credential_id_key"),
    )
    op.create_index("webauthn_credentials_user_id_idx", "webauthn_credentials", ["user_id"])
    op.create_table(
        "webauthn_challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid()),
        sa.Column("challenge_type", indexed_text(), nullable=False),
        sa.Column("session_data", jsonb(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("expires_at", timestamptz(), nullable=False),
        sa.CheckConstraint("challenge_type IN ('signup', 'registration', 'authentication')",
                           name="webauthn_challenges_type_check"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="webauthn_challenges_user_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="webauthn_challenges_pkey"),
    )
    op.create_index("webauthn_challenges_user_id_idx", "webauthn_challenges", ["user_id"])
    op.create_index("webauthn_challenges_expires_at_idx", "webauthn_challenges", ["expires_at"])


def downgrade():
    op.drop_table("webauthn_challenges")
    op.drop_table("webauthn_credentials")
