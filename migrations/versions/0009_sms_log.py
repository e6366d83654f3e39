"""The message log's text messages: sms_log, one row per SMS or WhatsApp message sent or tried.

Revision ID: 0009_sms_log
Revises: 0008_oauth_provider_tables
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0009_sms_log"
down_revision = "0008_oauth_provider_tables"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.create_table(
        "sms_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(255)),
        sa.Column("error", sa.Text()),
        sa.Column("user_id", sa.Uuid()),
        sa.PrimaryKeyConstraint("id", name="sms_log_pkey"),
    )
    op.create_index("sms_log_created_at_idx", "sms_log", ["created_at"])
    op.create_index("sms_log_recipient_idx", "sms_log", ["recipient"])


def downgrade():
    op.drop_index("sms_log_recipient_idx", table_name="sms_log")
    op.drop_index("sms_log_created_at_idx", table_name="sms_log")
    op.drop_table("sms_log")
