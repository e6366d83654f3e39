"""hook_deliveries: the console's log of auth hook and webhook calls.

Revision ID: 0011_hook_deliveries
Revises: 0010_mfa_attempts
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0011_hook_deliveries"
down_revision = "0010_mfa_attempts"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("hook", sa.String(40), nullable=False),
        sa.Column("uri", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("event_id", sa.String(64)),
        sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="hook_deliveries_pkey"),
    )
    op.create_index("hook_deliveries_created_at_idx", "hook_deliveries", ["created_at"])
    op.create_index("hook_deliveries_hook_idx", "hook_deliveries", ["hook"])


def downgrade():
    op.drop_index("hook_deliveries_hook_idx", table_name="hook_deliveries")
    op.drop_index("hook_deliveries_created_at_idx", table_name="hook_deliveries")
    op.drop_table("hook_deliveries")
