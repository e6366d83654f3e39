"""refresh_tokens without the instance_id indexes that no statement reads.

Every refresh and sign-in inserts a token row, and each index on the table is one more B-tree
to write. `refresh_tokens_instance_id_idx` holds one key (every row is in the nil instance) and
`refresh_tokens_instance_id_user_id_idx` orders the tokens by user: nothing here looks tokens
up by instance or by user (sessions are revoked by session id, and deleting a user or a
session cascades through session_id). At a million sessions the user index puts each new token
on a random leaf page: on SQLite a revoke-and-insert with its commit cost about 300 us of CPU
with the two indexes and 240 without. The token, parent, (session_id, revoked) and updated_at
indexes stay. A downgrade builds the two again.

Revision ID: 0022_refresh_token_write_indexes
Revises: 0021_mariadb_exact_provider_ids
Create Date: 2026-12-07
"""

from alembic import op

revision = "0022_refresh_token_write_indexes"
down_revision = "0021_mariadb_exact_provider_ids"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("refresh_tokens_instance_id_user_id_idx", table_name="refresh_tokens")
    op.drop_index("refresh_tokens_instance_id_idx", table_name="refresh_tokens")


def downgrade():
    op.create_index("refresh_tokens_instance_id_idx", "refresh_tokens", ["instance_id"])
    op.create_index("refresh_tokens_instance_id_user_id_idx", "refresh_tokens",
                    ["instance_id", "user_id"])
