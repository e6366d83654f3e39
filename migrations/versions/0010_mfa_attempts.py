"""MFA code defences: mfa_challenges.failed_attempts (a challenge dies after a few wrong
codes) and mfa_factors.last_totp_step (a TOTP code is accepted once).

Revision ID: 0010_mfa_attempts
Revises: 0009_sms_log
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_mfa_attempts"
down_revision = "0009_sms_log"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("mfa_challenges", sa.Column("failed_attempts", sa.Integer(), nullable=False,
                                              server_default="0"))
    op.add_column("mfa_factors", sa.Column("last_totp_step", sa.BigInteger()))


def downgrade():
    op.drop_column("mfa_factors", "last_totp_step")
    op.drop_column("mfa_challenges", "failed_attempts")
