"""The "unconfirmed" filter's index carries the user's id, so that the console's substring
search can intersect that filter's users with the text's matches without reading users' rows
(SQLite: user_text_search intersects search keys; the other databases simply get a covering
index).

Revision ID: 0019_state_index_ids
Revises: 0018_passkeys
Create Date: 2026-12-05
"""

from alembic import op

revision = "0019_state_index_ids"
down_revision = "0018_passkeys"
branch_labels = None
depends_on = None

NAME = "users_confirmation_state_idx"
BEFORE = ["confirmed_at", "invited_at", "is_anonymous"]


def upgrade():
    op.drop_index(NAME, table_name="users")
    op.create_index(NAME, "users", [*BEFORE, "id"])


def downgrade():
    op.drop_index(NAME, table_name="users")
    op.create_index(NAME, "users", BEFORE)
