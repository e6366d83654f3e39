"""The substring search learns the users' states (SQLite users_search_states, MariaDB
users_search_state_trigrams).

Free text that many users hold (a last name) with a state filter that many users are in
(unconfirmed, say) was found by walking the sort's index, checking the state and the text on
each user: past 100 ms at a million users. With each user's states kept beside the substring
index, the two sets of users meet inside the indexes and only the users in both are read.

The states kept: unconfirmed (no email or phone confirmed, not invited,
not anonymous), invited (an invitation whose email is not confirmed yet) and anonymous, the
console's definitions (console/operations/user_filters.py). Confirmed is most users (the walk
finds them soon) and banned depends on the time of the search: neither is kept.
SQLite: rows keyed by the user's search key (users_search_keys.id, the FTS5 rowid), so that a
state's keys meet the text's FTS5 rowids without reading users; triggers on users_search_keys
add and remove them with the key, a trigger on users follows the state's columns.
MariaDB: the trigrams of users_search_trigrams once more for the users in a kept state,
(state, trigram, user id), so that common text within a state is a short range of the index
(joining a state's users to a trigram's costs a lookup per user, 60 ms for 50,000); triggers
on users follow the state's columns and the searched text.
PostgreSQL needs none: its bitmaps of the state index and of pg_trgm are ANDed as they are.

Revision ID: 0019_search_states
Revises: 0018_passkeys
Create Date: 2026-12-06
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0019_search_states"
down_revision = "0018_passkeys"
branch_labels = None
depends_on = None

# Each state kept, and when a users row ({row}) is in it.
STATES = (
    ("unconfirmed", "{row}.email_confirmed_at IS NULL AND {row}.phone_confirmed_at IS NULL "
                    "AND {row}.invited_at IS NULL AND {row}.is_anonymous = 0"),
    ("invited", "{row}.invited_at IS NOT NULL AND {row}.email_confirmed_at IS NULL"),
    ("anonymous", "{row}.is_anonymous = 1"),
)
STATE_COLUMNS = ("email_confirmed_at", "phone_confirmed_at", "invited_at", "is_anonymous")


def _states_of(row: str, more: str = "", source: str = "", where: str = "") -> str:
    """The states ``row`` is in as rows (state, ``more`` columns), from ``source`` (a FROM
    clause) where ``where`` (ending in AND) holds."""
    return " UNION ALL ".join(
        f"SELECT '{name}' AS state{more}{source} WHERE {where}{condition.format(row=row)}"
        for name, condition in STATES)


# --- SQLite --------------------------------------------------------------------------------------

SQLITE_KEY_OF = "(SELECT id FROM users_search_keys WHERE user_id = new.id)"
SQLITE_UP = (
    "CREATE TABLE users_search_states (state VARCHAR(16) NOT NULL, "
    "search_key INTEGER NOT NULL, PRIMARY KEY (state, search_key)) WITHOUT ROWID",
    "INSERT INTO users_search_states (state, search_key) "
    + _states_of("u", ", k.id", " FROM users u JOIN users_search_keys k ON k.user_id = u.id"),
    # A user's key is written by users_search_insert (migration 0012) after the user's row:
    # its states follow the key, whatever order the two triggers run in.
    "CREATE TRIGGER users_search_states_insert AFTER INSERT ON users_search_keys BEGIN "
    "INSERT INTO users_search_states (state, search_key) "
    + _states_of("u", ", new.id", " FROM users u", "u.id = new.user_id AND ") + "; END",
    "CREATE TRIGGER users_search_states_delete AFTER DELETE ON users_search_keys BEGIN "
    "DELETE FROM users_search_states WHERE search_key = old.id; END",
    f"CREATE TRIGGER users_search_states_update AFTER UPDATE OF {', '.join(STATE_COLUMNS)} "
    "ON users BEGIN "
    f"DELETE FROM users_search_states WHERE search_key = {SQLITE_KEY_OF} AND state NOT IN ("
    + _states_of("new") + "); "
    "INSERT OR IGNORE INTO users_search_states (state, search_key) "
    f"SELECT s.state, {SQLITE_KEY_OF} FROM (" + _states_of("new") + ") s; END",
)

# --- MariaDB -------------------------------------------------------------------------------------


def _substring_migration():
    """Migration 0012's module, for its trigram SQL (its file name is not an importable name)."""
    path = Path(__file__).with_name("0012_user_substring_search.py")
    spec = importlib.util.spec_from_file_location("migration_0012_user_substring_search", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0012 = _substring_migration()
# NEW's (state, trigram) pairs: each of its trigrams (migration 0012's) once per state it is in.
MARIADB_PAIRS = ("SELECT s.state, g.trigram FROM (" + _0012.MARIADB_GRAMS.format(
    row="NEW", source="") + ") g, (" + _states_of("NEW", source=" FROM DUAL") + ") s")
MARIADB_CHANGED = " OR ".join(
    [f"NOT (OLD.{column} <=> NEW.{column})" for column in STATE_COLUMNS]
    + [f"NOT ({_0012.MARIADB_TEXT.format(row='OLD')} <=> {_0012.MARIADB_TEXT.format(row='NEW')})"])
MARIADB_TRIGGERS = (
    "CREATE TRIGGER users_search_states_insert AFTER INSERT ON users FOR EACH ROW "
    "INSERT INTO users_search_state_trigrams (state, trigram, user_id) "
    f"SELECT n.state, n.trigram, NEW.id FROM ({MARIADB_PAIRS}) n",
    # Only the rows that change: a pair gone is deleted, a new one inserted (deleting and
    # inserting the same rows again would meet their delete-marked copies' locks, which
    # deadlock concurrent writers on InnoDB; see migration 0012).
    "CREATE TRIGGER users_search_states_update AFTER UPDATE ON users FOR EACH ROW BEGIN "
    f"IF {MARIADB_CHANGED} THEN "
    "DELETE FROM users_search_state_trigrams WHERE user_id = NEW.id AND (state, trigram) "
    f"NOT IN (SELECT n.state, n.trigram FROM ({MARIADB_PAIRS}) n); "
    "INSERT INTO users_search_state_trigrams (state, trigram, user_id) "
    f"SELECT n.state, n.trigram, NEW.id FROM ({MARIADB_PAIRS}) n WHERE NOT EXISTS ("
    "SELECT 1 FROM users_search_state_trigrams x WHERE x.user_id = NEW.id "
    "AND x.state = n.state AND x.trigram = n.trigram); END IF; END",
)


def _mariadb_up(bind) -> None:
    op.create_table(
        "users_search_state_trigrams",
        sa.Column("state", sa.dialects.mysql.VARCHAR(16, charset="ascii",
                                                     collation="ascii_bin"), nullable=False),
        sa.Column("trigram", sa.dialects.mysql.VARCHAR(3, charset="utf8mb4",
                                                       collation="utf8mb4_bin"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("state", "trigram", "user_id"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="users_search_state_trigrams_user_id_fkey"),
        sa.Index("users_search_state_trigrams_user_id_idx", "user_id"),
        mysql_engine="InnoDB",
    )
    for name, condition in STATES:
        bind.execute(sa.text(
            "INSERT INTO users_search_state_trigrams (state, trigram, user_id) "
            f"SELECT '{name}', g.trigram, g.id FROM ("
            + _0012.MARIADB_GRAMS.format(row="u", source=" FROM users u WHERE "
                                         + condition.format(row="u")) + ") g"))
    _execute(bind, MARIADB_TRIGGERS)


# Both databases' (the delete trigger is SQLite's: MariaDB's rows go with their user).
DOWN = (
    "DROP TRIGGER IF EXISTS users_search_states_update",
    "DROP TRIGGER IF EXISTS users_search_states_delete",
    "DROP TRIGGER IF EXISTS users_search_states_insert",
    "DROP TABLE IF EXISTS users_search_states",
    "DROP TABLE IF EXISTS users_search_state_trigrams",
)


def _execute(bind, statements) -> None:
    for statement in statements:
        bind.execute(sa.text(statement))


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _execute(bind, SQLITE_UP)
    elif bind.dialect.name == "mysql":
        _mariadb_up(bind)


def downgrade():
    if op.get_bind().dialect.name in ("sqlite", "mysql"):
        _execute(op.get_bind(), DOWN)
