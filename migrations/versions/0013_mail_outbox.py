"""mail_outbox: emails written in the request's transaction and sent after its commit.

Revision ID: 0013_mail_outbox
Revises: 0012_user_substring_search
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0013_mail_outbox"
down_revision = "0012_user_substring_search"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", timestamptz(), nullable=False),
        sa.Column("claimed_until", timestamptz()),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("finished_at", timestamptz()),
        sa.Column("user_id", sa.Uuid()),
        sa.PrimaryKeyConstraint("id", name="mail_outbox_pkey"),
    )
    op.create_index("mail_outbox_status_next_attempt_at_idx", "mail_outbox",
                    ["status", "next_attempt_at"])


def downgrade():
    op.drop_index("mail_outbox_status_next_attempt_at_idx", table_name="mail_outbox")
    op.drop_table("mail_outbox")
