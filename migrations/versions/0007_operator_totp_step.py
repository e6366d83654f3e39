"""Console sign-in defences: operators.totp_last_step (a TOTP code is accepted once), the
sign-in attempts the throttle counts, and the lock row it counts under.

Revision ID: 0007_operator_totp_step
Revises: 0006_hashed_secrets
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0007_operator_totp_step"
down_revision = "0006_hashed_secrets"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.add_column("operators", sa.Column("totp_last_step", sa.BigInteger()))
    op.create_table(
        "operator_sign_in_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="operator_sign_in_attempts_pkey"),
    )
    op.create_index("operator_sign_in_attempts_created_at_idx", "operator_sign_in_attempts",
                    ["created_at"])
    op.create_index("operator_sign_in_attempts_email_created_at_idx",
                    "operator_sign_in_attempts", ["email", "created_at"])
    op.create_index("operator_sign_in_attempts_ip_address_created_at_idx",
                    "operator_sign_in_attempts", ["ip_address", "created_at"])
    op.create_table(
        "console_locks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name="console_locks_pkey"),
    )


def downgrade():
    op.drop_table("console_locks")
    op.drop_index("operator_sign_in_attempts_ip_address_created_at_idx",
                  table_name="operator_sign_in_attempts")
    op.drop_index("operator_sign_in_attempts_email_created_at_idx",
                  table_name="operator_sign_in_attempts")
    op.drop_index("operator_sign_in_attempts_created_at_idx",
                  table_name="operator_sign_in_attempts")
    op.drop_table("operator_sign_in_attempts")
    op.drop_column("operators", "totp_last_step")
