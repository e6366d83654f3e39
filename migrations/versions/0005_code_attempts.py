"""one_time_tokens.failed_attempts: wrong codes typed against a token, so that a code dies
after a few wrong tries instead of living out its 24 hours.

Revision ID: 0005_code_attempts
Revises: 0004_user_search_indexes
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_code_attempts"
down_revision = "0004_user_search_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("one_time_tokens", sa.Column("failed_attempts", sa.Integer(), nullable=False,
                                               server_default="0"))


def downgrade():
    op.drop_column("one_time_tokens", "failed_attempts")
