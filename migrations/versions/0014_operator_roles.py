"""Operator roles and disabled operators; settings changed from the console at run time.

Operators that existed before roles become owners (they could do everything).

Revision ID: 0014_operator_roles
Revises: 0013_mail_outbox
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0014_operator_roles"
down_revision = "0013_mail_outbox"
branch_labels = None
depends_on = None


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(op.get_bind().dialect.name, sa.DateTime())


def upgrade():
    op.add_column("operators", sa.Column("role", sa.String(16), nullable=False,
                                         server_default="owner"))
    op.add_column("operators", sa.Column("disabled_at", timestamptz()))
    op.create_table(
        "runtime_settings",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("name", name="runtime_settings_pkey"),
    )


def downgrade():
    op.drop_table("runtime_settings")
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("role")
