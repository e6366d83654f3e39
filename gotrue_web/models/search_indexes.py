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
SORT_INDEXES = (
    sa.Index("users_created_at_id_idx", User.created_at, User.id),
    sa.Index("users_last_sign_in_at_id_idx", User.last_sign_in_at, User.id),
    sa.Index("users_email_id_idx", User.email, User.id),
)
SEARCH_INDEXES = (
    *SORT_INDEXES,
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

# --- substring search (migration 0012_user_substring_search) -------------------------------------
# A part of a name or an email is found through an index each database builds its own way:
# SQLite an FTS5 trigram table, PostgreSQL pg_trgm GIN indexes on the two lower-cased texts
# below, MariaDB (which has no n-gram parser) a table of each user's trigrams. Triggers on users
# keep the SQLite and MariaDB tables in step; they are the database's, not the models': the
# schema comparison (migrations/env.py, tests/test_migrations.py) leaves these names out.
SUBSTRING_SEARCH_TABLES = {
    "sqlite": ("users_search", "users_search_config", "users_search_content",
               "users_search_data", "users_search_docsize", "users_search_idx",
               "users_search_keys", "users_search_states"),
    "mysql": ("users_search_trigrams", "users_search_state_trigrams"),
}
# The user states kept beside the substring index by migration 0019 (SQLite users_search_states,
# MariaDB users_search_state_trigrams), so that common text meets a common state without
# reading users' rows.
SEARCH_STATES = ("unconfirmed", "invited", "anonymous")

# The searched name: raw_user_meta_data's full_name and name, one line each. The PostgreSQL
# expression is the one indexed (an index serves only the same expression).
SEARCH_NAME_SQL = {
    "postgresql": ("lower(coalesce(users.raw_user_meta_data ->> 'full_name', '') || chr(10) || "
                   "coalesce(users.raw_user_meta_data ->> 'name', ''))"),
    "mysql": ("LOWER(CONCAT_WS(CHAR(10), JSON_VALUE(users.raw_user_meta_data, '$.full_name'), "
              "JSON_VALUE(users.raw_user_meta_data, '$.name')))"),
    "sqlite": ("lower(CASE WHEN json_valid(users.raw_user_meta_data) THEN "
               "coalesce(json_extract(users.raw_user_meta_data, '$.full_name'), '') || char(10) "
               "|| coalesce(json_extract(users.raw_user_meta_data, '$.name'), '') ELSE '' END)"),
}

# MariaDB: users.search_text, a virtual column of migration 0020 holding the text the trigram
# table is built from (lower-cased email, full_name and name, one per line, the first 760
# characters), and its index after created_at: a search within a range of creation dates reads
# the text from the index instead of each user's row. The database's, not the models' (like
# the tables above): the schema comparison leaves both names out.
MARIADB_SEARCH_TEXT = ("search_text", "users_created_at_search_text_idx")


def substring_search_tables(dialect_name: str) -> frozenset[str]:
    return frozenset(SUBSTRING_SEARCH_TABLES.get(dialect_name, ()))


def _postgres_trigram_index(name: str, expression: str) -> sa.Index:
    index = sa.Index(name, sa.text(expression), postgresql_using="gin",
                     _table=User.__table__)
    return index.ddl_if(dialect="postgresql")


# The pg_trgm GIN indexes (the operator class is the migration's: pg_trgm's schema varies).
TRIGRAM_INDEXES = (
    _postgres_trigram_index("users_email_trgm_idx", "lower(email)"),
    # SEARCH_NAME_SQL["postgresql"] as PostgreSQL writes it back (the comparison reads that).
    _postgres_trigram_index(
        "users_name_trgm_idx",
        "lower((COALESCE(raw_user_meta_data ->> 'full_name'::text, ''::text) || chr(10)) || "
        "COALESCE(raw_user_meta_data ->> 'name'::text, ''::text))"),
)
