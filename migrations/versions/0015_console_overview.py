"""Indexes for the console's Overview charts: each chart reads one time range of one table in
the index's order, and finds its series (method, status) in the index itself.

None of them is written by GET /user or the refresh grant: amr claims are written when a
session starts, challenges by MFA, the logs after a send.

Revision ID: 0015_console_overview
Revises: 0014_operator_roles
Create Date: 2026-12-05
"""

from alembic import op

revision = "0015_console_overview"
down_revision = "0014_operator_roles"
branch_labels = None
depends_on = None

INDEXES = (
    ("mfa_amr_claims_created_at_method_idx", "mfa_amr_claims",
     ["created_at", "authentication_method"]),
    ("mfa_challenges_created_at_idx", "mfa_challenges", ["created_at"]),
    ("mail_log_created_at_status_idx", "mail_log", ["created_at", "status"]),
    ("sms_log_created_at_status_idx", "sms_log", ["created_at", "status"]),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
