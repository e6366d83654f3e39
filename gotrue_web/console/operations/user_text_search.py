"""The console's free-text user search: part of a name or an email, through the substring
index of migration 0012 (models.search_indexes), and the time limit every search runs under.

Text of 3 characters or more is looked up in the index: SQLite's FTS5 trigram table, PostgreSQL's
pg_trgm GIN indexes (LIKE '%text%' on the indexed expressions), MariaDB's table of trigrams per
user. First, how many users match: on SQLite and MariaDB the index counts them (at most
DENSE_MATCHES + 1), on PostgreSQL a fixed 0.5 % sample of the table's pages estimates it. Few,
and the page reads just those users through the index; many, and the page walks the sort's
index checking each user, which fills a page soon when matches are that common. Unless a
provider, MFA or state filter leaves few users (FEW_FILTERED): then the page starts from that
filter's index and checks the text on each of its users, since walking would pass many users
per match (on PostgreSQL the filter's users become an array of ids whose primary-key bitmap is
ANDed with the text's, so only users in both are read; on SQLite a provider or MFA filter's
users' search keys meet the text's FTS5 rowids, _sqlite_keyed). Shorter text finds the emails
starting with it (an index range), from a filter's few users in the same way.

The unconfirmed, invited and anonymous states are kept beside the index on SQLite and MariaDB
(migration 0019): common text with such a state meets the state's users inside the indexes
(SQLite by search key, users_search_states; MariaDB among the state's own trigrams,
users_search_state_trigrams, user_trigrams) however many users are in it, and only the users
in both are read. On MariaDB a provider or MFA filter's rows look up their users' trigrams.

A search's statements run under a time limit (PostgreSQL statement_timeout, MariaDB
max_statement_time, SQLite a progress handler); past it, SearchTooSlow: the page asks to narrow
the search instead of keeping the live search box busy for seconds.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ...extensions import db
from ...models import Factor, FactorStatus, Identity, User
from ...models.search_indexes import MARIADB_SEARCH_TEXT, SEARCH_NAME_SQL, SEARCH_STATES
from ...services.search_index import trigram_indexes_missing
from . import user_trigrams
from .user_filters import COUNT_CAP, InvalidSearch, UserFilters, _starts_with

# Free text shorter than this (a trigram) finds only the emails starting with it.
MIN_SUBSTRING = 3
# More text matches than this and the page walks the sort's index checking each user (the
# matches are dense enough to fill a page soon); fewer, and it reads just those users.
DENSE_MATCHES = COUNT_CAP
# Common text with a provider, MFA or state filter that leaves at most this many users:
# walking the sort's index would check many users per match found, so the page starts from the
# filter's own index and checks the text on each of its users instead.
FEW_FILTERED = 20_000
# Text held by at most KEYED_TEXT users with a filter leaving at most KEYED_FILTER: the two
# sides meet in the indexes. SQLite: a provider, MFA or kept state filter's search keys and the
# text's (_sqlite_keyed); PostgreSQL: a state's index bitmap and the text's (_few_filtered).
# MariaDB (any common text): a provider or MFA filter's rows look up their users' trigrams
# (_mariadb_from_filter).
KEYED_TEXT = 60_000
KEYED_FILTER = 60_000
# The longest a search's statement may run, in ms.
SEARCH_TIME_LIMIT_MS = 1000
TOO_SLOW = ("The search took too long: narrow it (more characters, or a state, provider or "
            "date filter).")
# Added on PostgreSQL when migration 0012 could not build the substring index (no pg_trgm).
NO_INDEX = (" This database has no substring-search index yet: an administrator can build it "
            "with flask --app wsgi search-index.")


class SearchTooSlow(InvalidSearch):
    def __init__(self, *, missing_index: bool = False) -> None:
        super().__init__(TOO_SLOW + (NO_INDEX if missing_index else ""))


def _like_pattern(text: str) -> str:
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _text_matches(text: str):
    """The email or the name contains ``text`` (lower case): the expressions pg_trgm indexes.

    MariaDB reads both from users.search_text (migration 0020), which its index after created_at
    also holds, so that a walk of a creation-date range need not read users' rows; text with a
    line break, which the column's lines would join, is checked on each part instead."""
    pattern, dialect = _like_pattern(text), db.engine.dialect.name
    if dialect == "mysql" and "\n" not in text:
        return sa.literal_column(f"users.{MARIADB_SEARCH_TEXT[0]}").like(pattern, escape="/")
    return sa.or_(sa.func.lower(User.email).like(pattern, escape="/"),
                  sa.literal_column(SEARCH_NAME_SQL[dialect]).like(pattern, escape="/"))


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _sqlite_candidates(text: str, count_to: int) -> tuple[object, int]:
    """SQLite: the users whose email or name holds ``text`` (an FTS5 trigram phrase), and how
    many there are, counted up to ``count_to`` + 1."""
    phrase = _fts_phrase(text)
    found = db.session.execute(sa.text(
        "SELECT count(*) FROM (SELECT 1 FROM users_search WHERE users_search MATCH :phrase "
        "LIMIT :limit)"), {"phrase": phrase, "limit": count_to + 1}).scalar_one()
    condition = sa.text(
        "users.id IN (SELECT k.user_id FROM users_search_keys k WHERE k.id IN ("
        "SELECT rowid FROM users_search WHERE users_search MATCH :phrase))"
    ).bindparams(phrase=phrase)
    return condition, found


# _text_matches on PostgreSQL, written out for the sample: in the email, or else in the name.
_POSTGRES_EMAIL = "lower(users.email) LIKE :pattern ESCAPE '/'"
_POSTGRES_TEXT = f"{_POSTGRES_EMAIL} OR {SEARCH_NAME_SQL['postgresql']} LIKE :pattern ESCAPE '/'"


def _postgres_where(text: str, others: list, filters: UserFilters, now: datetime) -> Where:
    """PostgreSQL: pg_trgm's GIN indexes serve the LIKEs, but the planner cannot tell how many
    users hold the text and tends to walk the sort's index checking each user, which is slow
    when they are few. So estimate it from a sample of the table's pages (0.5 %, the same
    pages each time) and, when they are few, leave it only the GIN bitmap for this
    transaction (enable_indexscan off; search_time_limit restores it). When they are many
    and the other filters leave few users (_few_filtered), AND the two sides' bitmaps, for
    the page and the count alike.

    A capped count of text that many emails hold counts the emails' matches first
    (Where.sure_matches): the name's index, often lossy for the same text (pg_trgm reads
    "moreau_" as the word "moreau"), need not be rechecked once the emails alone pass the cap.
    """
    matches = _text_matches(text)
    estimate, in_emails = _postgres_estimate(text)
    if estimate is None or estimate <= dense_matches():
        db.session.execute(sa.text("SELECT set_config('enable_indexscan', 'off', true)"))
        return Where([matches, *others], others)
    # (A count as well: its ``id IN`` filters would have the text's matches read first.)
    # A state's bitmap ANDed with a text's not too common costs little more for more users.
    few = _few_filtered(filters, now, KEYED_FILTER if estimate <= KEYED_TEXT else None) \
        if others else None
    if few is not None:
        conditions, bitmaps_only = few
        _bitmaps_on_postgresql(bitmaps_only)
        return Where([*conditions, matches], others, from_filters=True)
    sure = ([sa.func.lower(User.email).like(_like_pattern(text), escape="/")]
            if in_emails > dense_matches() and not others else None)
    return Where([matches, *others], others, sure_matches=sure)


def _bitmaps_on_postgresql(bitmaps_only: bool) -> None:
    if bitmaps_only and db.engine.dialect.name == "postgresql":
        # The filters' index bitmaps (a state, a date range, an array of user ids) ANDed with
        # the text's: only the users in all of them are read.
        db.session.execute(sa.text("SELECT set_config('enable_indexscan', 'off', true)"))


def _postgres_estimate(text: str) -> tuple[float | None, float]:
    """How many users hold ``text``, and how many in their email, from the sample (None, 0:
    the sample found no page)."""
    hits, in_emails, sampled, total = db.session.execute(sa.text(
        f"SELECT count(*) FILTER (WHERE {_POSTGRES_TEXT}), "
        f"count(*) FILTER (WHERE {_POSTGRES_EMAIL}), count(*), "
        "(SELECT reltuples FROM pg_class WHERE oid = 'users'::regclass) "
        "FROM users TABLESAMPLE SYSTEM (0.5) REPEATABLE (1)"),
        {"pattern": _like_pattern(text)}).one()
    if not sampled:
        return None, 0
    scale = max(total, sampled) / sampled
    return hits * scale, in_emails * scale


@dataclass
class Where:
    conditions: list
    # The other filters' conditions (without the search).
    others: list
    # Users whose text matched, counted up to dense_matches() + 1 (None: not counted).
    matches: int | None = None
    # The conditions start from a filter's few users (_few_filtered): a page must not walk a
    # sort index (MariaDB would, checking user after user, whatever its estimates say).
    from_filters: bool = False
    # Conditions that only matching users meet, when they are likely to pass a count's cap
    # alone: the count tries them first and stops there if they do (None: no such shortcut).
    sure_matches: list | None = None


def search_conditions(filters: UserFilters, now: datetime, unordered: bool = False) -> Where:
    """The view's conditions, with free text looked up in the substring index."""
    search = filters.search
    if search is None or not search.contains:
        return Where(filters.conditions(now, unordered), [])
    others = dataclasses.replace(filters, q="", search=None).conditions(now, unordered)
    text = search.contains
    if len(text) < MIN_SUBSTRING:
        # Too short for a trigram: the emails starting with it (an index range), from the
        # other filters' users when they are few (a short prefix is in many emails).
        prefix = _starts_with(User.email, text)
        few = _few_filtered(filters, now) if others and not unordered else None
        if few is None:
            return Where([prefix, *others], others)
        _bitmaps_on_postgresql(few[1])
        return Where([*few[0], prefix], others, from_filters=True)
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return _postgres_where(text, others, filters, now)
    if dialect == "sqlite":
        keyable = bool(filters.provider or filters.mfa == "yes"
                       or filters.state in SEARCH_STATES)
        # With such a filter, counted far enough to tell whether the keys can be intersected.
        candidates, found = _sqlite_candidates(
            text, max(KEYED_TEXT, dense_matches()) if keyable else dense_matches())
        keyed = (_sqlite_keyed(text, filters)
                 if keyable and dense_matches() < found <= KEYED_TEXT else None)
        if keyed is not None:
            condition, by_state = keyed
            # Keyed by the state, its conditions on users are met already; left in, SQLite
            # would read every user in the state through the state's index to check them.
            rest = (dataclasses.replace(filters, q="", search=None, state="")
                    .conditions(now, unordered) if by_state else others)
            return Where([condition, *rest], others, found)
    else:
        lookup = user_trigrams.look_up(text, filters.state, dense_matches())
        candidates, found = lookup.users(), lookup.found
        from_filter = _mariadb_from_filter(lookup, filters) if found > dense_matches() else None
        if from_filter is not None:
            return Where([from_filter, _text_matches(text), *others], others, found,
                         from_filters=True)
    if found > dense_matches():
        # (A count has no order to walk: its ``id IN`` filters already start from their users.)
        few = _few_filtered(filters, now) if others and not unordered else None
        if few is not None:
            return Where([*few[0], _text_matches(text)], others, found, from_filters=True)
        return Where([_text_matches(text), *others], others, found)
    if dialect == "sqlite":
        # A trigram phrase is the substring itself (in either column): nothing to check.
        return Where([candidates, *others], others, found)
    return Where([candidates, _text_matches(text), *others], others, found)


def _few_filtered(filters: UserFilters, now: datetime,
                  state_limit: int | None = None) -> tuple[list, bool] | None:
    """When the other filters leave at most FEW_FILTERED users (a state filter: at most
    ``state_limit`` when given), their conditions written to be read from their own indexes,
    and whether each of them reads as a bitmap of users' rows (a condition on users' own
    columns, or on PostgreSQL an array of user ids); None when they leave more.

    Each filter is counted alone through its index, up to FEW_FILTERED + 1 (the users all of
    them leave are at most the fewest any one leaves): cheap next to the walk it avoids.
    """
    on_users = dataclasses.replace(filters, q="", search=None, provider="", mfa="")
    conditions = on_users.conditions(now)
    # A date range is left out of the choice: inside it the sort's walk (often along the same
    # date) finds common text soon, and a bitmap of the whole range costs more.
    state = dataclasses.replace(on_users, created_from=None, created_to=None,
                                signed_in_from=None, signed_in_to=None).conditions(now)
    limit = few_filtered()
    # (Counting a constant: the filter's index alone answers, without reading users' rows.)
    few = bool(state) and _at_most(
        sa.select(sa.literal_column("1")).select_from(User).where(*state), state_limit or limit)
    postgres = db.engine.dialect.name == "postgresql"
    bitmaps_only = True
    choosers = [sa.select(user_id).where(condition)
                for user_id, condition in _chosen_users(filters)]
    for number, chooser in enumerate(choosers):
        ids = _postgres_user_ids(chooser, limit) if postgres else None
        if ids is not None:
            # A literal array: the planner sees how many users it holds and ANDs the primary
            # key's bitmap of them with the text's, where a join would read every text match.
            # (Untyped: a text parameter cast to uuid[] would be parsed again for each row.)
            name = f"few_user_ids_{number}"
            conditions.append(sa.text(f"users.id = ANY(CAST(:{name} AS uuid[]))")
                              .bindparams(sa.bindparam(name, ids, type_=sa.types.NullType())))
            few = True
            continue
        bitmaps_only = False
        # OFFSET 0 keeps PostgreSQL from folding the list into a walk of the sort's index.
        conditions.append(User.id.in_(chooser.offset(0) if postgres else chooser))
        # (On PostgreSQL no array means more than the limit.)
        few = few or (not postgres and _at_most(chooser, limit))
    if filters.mfa == "no":
        conditions += dataclasses.replace(on_users, state="", created_from=None,
                                          created_to=None, signed_in_from=None,
                                          signed_in_to=None, mfa="no").conditions(now)
    return (conditions, bitmaps_only) if few else None


def _chosen_users(filters: UserFilters) -> list[tuple[sa.Column, object]]:
    """The provider and verified-MFA filters as (the user_id column of their table, the
    condition on that table)."""
    chosen = []
    if filters.provider:
        chosen.append((Identity.user_id, Identity.provider == filters.provider))
    if filters.mfa == "yes":
        chosen.append((Factor.user_id, Factor.status == FactorStatus.verified))
    return chosen


def _at_most(rows: sa.Select, limit: int) -> bool:
    return _rows_up_to(rows, limit) <= limit


def _postgres_user_ids(chooser: sa.Select, limit: int) -> str | None:
    """PostgreSQL: the user ids ``chooser`` selects as one uuid[] literal, when there are at
    most ``limit`` of them; None when more."""
    chosen = chooser.limit(limit + 1).subquery()
    found, ids = db.session.execute(sa.select(
        sa.func.count(), sa.cast(sa.func.array_agg(chosen.c.user_id), sa.Text))).one()
    return (ids or "{}") if found <= limit else None


_SEARCH_KEYS = sa.table("users_search_keys", sa.column("id"), sa.column("user_id"))
_SEARCH_STATES = sa.table("users_search_states", sa.column("state"), sa.column("search_key"))


def _sqlite_keyed(text: str, filters: UserFilters) -> tuple[object, bool] | None:
    """SQLite, text held by more than DENSE_MATCHES users but at most KEYED_TEXT: when a
    provider, verified-MFA or kept state (users_search_states) filter leaves at most
    KEYED_FILTER users, the users in both, as ``users.id IN``: the text's FTS5 rowids (search
    keys) that are among the filter's users' search keys, both read from indexes alone, so
    that only those users' rows are read; and whether the state's keys were the ones taken.
    None otherwise."""
    keys = _SEARCH_KEYS.alias("filter_keys")
    # (the filter's users to count, (their search keys, whether the state's))
    choices = [(sa.select(user_id).where(condition),
                (sa.select(keys.c.id).select_from(user_id.table.join(
                    keys, keys.c.user_id == user_id)).where(condition), False))
               for user_id, condition in _chosen_users(filters)]
    if filters.state in SEARCH_STATES:
        kept = sa.select(_SEARCH_STATES.c.search_key).where(
            _SEARCH_STATES.c.state == filters.state)
        choices.append((kept, (kept, True)))
    chosen = _fewest_users(choices)
    if chosen is None:
        return None
    filter_keys, by_state = chosen
    both = sa.select(sa.literal_column("rowid")).select_from(sa.table("users_search")).where(
        sa.text("users_search MATCH :keyed_phrase").bindparams(keyed_phrase=_fts_phrase(text)),
        # "+": FTS5 would take a plain rowid IN as a constraint and match once per key.
        sa.literal_column("+rowid").in_(filter_keys))
    both_keys = _SEARCH_KEYS.alias("both_keys")
    return User.id.in_(sa.select(both_keys.c.user_id).where(both_keys.c.id.in_(both))), by_state


def _mariadb_from_filter(lookup: user_trigrams.Lookup, filters: UserFilters):
    """MariaDB, common text: when a provider or verified-MFA filter leaves at most
    KEYED_FILTER users, those of its users having the text's rarest trigrams, the filter's
    rows read first (Lookup.users_from); None otherwise. Only these users' rows are read,
    where the filter-first path reads every user of the filter to check the text."""
    chosen = _fewest_users([(sa.select(user_id).where(condition), (user_id, condition))
                            for user_id, condition in _chosen_users(filters)])
    return None if chosen is None else lookup.users_from(*chosen)


def _fewest_users(choices: list[tuple[sa.Select, object]]) -> object | None:
    """Of (a filter's users, what to use for it), what goes with the fewest users, when they
    are at most KEYED_FILTER (each counted no further); None when every filter has more."""
    sized = [(size, number) for number, (users, _use) in enumerate(choices)
             if (size := _rows_up_to(users, KEYED_FILTER)) <= KEYED_FILTER]
    return choices[min(sized)[1]][1] if sized else None


def _rows_up_to(rows: sa.Select, limit: int) -> int:
    """How many rows ``rows`` has, counting no further than limit + 1."""
    return db.session.execute(sa.select(sa.func.count()).select_from(
        rows.limit(limit + 1).subquery())).scalar_one()


def few_filtered() -> int:
    return FEW_FILTERED


def dense_matches() -> int:
    return DENSE_MATCHES


def _time_limit_ms() -> int:
    return SEARCH_TIME_LIMIT_MS


@contextmanager
def search_time_limit(limit_ms: int | None = None):
    """Every statement inside may run ``limit_ms`` (default SEARCH_TIME_LIMIT_MS); past it,
    SearchTooSlow, with the session rolled back. 0: no limit."""
    limit_ms = _time_limit_ms() if limit_ms is None else limit_ms
    if limit_ms <= 0:
        yield
        return
    connection = db.session.connection()
    dialect = connection.dialect.name
    raw = connection.connection.driver_connection
    restore = None
    if dialect == "sqlite":
        deadline = time.monotonic() + limit_ms / 1000
        raw.set_progress_handler(lambda: time.monotonic() > deadline, 200)
    elif dialect == "postgresql":
        restore = connection.execute(sa.text(
            "SELECT current_setting('statement_timeout'), current_setting('enable_indexscan'), "
            "set_config('statement_timeout', :limit, true)"), {"limit": f"{limit_ms}ms"}).one()
    elif dialect == "mysql":
        restore = connection.exec_driver_sql("SELECT @@SESSION.max_statement_time").scalar()
        connection.exec_driver_sql(f"SET SESSION max_statement_time = {limit_ms / 1000:.3f}")
    try:
        yield
    except sa.exc.DBAPIError as error:
        if not _timed_out(dialect, error):
            raise
        db.session.rollback()
        missing = dialect == "postgresql" and trigram_indexes_missing(db.session.connection())
        raise SearchTooSlow(missing_index=missing) from None
    else:
        if dialect == "postgresql":
            # (After an error the rollback ends the SET LOCAL anyway.)
            db.session.execute(sa.text(
                "SELECT set_config('statement_timeout', :limit, true), "
                "set_config('enable_indexscan', :scan, true)"),
                {"limit": restore[0], "scan": restore[1]})
    finally:
        if dialect == "sqlite":
            raw.set_progress_handler(None, 0)
        elif dialect == "mysql":
            raw.cursor().execute(f"SET SESSION max_statement_time = {float(restore or 0):.3f}")


def _timed_out(dialect: str, error: sa.exc.DBAPIError) -> bool:
    if dialect == "sqlite":
        return "interrupted" in str(error.orig)
    if dialect == "postgresql":
        return getattr(error.orig, "sqlstate", None) == "57014"  # query_canceled
    return bool(error.orig.args) and error.orig.args[0] == 1969  # max_statement_time
