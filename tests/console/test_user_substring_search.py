"""The console's free-text search through the substring index of migration 0012: part of a
name or an email, in any case, kept in step with user inserts, updates and deletes, with the
other filters and keyset pages, on both of the search's paths (few matches: read from the
index; many: walk the sort's index); and the time limit every search runs under."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import user_search, user_text_search
from gotrue_web.console.operations.user_text_search import TOO_SLOW, search_time_limit
from gotrue_web.extensions import db
from gotrue_web.models import User

from .. import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
ROW_LINK = re.compile(r'<a class="primary" href="/console/users/([0-9a-f-]{36})"')
NEXT_LINK = re.compile(r'rel="next" href="([^"]+)"')


@pytest.fixture(autouse=True)
def fixed_clock(app):
    factories.freeze_clock(app, NOW)


# Both paths: "index" reads the few matching users from the substring index; "walk" (more
# matches than the threshold) checks user after user along the sort's index.
@pytest.fixture(params=["index", "walk"])
def path(request, monkeypatch):
    if request.param == "walk":
        # More matches than none: every search takes the walk.
        monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)
    return request.param


@pytest.fixture
def people(app):
    def make(email, name=None, days=30, **traits):
        return factories.make_user(app, email, name=name, created_at=NOW - days * DAY, **traits)

    return {
        "grace": make("grace.hopper@navy.example.com", "Grace Brewster Hopper", days=10),
        "ada": make("ada@analytical.example.org", "Augusta Ada Lovelace", days=20),
        "mikkel": make("m.k@example.net", "Mikkel Sørensen", days=30),
        "linus": make("torvalds_l@kernel.example.com", None, days=40, confirmed=False),
    }


def _trigram_rows(app, user_id):
    with app.app_context():
        return db.session.execute(sa.text(
            "SELECT trigram FROM users_search_trigrams WHERE user_id = :id").bindparams(
            sa.bindparam("id", user_id, type_=sa.Uuid()))).all()


def found(console, **args) -> list[uuid.UUID]:
    response = console.get("/console/users?" + urlencode(args), htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [uuid.UUID(match) for match in ROW_LINK.findall(response.get_data(as_text=True))]


@pytest.mark.parametrize("query, expected", [
    ("opp", {"grace"}),                # the middle of an email and of a name
    ("OPPE", {"grace"}),               # any case
    ("ewste", {"grace"}),              # the middle of a name only
    ("Lovel", {"ada"}),
    ("kkel sø", {"mikkel"}),           # across a space, with a non-ASCII letter
    ("nalytical.exa", {"ada"}),        # the middle of an email's domain
    ("VALDS_", {"linus"}),             # _ is a literal
    ("example", {"grace", "ada", "mikkel", "linus"}),
    ("opper@", set()),                 # the start of an email: none starts so
    ("hopperx", set()),
    ("o%p", set()),                    # % is a literal
])
def test_finds_part_of_a_name_or_an_email(console, people, path, query, expected):
    assert set(found(console, q=query)) == {people[name] for name in expected}


def test_short_text_finds_the_emails_starting_with_it(console, people, path):
    assert found(console, q="ad") == [people["ada"]]
    assert found(console, q="Gr") == [people["grace"]]
    # Inside a name or an email, two characters are not looked for.
    assert found(console, q="ov") == []


def test_kept_in_step_with_inserts_updates_and_deletes(console, app, people, path):
    assert found(console, q="uring") == []
    alan = factories.make_user(app, "alan@bletchley.example.com", name="Alan Mathison Turing",
                               created_at=NOW - DAY)
    assert found(console, q="uring") == [alan]
    assert found(console, q="letchl") == [alan]
    with app.app_context():
        user = db.session.get(User, alan)
        user.email = "amt@manchester.example.ac.uk"
        user.raw_user_meta_data = {"name": "A. M. Turing"}
        db.session.commit()
    assert found(console, q="letchl") == []
    assert found(console, q="Mathison") == []
    assert found(console, q="anchest") == [alan]
    assert found(console, q=". m. tur") == [alan]  # the "name" key counts as well
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("mysql"):
        # MariaDB's trigram rows are exactly the new text's: stale ones gone, none twice.
        text = "amt@manchester.example.ac.uk\na. m. turing"
        expected = {text[i:i + 3] for i in range(len(text) - 2)} - {
            text[i:i + 3] for i in range(len(text) - 2) if "\n" in text[i:i + 3]}
        rows = [row[0] for row in _trigram_rows(app, alan)]
        assert sorted(rows) == sorted(expected)
    # Other writes (a sign-in, say) leave the index as it is.
    with app.app_context():
        db.session.get(User, alan).last_sign_in_at = NOW
        db.session.commit()
    assert found(console, q="anchest") == [alan]
    with app.app_context():
        db.session.delete(db.session.get(User, alan))
        db.session.commit()
    assert found(console, q="anchest") == []
    assert found(console, q="hopp") == [people["grace"]]


def test_with_the_other_filters(console, people, path):
    assert set(found(console, q="example", state="unconfirmed")) == {people["linus"]}
    assert set(found(console, q="a", state="confirmed")) == {people["ada"]}
    assert set(found(console, q="example", created_from="2026-02-15")) == {
        people["grace"], people["ada"]}
    assert found(console, q="ewste", state="unconfirmed") == []
    assert set(found(console, q="example", provider="email", sort="email_asc")) == set(
        people.values())


def test_keyset_pages_of_a_search(console, app, path):
    made = [factories.make_user(app, f"user{n}@pages.example.com", name=f"Page Person {n}",
                                created_at=NOW - (n + 1) * DAY) for n in range(7)]
    factories.make_user(app, "other@elsewhere.example.com", name="Someone Else")
    url = "/console/users?" + urlencode({"q": "ages.exam", "per_page": 3})
    seen = []
    while url:
        response = console.get(url, htmx=True)
        body = response.get_data(as_text=True)
        seen += [uuid.UUID(match) for match in ROW_LINK.findall(body)]
        link = NEXT_LINK.search(body)
        url = link.group(1).replace("&amp;", "&") if link else None
    assert seen == made  # newest first, each once
    assert "7 users match." in console.get("/console/users?q=ERSON", htmx=True).get_data(
        as_text=True)


def test_count_and_page_through_the_operations(app, people, path):
    with app.app_context():
        filters = user_search.UserFilters.from_args({"q": "EXAMPLE", "sort": "email_asc"})
        page = user_search.find_page(filters, user_search.PageRequest(per_page=2), NOW)
        assert [row.user.id for row in page.rows] == [people["ada"], people["grace"]]
        assert page.notice is None
        assert user_search.count(filters, NOW) == user_search.Total(4)
        assert user_search.count(filters, NOW, cap=2) == user_search.Total(2, capped=True)
        exported = [row.user.id for batch in user_search.iter_batches(filters, NOW, batch=3)
                    for row in batch]
        assert len(exported) == 4
        db.session.remove()


def test_text_does_not_run_from_the_email_into_the_name(console, people, path):
    # A line break in the search cannot join the end of the email to the start of a name.
    assert found(console, q="navy.example.com\ngrace b") == []
    assert found(console, q="navy.example.com") == [people["grace"]]


def test_mariadb_counts_a_date_range_from_the_search_text_index(app, people, monkeypatch):
    """MariaDB: walking a creation-date range, the text of each user can be read from migration
    0020's index (created_at, search_text) alone, without the user's row (at a million users
    the optimizer takes it: bench/console_users.py; a test table is too small to make it)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("mysql"):
        pytest.skip("users.search_text is MariaDB's (migration 0020)")
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)  # the walk, whatever the counts
    with app.app_context():
        text = db.session.execute(sa.text("SELECT search_text FROM users WHERE id = :id")
                                  .bindparams(sa.bindparam("id", people["grace"], sa.Uuid()))
                                  ).scalar_one()
        assert text == "grace.hopper@navy.example.com\ngrace brewster hopper"
        filters = user_search.UserFilters.from_args(
            {"q": "OPPE", "created_from": "2026-02-15", "created_to": "2026-03-05"})
        statements = []

        def record(*args):
            statements.append((args[2], args[3]))

        # Removed at once: the test process's apps share the engine (tests/conftest.py).
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert user_search.count(filters, NOW) == user_search.Total(1)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        sql, params = next((sql, params) for sql, params in statements
                           if "search_text" in sql)
        index = "users_created_at_search_text_idx"
        assert "\nFROM users \nWHERE " in sql
        plan = db.session.connection().exec_driver_sql(
            "EXPLAIN " + sql.replace("\nFROM users \nWHERE ", f" FROM users FORCE INDEX ({index}) "
                                     "WHERE "), params).mappings().all()
        users = [row for row in plan if row["table"] == "users"]
        assert [row["key"] for row in users] == [index], plan
        assert "Using index" in users[0]["Extra"].split("; "), plan
        db.session.remove()


# --- the time limit ----------------------------------------------------------------------------


SLOW_STATEMENTS = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
              "WHERE i < 100000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(5)",
    "mysql": "SELECT SLEEP(5) FROM users_search_trigrams LIMIT 1",
}


def test_a_statement_past_the_limit_is_stopped_with_a_message(app, test_database):
    if test_database.backend == "mysql":
        factories.make_user(app, "sleepy@example.com")  # (SLEEP needs a row to sleep on)
    with app.app_context():
        started = datetime.now(timezone.utc)
        with pytest.raises(user_search.SearchTooSlow) as raised:
            with search_time_limit(200):
                db.session.execute(sa.text(SLOW_STATEMENTS[test_database.backend])).all()
        assert datetime.now(timezone.utc) - started < timedelta(seconds=3)
        assert str(raised.value) == TOO_SLOW
        # The connection is usable and without the limit afterwards.
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1
        if test_database.backend == "postgresql":
            assert db.session.execute(sa.text("SHOW statement_timeout")).scalar() == "0"
        if test_database.backend == "mysql":
            assert db.session.execute(sa.text(
                "SELECT @@SESSION.max_statement_time")).scalar() == 0
        db.session.remove()


def test_the_limit_is_set_while_searching_and_lifted_after(app, test_database):
    backend = test_database.backend
    if backend == "sqlite":
        pytest.skip("SQLite's limit is a progress handler, not a setting to read")
    show = {"postgresql": "SHOW statement_timeout",
            "mysql": "SELECT @@SESSION.max_statement_time"}[backend]
    with app.app_context():
        with search_time_limit(250):
            inside = db.session.execute(sa.text(show)).scalar()
        after = db.session.execute(sa.text(show)).scalar()
        db.session.remove()
    if backend == "postgresql":
        assert (inside, after) == ("250ms", "0")
    else:
        assert (float(inside), float(after)) == (0.25, 0.0)


def test_a_search_past_the_limit_says_to_narrow_it(console, app, test_database, monkeypatch):
    """A real search over many users with a 1 ms limit. The text is in all 20,000 of them,
    so the count and the page each go through thousands of index entries: far past 1 ms
    however the machine is loaded (a text in no user's row is an index lookup, which can
    finish in time)."""
    if test_database.backend != "sqlite":
        pytest.skip("a deterministic slow search needs SQLite's instruction-counting handler")
    rows = [{"id": uuid.uuid4(), "instance_id": uuid.UUID(int=0), "aud": "authenticated",
             "role": "authenticated", "email": f"bulk{n}@bulk.example.com",
             "raw_user_meta_data": {"full_name": f"Bulk Person {n}"},
             "created_at": NOW - DAY, "updated_at": NOW - DAY, "is_anonymous": False,
             "is_sso_user": False} for n in range(20_000)]
    with app.app_context():
        db.session.execute(sa.insert(User), rows)
        db.session.commit()
        db.session.remove()
    monkeypatch.setattr(user_text_search, "DENSE_MATCHES", 0)
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 1)
    body = console.get("/console/users?q=bulk.example", htmx=True).get_data(as_text=True)
    assert TOO_SLOW in body
    assert "Too many to count quickly" in body
    assert "bulk0@bulk.example.com" not in body
    monkeypatch.setattr(user_text_search, "SEARCH_TIME_LIMIT_MS", 0)
    body = console.get("/console/users?q=bulk.example", htmx=True).get_data(as_text=True)
    assert TOO_SLOW not in body
    assert "More than 10,000 users match" in body and "@bulk.example.com" in body
