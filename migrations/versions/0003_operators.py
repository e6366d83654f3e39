"""Console operators.

Revision ID: 0003_operators
Revises: 0002_mail_log_and_templates
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0003_operators"
down_revision = "0002_mail_log_and_templates"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.create_table(
        "operators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("totp_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("session_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("last_login_at", timestamptz()),
        sa.PrimaryKeyConstraint("id", name="operators_pkey"),
        sa.UniqueConstraint("email", name="operators_email_key"),
    )


def downgrade():
    op.drop_table("operators")
