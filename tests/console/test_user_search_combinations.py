"""Free text common enough to walk the sort's index, with other filters that leave few users:
the search starts from those filters' users (user_text_search._few_filtered). Its pages and
counts must be exactly what the plain scan (LIKE on every user, user_filters) finds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import user_search, user_text_search
from gotrue_web.extensions import db
from gotrue_web.models import User, search_indexes

from .. import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

FIRST = ("Chloé", "Grace", "Ada", "Linus")
LAST = ("Moreau", "Hopper", "Lovelace", "Torvalds")


@pytest.fixture(autouse=True)
def fixed_clock(app):
    factories.freeze_clock(app, NOW)


@pytest.fixture
def crowd(app):
    """Users with every mix of name, provider, state and MFA the filters tell apart."""
    made = []
    for n in range(40):
        first, last = FIRST[n % 4], LAST[n // 4 % 4]
        providers = ("email", "github") if n % 3 == 0 else ("email",)
        made.append(factories.make_user(
            app, f"{first.lower()}.{last.lower()}{n}@example.com", name=f"{first} {last}",
            providers=providers, factors=("verified",) if n % 5 == 0 else (),
            confirmed=n % 7 != 0, invited=n % 11 == 0, anonymous=n % 13 == 1,
            created_at=NOW - (n + 1) * DAY))
    return made


@pytest.fixture(params=["combined", "plain"])
def path(request, monkeypatch, test_database):
    """"combined": the text counts as common and the filters as selective, so every search
    below takes the path that starts from the filters; "plain": the scan to compare with.
    Without the search time limit: these tests are about what is found, and a stall of the
    machine past the limit would give an empty page (the limit has tests of its own)."""
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    if request.param == "combined":
        monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)
        monkeypatch.setattr(user_text_search, "FEW_FILTERED", 1_000_000)
        if test_database.backend == "postgresql":
            monkeypatch.setattr(user_text_search, "_postgres_estimate", lambda _text: (1e9, 0))
    return request.param


def _plain_scan(filters, now) -> list:
    """The users the filters match, by LIKE on every user (no substring index)."""
    sort = filters.sort_spec
    order = [sort.column.desc() if sort.descending else sort.column.asc(),
             User.id.desc() if sort.descending else User.id.asc()]
    return db.session.execute(sa.select(User.id).where(*filters.conditions(now))
                              .order_by(*order)).scalars().all()


@pytest.mark.parametrize("args", [
    {"q": "hloé", "provider": "github"},
    {"q": "orea", "state": "unconfirmed"},
    {"q": "OPPER", "state": "confirmed", "provider": "github"},
    {"q": "ace", "mfa": "yes"},
    {"q": "xample", "mfa": "no", "provider": "github"},
    {"q": "torv", "state": "invited"},
    {"q": "example.com", "state": "confirmed", "created_from": "2026-02-01",
     "created_to": "2026-02-20"},
    {"q": "ada", "provider": "github", "sort": "email_asc"},
    {"q": "nobody", "provider": "github"},
])
def test_filtered_first_finds_what_the_plain_scan_finds(app, crowd, path, args):
    with app.app_context():
        filters = user_search.UserFilters.from_args(args)
        if path == "combined":
            assert user_text_search._few_filtered(filters, NOW) is not None
        expected = _plain_scan(filters, NOW)
        page = user_search.find_page(filters, user_search.PageRequest(per_page=200), NOW)
        assert page.notice is None
        assert [row.user.id for row in page.rows] == expected
        assert user_search.count(filters, NOW, cap=None) == user_search.Total(len(expected))
        # Keyset pages of 2 give the same users in the same order.
        seen, request = [], user_search.PageRequest(per_page=2)
        while True:
            page = user_search.find_page(filters, request, NOW)
            seen += [row.user.id for row in page.rows]
            if page.next_cursor is None:
                break
            request = user_search.PageRequest(after=page.next_cursor, per_page=2)
        assert seen == expected
        db.session.remove()


def test_filters_leaving_many_users_keep_the_walk(app, crowd, monkeypatch):
    monkeypatch.setattr(user_text_search, "FEW_FILTERED", 3)
    with app.app_context():
        # A date range alone never takes the path, however few users it leaves.
        assert user_text_search._few_filtered(user_search.UserFilters.from_args(
            {"q": "ace", "created_from": "2026-03-09"}), NOW) is None
        # 14 github users, 4 invited: github alone is too many; with invited, the fewest.
        assert user_text_search._few_filtered(
            user_search.UserFilters.from_args({"q": "ace", "provider": "github"}), NOW) is None
        assert user_text_search._few_filtered(user_search.UserFilters.from_args(
            {"q": "ace", "provider": "github", "state": "invited"}), NOW) is None
        monkeypatch.setattr(user_text_search, "FEW_FILTERED", 5)
        assert user_text_search._few_filtered(user_search.UserFilters.from_args(
            {"q": "ace", "provider": "github", "state": "invited"}), NOW) is not None
        db.session.remove()


def test_a_providers_few_users_are_an_id_array_on_postgresql(app, crowd, monkeypatch,
                                                            test_database):
    """PostgreSQL gets the provider's users as a literal array of ids (its primary-key bitmap is
    ANDed with the text's); the other databases keep ``id IN`` the provider's identities. A
    provider with more users than FEW_FILTERED stays a subquery everywhere."""
    postgres = test_database.backend == "postgresql"
    with app.app_context():
        filters = user_search.UserFilters.from_args({"q": "ace", "provider": "github"})
        conditions, bitmaps_only = user_text_search._few_filtered(filters, NOW)
        assert bitmaps_only is postgres
        assert ("ANY(CAST(" in str(conditions[-1])) is postgres
        monkeypatch.setattr(user_text_search, "FEW_FILTERED", 5)
        filters = user_search.UserFilters.from_args(
            {"q": "ace", "provider": "github", "state": "invited"})
        conditions, bitmaps_only = user_text_search._few_filtered(filters, NOW)
        assert bitmaps_only is False
        assert "ANY(CAST(" not in " ".join(str(condition) for condition in conditions)
        db.session.remove()


def _sql(conditions) -> str:
    return " ".join(str(condition.compile(dialect=db.engine.dialect))
                    for condition in conditions)


@pytest.mark.parametrize("args, keyed, from_filter", [
    ({"q": "hloé", "provider": "github"}, True, True),
    ({"q": "ace", "mfa": "yes", "sort": "email_asc"}, True, True),
    ({"q": "hopper", "provider": "github", "state": "confirmed"}, True, True),
    ({"q": "ace", "provider": "github", "state": "invited"}, True, True),
    ({"q": "orea", "state": "unconfirmed"}, True, False),
    ({"q": "ace", "state": "invited"}, True, False),
    ({"q": "xample", "state": "anonymous", "sort": "email_asc"}, True, False),
    ({"q": "hopper", "state": "confirmed"}, False, False),
    ({"q": "example.com", "created_from": "2026-02-01"}, False, False),
])
def test_a_filters_few_users_meet_the_texts_index(app, crowd, monkeypatch, test_database,
                                                   args, keyed, from_filter):
    """Text held by many users, with a filter leaving few: on SQLite a provider,
    verified-MFA or kept state (unconfirmed, invited, anonymous) filter is intersected with the
    text's matches by search key (FTS5 rowids); on MariaDB a provider or verified-MFA filter's
    rows look up their users' trigrams (STRAIGHT_JOIN, the filter's rows first). Both find
    what the plain scan finds; a filter with more users than KEYED_FILTER, or a confirmed or
    date filter alone, keeps the other paths."""
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)
    backend = test_database.backend
    with app.app_context():
        filters = user_search.UserFilters.from_args(args)
        conditions = _sql(user_text_search.search_conditions(filters, NOW).conditions)
        assert ("+rowid IN" in conditions) is (keyed and backend == "sqlite")
        assert ("STRAIGHT_JOIN" in conditions) is (from_filter and backend == "mysql")
        expected = _plain_scan(filters, NOW)
        assert expected, "the crowd has users for every case"
        page = user_search.find_page(filters, user_search.PageRequest(per_page=200), NOW)
        assert [row.user.id for row in page.rows] == expected
        assert user_search.count(filters, NOW) == user_search.Total(len(expected))
        monkeypatch.setattr(user_text_search, "KEYED_FILTER", 1)
        conditions = _sql(user_text_search.search_conditions(filters, NOW).conditions)
        assert "+rowid IN" not in conditions and "STRAIGHT_JOIN" not in conditions
        db.session.remove()


@pytest.mark.parametrize("args", [{"q": "hloé", "provider": "github"},
                                  {"q": "ch", "provider": "github"},
                                  {"q": "ch", "state": "invited", "sort": "email_asc"}])
def test_a_page_from_a_filters_few_users_keeps_off_the_sort_indexes_on_mariadb(
        app, crowd, monkeypatch, test_database, args):
    """Common text (or one or two characters, an email prefix) with a filter leaving few users:
    the page starts from that filter's users, and on MariaDB its statement ignores the sort
    indexes, which MariaDB would otherwise walk user after user."""
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)
    monkeypatch.setattr(user_text_search, "KEYED_FILTER", 0)  # SQLite: not the keyed path
    monkeypatch.setattr(user_text_search, "_postgres_estimate", lambda _text: (1e9, 0))
    statements = []

    def record(_connection, _cursor, statement, *_rest):
        statements.append(statement)

    with app.app_context():
        filters = user_search.UserFilters.from_args(args)
        assert user_text_search.search_conditions(filters, NOW).from_filters
        expected = _plain_scan(filters, NOW)
        assert expected, "the crowd has users for every case"
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            page = user_search.find_page(filters, user_search.PageRequest(per_page=200), NOW)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert [row.user.id for row in page.rows] == expected
        hinted = [sql for sql in statements if "IGNORE INDEX (users_created_at_id_idx" in sql]
        assert bool(hinted) is (test_database.backend == "mysql")
        db.session.remove()


def _kept_states(backend: str) -> set[tuple[str, object]]:
    """The kept states as (state, user id): SQLite's users_search_states, MariaDB's
    users_search_state_trigrams (every user of the crowd has trigrams: an email)."""
    statement = {
        "sqlite": "SELECT s.state, k.user_id FROM users_search_states s "
                  "JOIN users_search_keys k ON k.id = s.search_key",
        "mysql": "SELECT DISTINCT state, user_id FROM users_search_state_trigrams",
    }[backend]
    rows = db.session.execute(sa.text(statement).columns(state=sa.String, user_id=sa.Uuid))
    return {(state, user_id) for state, user_id in rows}


def _states_by_filters() -> set[tuple[str, object]]:
    """(state, user id) for every user each kept state's filter finds (user_filters)."""
    return {(state, user_id) for state in search_indexes.SEARCH_STATES
            for user_id in db.session.execute(sa.select(User.id).where(
                *user_search.UserFilters(state=state).conditions(NOW))).scalars()}


def test_kept_states_follow_every_write_to_a_user(app, crowd, test_database):
    """The kept states (SQLite, MariaDB) hold exactly the users each kept state's filter finds,
    after inserts, confirmations, invitations, an anonymous user's sign-up and deletes; other
    writes leave them as they are. PostgreSQL keeps no such table (its bitmaps meet as they
    are)."""
    backend = test_database.backend
    with app.app_context():
        if backend == "postgresql":
            assert not {"users_search_states", "users_search_state_trigrams"} & set(
                sa.inspect(db.engine).get_table_names())
            return
        expected = _states_by_filters()
        assert {state for state, _id in expected} == set(search_indexes.SEARCH_STATES)
        assert _kept_states(backend) == expected
        unconfirmed = next(user_id for state, user_id in expected if state == "unconfirmed")
        invited = next(user_id for state, user_id in expected if state == "invited")
        anonymous = next(user_id for state, user_id in expected if state == "anonymous")
        confirmed = crowd[1 + 2]  # n = 3: confirmed, not invited, not anonymous
        db.session.get(User, unconfirmed).email_confirmed_at = NOW
        db.session.get(User, invited).email_confirmed_at = NOW
        db.session.get(User, anonymous).is_anonymous = False
        db.session.get(User, confirmed).invited_at = NOW
        db.session.get(User, confirmed).email_confirmed_at = None
        db.session.commit()
        after = _states_by_filters()
        assert after != expected
        assert ("unconfirmed", anonymous) in after and ("invited", confirmed) in after
        assert _kept_states(backend) == after
        db.session.get(User, crowd[0]).last_sign_in_at = NOW
        db.session.delete(db.session.get(User, invited))
        db.session.delete(db.session.get(User, anonymous))
        db.session.commit()
        assert _kept_states(backend) == _states_by_filters()
        assert not {user_id for _state, user_id in _kept_states(backend)} & {invited, anonymous}
        newcomer = factories.make_user(app, "newcomer@example.com", confirmed=False)
        assert ("unconfirmed", newcomer) in _kept_states(backend)
        assert _kept_states(backend) == _states_by_filters()
        if backend == "mysql":
            # Each of the user's trigrams once per state, following a change of its text.
            assert _state_trigrams(newcomer) == _trigrams_of("newcomer@example.com")
            db.session.get(User, newcomer).email = "late.comer@example.org"
            db.session.commit()
            assert _state_trigrams(newcomer) == _trigrams_of("late.comer@example.org")
        db.session.remove()


def _trigrams_of(text: str) -> list[tuple[str, str]]:
    return sorted({("unconfirmed", text[i:i + 3]) for i in range(len(text) - 2)})


def _state_trigrams(user_id) -> list[tuple[str, str]]:
    return sorted(tuple(row) for row in db.session.execute(sa.text(
        "SELECT state, trigram FROM users_search_state_trigrams WHERE user_id = :id").bindparams(
        sa.bindparam("id", user_id, type_=sa.Uuid()))))


@pytest.mark.parametrize("args, kept", [
    ({"q": "orea", "state": "unconfirmed"}, {"sqlite", "mysql"}),
    ({"q": "orea", "state": "invited", "sort": "email_asc"}, {"sqlite", "mysql"}),
    ({"q": "oreau", "state": "anonymous"}, {"sqlite", "mysql"}),
    # 4 unconfirmed users of 40: past DENSE_MATCHES, MariaDB walks; SQLite keys them.
    ({"q": "xample", "state": "unconfirmed"}, {"sqlite"}),
    ({"q": "orea", "state": "confirmed"}, set()),
])
def test_common_text_and_a_kept_state_meet_in_the_index(app, crowd, monkeypatch, test_database,
                                                        args, kept):
    """Text held by more users than DENSE_MATCHES with a kept state: SQLite meets the state's
    search keys with the text's FTS5 rowids, MariaDB looks the text's trigrams up among the
    state's users' own and reads those users when they are at most DENSE_MATCHES; both find
    exactly what the plain scan finds."""
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 3)
    monkeypatch.setattr(user_text_search, "FEW_FILTERED", 0)  # not the filter-first path
    monkeypatch.setattr(user_text_search, "_postgres_estimate", lambda _text: (1e9, 0))
    with app.app_context():
        filters = user_search.UserFilters.from_args(args)
        conditions = " ".join(map(str, user_text_search.search_conditions(filters, NOW)
                                  .conditions))
        assert ("users_search_state" in conditions) is (test_database.backend in kept)
        if test_database.backend == "sqlite" and "sqlite" in kept:
            # Keyed by the state, its columns are not checked again (SQLite would read every
            # user in the state through the state's index to check them).
            assert not any(column in conditions
                           for column in ("confirmed_at", "invited_at", "is_anonymous"))
        expected = _plain_scan(filters, NOW)
        assert expected, "the crowd has users for every case"
        page = user_search.find_page(filters, user_search.PageRequest(per_page=200), NOW)
        assert [row.user.id for row in page.rows] == expected
        assert user_search.count(filters, NOW) == user_search.Total(len(expected))
        db.session.remove()


@pytest.mark.parametrize("text, cap, total", [
    ("xample", 3, user_search.Total(3, capped=True)),   # every email: the emails pass the cap
    ("xample", None, user_search.Total(40)),
    ("é mor", 2, user_search.Total(2, capped=True)),    # names only: the emails find none
    ("é mor", 5, user_search.Total(3)),
])
def test_a_capped_count_of_common_text_counts_the_emails_first_on_postgresql(
        app, crowd, monkeypatch, test_database, text, cap, total):
    """PostgreSQL, text that the sample finds in many emails: a capped count stops once the
    emails alone pass the cap (the name's index can be lossy for the same text); otherwise it
    counts every match. The other databases count their index's matches as before."""
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 1)
    monkeypatch.setattr(user_text_search, "_postgres_estimate", lambda _text: (1e9, 1e9))
    with app.app_context():
        filters = user_search.UserFilters.from_args({"q": text})
        found = user_text_search.search_conditions(filters, NOW, unordered=True)
        assert (found.sure_matches is not None) is (test_database.backend == "postgresql")
        assert user_search.count(filters, NOW, cap=cap) == total
        # With another filter the emails alone are no lower bound of the count.
        filtered = user_search.UserFilters.from_args({"q": text, "state": "confirmed"})
        assert user_text_search.search_conditions(filtered, NOW, unordered=True).sure_matches \
            is None
        db.session.remove()


@pytest.mark.parametrize("estimate, bitmaps", [(1_000, True), (1e9, False)])
def test_a_states_bitmap_meets_text_not_too_common_on_postgresql(
        app, crowd, monkeypatch, test_database, estimate, bitmaps):
    """PostgreSQL: a state filter leaving more users than FEW_FILTERED (but at most
    KEYED_FILTER) still starts from its index when the text is in at most KEYED_TEXT users:
    the two bitmaps are ANDed. Text in more users walks the sort's index. Either way the plain
    scan's users."""
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)
    monkeypatch.setattr(user_text_search, "FEW_FILTERED", 1)
    monkeypatch.setattr(user_text_search, "_postgres_estimate", lambda _text: (estimate, 0))
    with app.app_context():
        filters = user_search.UserFilters.from_args({"q": "xample", "state": "unconfirmed"})
        found = user_text_search.search_conditions(filters, NOW)
        assert found.from_filters is (bitmaps and test_database.backend == "postgresql")
        expected = _plain_scan(filters, NOW)
        assert len(expected) > 1
        page = user_search.find_page(filters, user_search.PageRequest(per_page=200), NOW)
        assert [row.user.id for row in page.rows] == expected
        assert user_search.count(filters, NOW) == user_search.Total(len(expected))
        db.session.remove()
