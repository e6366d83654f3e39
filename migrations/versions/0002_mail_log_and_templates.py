"""The mail log and operator-edited email templates.

Revision ID: 0002_mail_log_and_templates
Revises: 0001_auth_schema
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0002_mail_log_and_templates"
down_revision = "0001_auth_schema"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.create_table(
        "mail_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("user_id", sa.Uuid()),
        sa.PrimaryKeyConstraint("id", name="mail_log_pkey"),
    )
    op.create_index("mail_log_created_at_idx", "mail_log", ["created_at"])
    op.create_index("mail_log_recipient_idx", "mail_log", ["recipient"])
    op.create_table(
        "email_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(16), server_default="", nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("updated_by", sa.String(255), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="email_templates_pkey"),
        sa.UniqueConstraint("kind", "locale", name="email_templates_kind_locale_key"),
    )


def downgrade():
    op.drop_table("email_templates")
    op.drop_table("mail_log")
