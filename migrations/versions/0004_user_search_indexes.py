"""Indexes for the console's user list: one per sort (with the id, for keyset pages), for the
selective filters (banned, pending invites, unconfirmed, provider) and, on PostgreSQL, for
prefix searches.

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
    # The unique email index is partial on PostgreSQL and SQLite, so it cannot order every
    # user; MariaDB's is whole but it does not use it for ORDER BY email, id.
    ("users_email_id_idx", ["email", "id"]),
    ("users_banned_until_idx", ["banned_until"]),
    ("users_invited_at_idx", ["invited_at"]),
    # The "unconfirmed" filter: nothing confirmed, no pending invite, not anonymous.
    ("users_confirmation_state_idx", ["confirmed_at", "invited_at", "is_anonymous"]),
)
# The provider filter reads a provider's identities rather than probing every user's.
IDENTITY_INDEX = ("identities_provider_user_id_idx", ["provider", "user_id"])
# PostgreSQL uses a plain index for LIKE 'prefix%' only under the C collation; these serve the
# email and phone prefix searches whatever the database's collation.
PATTERN_INDEXES = (
    ("users_email_pattern_idx", "email", "varchar_pattern_ops"),
    ("users_phone_pattern_idx", "phone", "text_pattern_ops"),
)


def upgrade():
    dialect = op.get_bind().dialect.name
    for name, columns in INDEXES:
        op.create_index(name, "users", columns)
    op.create_index(IDENTITY_INDEX[0], "identities", IDENTITY_INDEX[1])
    if dialect == "postgresql":
        for name, column, operator_class in PATTERN_INDEXES:
            op.create_index(name, "users", [column], postgresql_ops={column: operator_class})


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name, _column, _operator_class in reversed(PATTERN_INDEXES):
            op.drop_index(name, table_name="users")
    op.drop_index(IDENTITY_INDEX[0], table_name="identities")
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="users")
