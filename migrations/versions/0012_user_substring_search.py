"""The console's substring search (part of a name or an email) gets an index of its own.

SQLite: an FTS5 table with the trigram tokenizer over the email and the name, its rows tied to
users through users_search_keys (an INTEGER PRIMARY KEY that VACUUM keeps, unlike the rowid of
users), kept in step by triggers on users.
PostgreSQL: pg_trgm GIN indexes on lower(email) and on the lower-cased name; a role that may
not create the extension gets no indexes (logged) and the search scans as before, until the
``search-index`` command (services/search_index.py) builds them.
MariaDB has no n-gram full-text parser (MySQL's ngram is not in MariaDB): users_search_trigrams
holds each user's distinct trigrams, written by triggers on users; rows go with their user
(ON DELETE CASCADE).

The name is raw_user_meta_data's full_name and name (what the console searched before), joined
by a newline so that no searched text spans the two.

Revision ID: 0012_user_substring_search
Revises: 0011_hook_deliveries
Create Date: 2026-12-04
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0012_user_substring_search"
down_revision = "0011_hook_deliveries"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# --- SQLite --------------------------------------------------------------------------------------

SQLITE_NAME = ("CASE WHEN json_valid({row}.raw_user_meta_data) THEN "
               "coalesce(json_extract({row}.raw_user_meta_data, '$.full_name'), '') || char(10) "
               "|| coalesce(json_extract({row}.raw_user_meta_data, '$.name'), '') ELSE '' END")
SQLITE_KEY_OF = "(SELECT id FROM users_search_keys WHERE user_id = {row}.id)"
SQLITE_UP = (
    "CREATE TABLE users_search_keys (id INTEGER PRIMARY KEY, "
    "user_id CHAR(32) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE users_search USING fts5(email, name, tokenize='trigram')",
    "INSERT INTO users_search_keys (user_id) SELECT id FROM users",
    "INSERT INTO users_search (rowid, email, name) SELECT k.id, coalesce(u.email, ''), "
    f"{SQLITE_NAME.format(row='u')} FROM users u JOIN users_search_keys k ON k.user_id = u.id",
    "CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN "
    "INSERT INTO users_search_keys (user_id) VALUES (new.id); "
    "INSERT INTO users_search (rowid, email, name) VALUES "
    f"({SQLITE_KEY_OF.format(row='new')}, coalesce(new.email, ''), "
    f"{SQLITE_NAME.format(row='new')}); END",
    "CREATE TRIGGER users_search_update AFTER UPDATE OF email, raw_user_meta_data ON users "
    "WHEN old.email IS NOT new.email "
    "OR old.raw_user_meta_data IS NOT new.raw_user_meta_data BEGIN "
    f"UPDATE users_search SET email = coalesce(new.email, ''), "
    f"name = {SQLITE_NAME.format(row='new')} WHERE rowid = {SQLITE_KEY_OF.format(row='new')}; "
    "END",
    "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN "
    f"DELETE FROM users_search WHERE rowid = {SQLITE_KEY_OF.format(row='old')}; "
    "DELETE FROM users_search_keys WHERE user_id = old.id; END",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS users_search_delete",
    "DROP TRIGGER IF EXISTS users_search_update",
    "DROP TRIGGER IF EXISTS users_search_insert",
    "DROP TABLE IF EXISTS users_search",
    "DROP TABLE IF EXISTS users_search_keys",
)

# --- PostgreSQL ----------------------------------------------------------------------------------

POSTGRES_NAME = ("lower(coalesce(raw_user_meta_data ->> 'full_name', '') || chr(10) || "
                 "coalesce(raw_user_meta_data ->> 'name', ''))")
POSTGRES_INDEXES = (
    ("users_email_trgm_idx", "lower(email)"),
    ("users_name_trgm_idx", f"({POSTGRES_NAME})"),
)


def _pg_trgm_schema(bind) -> str | None:
    return bind.execute(sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'")).scalar()


def _postgres_up(bind) -> None:
    schema = _pg_trgm_schema(bind)
    if schema is None:
        # In public (where extensions usually live), not in the auth namespace: dropping that
        # schema must not take the extension, and with it other schemas' indexes, along.
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        except sa.exc.DBAPIError as error:
            # Two upgrades at once (another schema's, on a database without the extension):
            # the one that lost waited for the other to commit and then failed on the
            # duplicate; the extension is there now.
            if _pg_trgm_schema(bind) is None:
                log.warning("pg_trgm could not be created (%s); the console's substring search "
                            "will scan users without an index until `flask --app wsgi "
                            "search-index` builds it", str(error.orig).splitlines()[0])
                return
        schema = _pg_trgm_schema(bind)
    for name, expression in POSTGRES_INDEXES:
        bind.execute(sa.text(f'CREATE INDEX {name} ON users USING gin ({expression} '
                             f'"{schema}".gin_trgm_ops)'))


# --- MariaDB -------------------------------------------------------------------------------------

# The searched text: the lower-cased email and names (the first 1,000 characters).
MARIADB_TEXT = ("LEFT(LOWER(CONCAT_WS(CHAR(10), {row}.email, "
                "JSON_VALUE({row}.raw_user_meta_data, '$.full_name'), "
                "JSON_VALUE({row}.raw_user_meta_data, '$.name'))), 1000)")
# Each distinct trigram of that text, as rows (trigram, id).
MARIADB_GRAMS = (
    "SELECT DISTINCT SUBSTRING(t.s, seq, 3) COLLATE utf8mb4_bin AS trigram, t.id FROM ("
    "SELECT {row}.id AS id, " + MARIADB_TEXT + " AS s{source}) t "
    "JOIN seq_1_to_1000 ON seq <= CHAR_LENGTH(t.s) - 2 "
    "WHERE LOCATE(CHAR(10), SUBSTRING(t.s, seq, 3)) = 0"
)
MARIADB_FILL = "INSERT IGNORE INTO users_search_trigrams (trigram, user_id) " + MARIADB_GRAMS
# An update touches the trigrams only when the searched text changed (a sign-in or a confirmation
# does not), and then only those that differ: deleting a user's rows and inserting them again
# would meet the delete-marked duplicates, whose shared next-key locks deadlock concurrent
# sign-ups on InnoDB.
MARIADB_TRIGGERS = (
    "CREATE TRIGGER users_search_insert AFTER INSERT ON users FOR EACH ROW "
    + MARIADB_FILL.format(row="NEW", source=""),
    "CREATE TRIGGER users_search_update AFTER UPDATE ON users FOR EACH ROW BEGIN "
    "IF NOT (" + MARIADB_TEXT.format(row="OLD") + " <=> " + MARIADB_TEXT.format(row="NEW")
    + ") THEN "
    "DELETE FROM users_search_trigrams WHERE user_id = NEW.id AND trigram NOT IN ("
    "SELECT n.trigram FROM (" + MARIADB_GRAMS.format(row="NEW", source="") + ") n); "
    "INSERT INTO users_search_trigrams (trigram, user_id) SELECT n.trigram, n.id FROM ("
    + MARIADB_GRAMS.format(row="NEW", source="") + ") n WHERE NOT EXISTS (SELECT 1 FROM "
    "users_search_trigrams x WHERE x.user_id = n.id AND x.trigram = n.trigram); END IF; END",
)


def _mariadb_up(bind) -> None:
    op.create_table(
        "users_search_trigrams",
        sa.Column("trigram", sa.dialects.mysql.VARCHAR(3, charset="utf8mb4",
                                                       collation="utf8mb4_bin"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("trigram", "user_id"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="users_search_trigrams_user_id_fkey"),
        sa.Index("users_search_trigrams_user_id_idx", "user_id"),
        mysql_engine="InnoDB",
    )
    bind.execute(sa.text(MARIADB_FILL.format(row="u", source=" FROM users u")))
    for statement in MARIADB_TRIGGERS:
        bind.execute(sa.text(statement))


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_UP:
            bind.execute(sa.text(statement))
    elif dialect == "postgresql":
        _postgres_up(bind)
    elif dialect == "mysql":
        _mariadb_up(bind)


def downgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_DOWN:
            bind.execute(sa.text(statement))
    elif dialect == "postgresql":
        # The extension stays: it is the database's, and other schemas may use it.
        for name, _expression in reversed(POSTGRES_INDEXES):
            bind.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    elif dialect == "mysql":
        bind.execute(sa.text("DROP TRIGGER IF EXISTS users_search_update"))
        bind.execute(sa.text("DROP TRIGGER IF EXISTS users_search_insert"))
        op.drop_table("users_search_trigrams")
