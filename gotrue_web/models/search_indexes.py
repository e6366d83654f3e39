"""Indexes the operator console's user list walks (sorts, selective filters, prefix search).

Migration 0004_user_search_indexes creates them; defining them on the tables here keeps the
models and the migrations in step (tests/test_migrations.py compares the two).
"""

import sqlalchemy as sa

from .identity import Identity
from .user import User

# Indexes behind the sorts and the selective filters; the keyset scans walk them in order.
# (email, id) exists besides the unique email index because that index is partial on
# PostgreSQL and SQLite (non-SSO users only) and so cannot serve a list of every user; MariaDB
# does not use the primary key hidden at the end of its unique index for ORDER BY email, id
# (it sorts all users instead).
SEARCH_INDEXES = (
    sa.Index("users_created_at_id_idx", User.created_at, User.id),
    sa.Index("users_last_sign_in_at_id_idx", User.last_sign_in_at, User.id),
    sa.Index("users_email_id_idx", User.email, User.id),
    sa.Index("users_banned_until_idx", User.banned_until),
    sa.Index("users_invited_at_idx", User.invited_at),
    # confirmed_at is NULL for users who confirmed nothing; with the other two columns the
    # whole "unconfirmed" condition is one index range.
    sa.Index("users_confirmation_state_idx", User.confirmed_at_column, User.invited_at,
             User.is_anonymous),
    # The provider filter: a rare provider's users are found from its identities.
    sa.Index("identities_provider_user_id_idx", Identity.provider, Identity.user_id),
    # PostgreSQL turns LIKE 'prefix%' into an index range only with the C collation or a
    # pattern_ops index; databases are usually created with another (C.UTF-8, en_US.UTF-8).
    sa.Index("users_email_pattern_idx", User.email,
             postgresql_ops={"email": "varchar_pattern_ops"}).ddl_if(dialect="postgresql"),
    sa.Index("users_phone_pattern_idx", User.phone,
             postgresql_ops={"phone": "text_pattern_ops"}).ddl_if(dialect="postgresql"),
)
