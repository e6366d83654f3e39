"""Indexes for the console's user list: one per sort (with the id, for keyset pages) and for
the selective filters (banned, pending invites).

Revision ID: 0004_user_search_indexes
Revises: 0003_operators
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004_user_search_indexes"
down_revision = "0003_operators"
branch_labels = None
depends_on = None

INDEXES = (
    ("users_created_at_id_idx", ["created_at", "id"]),
    ("users_last_sign_in_at_id_idx", ["last_sign_in_at", "id"]),
    ("users_banned_until_idx", ["banned_until"]),
    ("users_invited_at_idx", ["invited_at"]),
)
# The unique email index is partial on PostgreSQL and SQLite, so it cannot order every user;
# MariaDB's is whole and already ends with the primary key.
EMAIL_INDEX = ("users_email_id_idx", ["email", "id"])


def _indexes():
    if op.get_bind().dialect.name in ("postgresql", "sqlite"):
        return (*INDEXES, EMAIL_INDEX)
    return INDEXES


def upgrade():
    for name, columns in _indexes():
        op.create_index(name, "users", columns)


def downgrade():
    for name, _columns in reversed(_indexes()):
        op.drop_index(name, table_name="users")
