"""The console's users list: search, filters, sorts, keyset pages, the count, htmx fragments and
the CSV / JSON exports (with their audit entries)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import user_search
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, User

from .. import factories
from ..conftest import table_rows

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
ROW_LINK = re.compile(r'<a class="primary" href="/console/users/([0-9a-f-]{36})"')


@pytest.fixture(autouse=True)
def fixed_clock(app):
    factories.freeze_clock(app, NOW)


@pytest.fixture
def make_user(app):
    """Insert a user row as the services leave it; made 30 days before NOW unless told, and
    deleted a day before NOW when ``deleted``."""

    def create(email: str | None = None, *, created_at=None, deleted: bool = False,
               user_id: uuid.UUID | None = None, **traits) -> uuid.UUID:
        return factories.make_user(app, email, created_at=created_at or NOW - 30 * DAY,
                                   deleted_at=NOW - DAY if deleted else None, id=user_id,
                                   **traits)

    return create


def ids_on(response) -> list[uuid.UUID]:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [uuid.UUID(match) for match in ROW_LINK.findall(response.get_data(as_text=True))]


def link(response, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


def reference_order(app, order_by, where=()) -> list[uuid.UUID]:
    """The order the list must follow, asked of the database directly (not through keysets)."""
    return [row[0] for row in table_rows(app, sa.select(User.id).where(*where)
                                              .order_by(*order_by))]


def walk(console, first_url: str, htmx: bool = False) -> tuple[list[list], list[str]]:
    """Follow "Next" from ``first_url`` to the end: the ids of each page and the URLs."""
    pages, urls, url = [], [], first_url
    while url:
        response = console.get(url, htmx=htmx)
        pages.append(ids_on(response))
        urls.append(url)
        url = link(response, "next")
        assert len(pages) < 100
    return pages, urls


# --- page and fragment ----------------------------------------------------------------------------


def test_full_page_has_the_plain_form_and_the_htmx_attributes(console, make_user):
    make_user("alice@example.com")
    response = console.get("/console/users")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<!doctype html>" in body and 'id="users-results"' in body
    form = re.search(r"<form class=\"card user-filters\"[^>]*>", body).group(0)
    assert 'method="get"' in form and 'action="/console/users"' in form
    assert 'hx-get="/console/users"' in form and 'hx-push-url="true"' in form
    assert 'hx-target="#users-results"' in form
    assert "input changed delay:300ms target:.live" in form
    assert 'name="q"' in body and 'class="live"' in body
    assert "alice@example.com" in body


def test_htmx_request_gets_only_the_table_and_a_clean_url_to_push(console, make_user):
    make_user("alice@example.com")
    response = console.get("/console/users?q=alice&state=&mfa=&provider=&sort=created_desc",
                           htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and "<form class=\"card user-filters\"" not in body
    assert "alice@example.com" in body
    assert response.headers["HX-Push-Url"] == "/console/users?q=alice"


def test_boosted_navigation_and_history_restore_get_the_whole_page(console, make_user):
    make_user("alice@example.com")
    boosted = console.get("/console/users?state=confirmed", htmx=True,
                          headers={"HX-Boosted": "true"})
    restore = console.get("/console/users?state=confirmed", htmx=True,
                          headers={"HX-History-Restore-Request": "true"})
    for response in (boosted, restore):
        assert response.status_code == 200
        assert "<!doctype html>" in response.get_data(as_text=True)
        assert "HX-Push-Url" not in response.headers


def test_rows_show_identity_states_and_link_to_the_detail_page(console, make_user):
    user_id = make_user("bob@example.com", name="Bob Builder", providers=("email", "google"),
                        factors=("verified",), last_sign_in_at=NOW - DAY,
                        created_at=datetime(2025, 1, 2, 3, 4, tzinfo=timezone.utc))
    phone_only = make_user(phone="15551234567")
    anonymous = make_user(anonymous=True)
    body = console.get("/console/users").get_data(as_text=True)
    row = body[body.index(f"/console/users/{user_id}"):]
    row = row[:row.index("</tr>")]
    assert "bob@example.com" in row and "Bob Builder" in row
    assert f'<code title="{user_id}">{str(user_id)[:8]}</code>' in row
    assert '<span class="badge">email</span>' in row and '<span class="badge">google</span>' in row
    assert '<span class="badge ok">confirmed</span>' in row
    assert '<span class="badge info">MFA</span>' in row
    assert "2025-01-02 03:04" in row and (NOW - DAY).strftime("%Y-%m-%d %H:%M") in row
    assert f'href="/console/users/{phone_only}">+15551234567</a>' in body
    assert f'href="/console/users/{anonymous}">anonymous</a>' in body


def test_state_badges(console, make_user):
    ids = {
        "unconfirmed": make_user("u@example.com", confirmed=False),
        "invited": make_user("i@example.com", invited=True),
        "banned": make_user("b@example.com", banned_until=NOW + DAY),
        "deleted": make_user("d@example.com", deleted=True),
        "anonymous": make_user(anonymous=True),
    }
    expired_ban = make_user("e@example.com", banned_until=NOW - DAY)
    body = console.get("/console/users").get_data(as_text=True)

    def row(user_id):
        start = body.index(f"/console/users/{user_id}")
        return body[start:body.index("</tr>", start)]

    assert '<span class="badge warn">unconfirmed</span>' in row(ids["unconfirmed"])
    assert '<span class="badge info">invited</span>' in row(ids["invited"])
    assert '<span class="badge danger">banned</span>' in row(ids["banned"])
    assert '<span class="badge danger">deleted</span>' in row(ids["deleted"])
    assert '<span class="badge ">anonymous</span>' in row(ids["anonymous"])
    assert "banned" not in row(expired_ban)


def test_pages_need_a_signed_in_operator(anonymous_console):
    for path in ("/console/users?q=x", "/console/users/export.csv"):
        response = anonymous_console.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/console/login")


# --- empty states and the count -------------------------------------------------------------------


def test_empty_user_base_says_to_create_or_invite(console):
    body = console.get("/console/users").get_data(as_text=True)
    assert "No users yet" in body
    assert 'href="/console/users/new"' in body and 'href="/console/invites"' in body
    assert "0 users." in body


def test_no_match_offers_to_clear_the_filters(console, make_user):
    make_user("alice@example.com")
    body = console.get("/console/users?q=nobody-here", htmx=True).get_data(as_text=True)
    assert "No users match these filters" in body
    assert '<a href="/console/users">Clear them</a>' in body
    assert "0 users match." in body


def test_total_counts_the_filtered_set(console, make_user):
    for index in range(3):
        make_user(f"c{index}@example.com")
    make_user("x@example.com", confirmed=False)
    assert "4 users." in console.get("/console/users", htmx=True).get_data(as_text=True)
    body = console.get("/console/users?state=unconfirmed", htmx=True).get_data(as_text=True)
    assert "1 user matches." in body


def test_count_stops_at_the_cap_until_asked_for_all(console, make_user, monkeypatch):
    monkeypatch.setattr(user_search, "COUNT_CAP", 3)
    for index in range(5):
        make_user(f"c{index}@example.com")
    body = console.get("/console/users", htmx=True).get_data(as_text=True)
    assert "More than 3 users" in body
    assert 'href="/console/users?count=all"' in body
    body = console.get("/console/users?count=all", htmx=True).get_data(as_text=True)
    assert "5 users (exact count)." in body
    body = console.get("/console/users?state=confirmed&count=all&per_page=2",
                       htmx=True).get_data(as_text=True)
    assert "5 users match (exact count)." in body


# --- search ---------------------------------------------------------------------------------------


@pytest.fixture
def people(make_user):
    return {
        "alice": make_user("alice.smith@example.com", name="Alice Smith"),
        "alicia": make_user("alicia@example.org", phone="4915112345678"),
        "bob": make_user("bob@example.com", phone="15551234567", name="Robert Alisson"),
        "carol": make_user("carol_x@example.net"),
        "named": make_user("z@example.com", name=None),
        "anon": make_user(anonymous=True),
    }


@pytest.mark.parametrize("query, expected", [
    ("alice.smith@example.com", {"alice"}),          # whole email
    ("ALICE.SMITH@EXAMPLE.COM", {"alice"}),          # any case
    ("alic", {"alice", "alicia"}),                   # start of an email
    ("alicia@", {"alicia"}),                         # start of an email, with @
    ("smith", {"alice"}),                            # inside the email and the name
    ("@example.org", {"alicia"}),                    # a domain
    ("example.net", {"carol"}),
    ("carol_", {"carol"}),                           # _ is literal, not a wildcard
    ("%", set()),                                    # so is %
    ("Robert", {"bob"}),                             # full_name
    ("alisson", {"bob"}),                            # full_name, any case
    ("15551234567", {"bob"}),                        # phone digits
    ("+15551234567", {"bob"}),                       # with +
    ("+1 555 123", {"bob"}),                         # start of a phone, with spaces
    ("+49 151", {"alicia"}),
    ("nobody", set()),
])
def test_search(console, people, query, expected):
    from urllib.parse import urlencode

    response = console.get("/console/users?" + urlencode({"q": query}), htmx=True)
    assert set(ids_on(response)) == {people[name] for name in expected}


def test_search_by_the_name_key_of_user_metadata(console, make_user, app):
    user_id = make_user("plain@example.com")
    with app.app_context():
        db.session.get(User, user_id).raw_user_meta_data = {"name": "Grace Hopper"}
        db.session.commit()
    assert ids_on(console.get("/console/users?q=hopper", htmx=True)) == [user_id]


def test_search_by_the_start_of_an_id(console, make_user):
    target = make_user("t@example.com", user_id=uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6"))
    make_user("o@example.com", user_id=uuid.UUID("3fa85f65-0000-4562-b3fc-2c963f66afa6"))
    for query in ("3fa85f64", "3fa85f64-57", "3FA85F64-5717-4562"):
        assert ids_on(console.get(f"/console/users?q={query}", htmx=True)) == [target], query
    both = ids_on(console.get("/console/users?q=3fa85f6", htmx=True))
    assert both == []  # 7 characters: too short to be an id, and no email starts so


def test_a_whole_id_goes_straight_to_the_user(console, make_user):
    user_id = make_user("t@example.com")
    response = console.get(f"/console/users?q={user_id}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/users/{user_id}"
    response = console.get(f"/console/users?q=%20{str(user_id).upper()}%20", htmx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/console/users/{user_id}"
    unknown = uuid.uuid4()
    body = console.get(f"/console/users?q={unknown}").get_data(as_text=True)
    assert "No users match these filters" in body


# --- filters --------------------------------------------------------------------------------------


@pytest.fixture
def population(make_user):
    return {
        "confirmed": make_user("confirmed@example.com", factors=("verified",)),
        "phone_confirmed": make_user(phone="15550000001", providers=("phone",)),
        "unconfirmed": make_user("unconfirmed@example.com", confirmed=False,
                                 factors=("unverified",)),
        "invited": make_user("invited@example.com", invited=True),
        "banned": make_user("banned@example.com", banned_until=NOW + timedelta(minutes=10),
                            providers=("email", "github")),
        "ban_over": make_user("ban-over@example.com", banned_until=NOW - timedelta(hours=1)),
        "anonymous": make_user(anonymous=True),
        "google": make_user("g@example.com", providers=("google",), factors=("verified",
                                                                             "unverified")),
    }


@pytest.mark.parametrize("query, expected", [
    ("state=confirmed", {"confirmed", "phone_confirmed", "banned", "ban_over", "google"}),
    ("state=unconfirmed", {"unconfirmed"}),
    ("state=invited", {"invited"}),
    ("state=banned", {"banned"}),
    ("state=anonymous", {"anonymous"}),
    ("mfa=yes", {"confirmed", "google"}),
    ("mfa=no", {"phone_confirmed", "unconfirmed", "invited", "banned", "ban_over", "anonymous"}),
    ("provider=google", {"google"}),
    ("provider=github", {"banned"}),
    ("provider=phone", {"phone_confirmed"}),
    ("provider=email", {"confirmed", "unconfirmed", "invited", "banned", "ban_over"}),
    ("provider=gitlab", set()),
    ("state=confirmed&mfa=yes&provider=google", {"google"}),
    ("state=confirmed&q=ban", {"banned", "ban_over"}),
])
def test_filters(console, population, query, expected):
    got = set(ids_on(console.get(f"/console/users?{query}", htmx=True)))
    assert got == {population[name] for name in expected}


def test_a_ban_ends_on_the_clock(console, population, rt):
    rt.clock = lambda: NOW + timedelta(minutes=11)  # (the console session lives on)
    assert ids_on(console.get("/console/users?state=banned", htmx=True)) == []


def test_date_ranges_are_whole_utc_days_including_both_ends(console, make_user):
    day = datetime(2026, 2, 1, tzinfo=timezone.utc)
    before = make_user("before@example.com", created_at=day - timedelta(microseconds=1))
    first = make_user("first@example.com", created_at=day)
    last = make_user("last@example.com", created_at=day + 2 * DAY - timedelta(microseconds=1),
                     last_sign_in_at=day + 5 * DAY)
    after = make_user("after@example.com", created_at=day + 2 * DAY,
                      last_sign_in_at=day + 6 * DAY)
    never = make_user("never@example.com", created_at=day)

    def listed(query):
        return set(ids_on(console.get(f"/console/users?{query}", htmx=True)))

    assert listed("created_from=2026-02-01&created_to=2026-02-02") == {first, last, never}
    assert listed("created_from=2026-02-02") == {last, after}
    assert listed("created_to=2026-01-31") == {before}
    assert listed("signed_in_from=2026-02-06") == {last, after}
    assert listed("signed_in_from=2026-02-06&signed_in_to=2026-02-06") == {last}
    assert listed("signed_in_to=2026-02-06&created_from=2026-02-03") == set()


# --- sorts and keyset pages -----------------------------------------------------------------------


@pytest.fixture
def crowd(make_user):
    """13 users: created_at in three runs of ties; some never signed in; some without email."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = []
    for index in range(13):
        created = base + timedelta(hours=index // 5)  # 5, 5 and 3 users share a created_at
        signed_in = None if index % 3 == 0 else base + timedelta(days=index % 4)  # ties too
        email = None if index % 4 == 1 else f"user{index:02d}@example.com"
        phone = f"1555000{index:04d}" if email is None else None
        ids.append(make_user(email, phone=phone, created_at=created, last_sign_in_at=signed_in))
    return ids


NULLS_LAST = {
    "created_desc": (User.created_at.is_(None), User.created_at.desc(), User.id.desc()),
    "created_asc": (User.created_at.is_(None), User.created_at.asc(), User.id.asc()),
    "last_sign_in_desc": (User.last_sign_in_at.is_(None), User.last_sign_in_at.desc(),
                          User.id.desc()),
    "last_sign_in_asc": (User.last_sign_in_at.is_(None), User.last_sign_in_at.asc(),
                         User.id.asc()),
    "email_asc": (User.email.is_(None), User.email.asc(), User.id.asc()),
    "email_desc": (User.email.is_(None), User.email.desc(), User.id.desc()),
}


@pytest.mark.parametrize("sort", list(user_search.SORTS))
def test_every_sort_pages_forward_and_back_through_ties_and_nulls(console, app, crowd, sort):
    expected = reference_order(app, NULLS_LAST[sort])
    assert len(expected) == 13
    first = f"/console/users?sort={sort}&per_page=3"
    pages, _urls = walk(console, first)
    assert [len(page) for page in pages] == [3, 3, 3, 3, 1]
    assert [user_id for page in pages for user_id in page] == expected

    # Back from the last page with "Previous": the same pages in reverse.
    response = console.get(_urls[-1])
    back = []
    while (previous := link(response, "prev")):
        response = console.get(previous)
        back.append(ids_on(response))
    assert back == pages[-2::-1]
    assert "First page" not in response.get_data(as_text=True)


def test_sorts_put_missing_values_last_in_both_directions(console, app, crowd):
    with app.app_context():
        emailless = set(db.session.execute(
            sa.select(User.id).where(User.email.is_(None))).scalars())
        never = set(db.session.execute(
            sa.select(User.id).where(User.last_sign_in_at.is_(None))).scalars())
        times = dict(db.session.execute(sa.select(User.id, User.last_sign_in_at)).all())
    for sort, missing in (("email_asc", emailless), ("email_desc", emailless),
                          ("last_sign_in_desc", never), ("last_sign_in_asc", never)):
        listed = ids_on(console.get(f"/console/users?sort={sort}&per_page=50", htmx=True))
        assert set(listed[-len(missing):]) == missing, sort
    newest_first = ids_on(console.get("/console/users?sort=last_sign_in_desc&per_page=50"))
    signed = [times[user_id] for user_id in newest_first if times[user_id] is not None]
    assert signed == sorted(signed, reverse=True)


def test_default_sort_is_newest_first(console, make_user):
    old = make_user("old@example.com", created_at=NOW - 10 * DAY)
    new = make_user("new@example.com", created_at=NOW - DAY)
    middle = make_user("mid@example.com", created_at=NOW - 5 * DAY)
    assert ids_on(console.get("/console/users")) == [new, middle, old]
    assert ids_on(console.get("/console/users?sort=created_asc")) == [old, middle, new]


def test_pages_with_filters_and_htmx_keep_the_filters_in_links(console, app, crowd):
    # Users with a phone only are 3 of the 13; paging two at a time under a filter.
    expected = reference_order(app, NULLS_LAST["created_desc"], (User.email.is_not(None),))
    pages, urls = walk(console, "/console/users?provider=email&per_page=2", htmx=True)
    assert [user_id for page in pages for user_id in page] == expected
    assert all("provider=email" in url and "per_page=2" in url for url in urls)
    response = console.get(urls[1], htmx=True)
    assert response.headers["HX-Push-Url"] == urls[1]


def test_previous_from_near_the_start_shows_a_whole_first_page(console, app, crowd):
    pages, urls = walk(console, "/console/users?per_page=5")
    # From page 2 with one row removed before it, "Previous" still shows 5 rows from the top.
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id == pages[0][0]))
        db.session.commit()
    response = console.get(urls[1], htmx=True)
    previous = link(response, "prev")
    response = console.get(previous, htmx=True)
    assert ids_on(response) == pages[0][1:] + pages[1][:1]
    assert response.headers["HX-Push-Url"] == "/console/users?per_page=5"
    assert link(response, "prev") is None


def test_a_page_past_the_end_offers_a_way_back(console, app, crowd):
    pages, urls = walk(console, "/console/users?per_page=5")
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id.in_(pages[-1])))
        db.session.commit()
    response = console.get(urls[-1])
    body = response.get_data(as_text=True)
    assert ids_on(response) == [] and "No more users" in body
    assert ids_on(console.get(link(response, "prev"))) == pages[-2]


# --- bad parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("query, message", [
    ("state=sleeping", "no user state called"),
    ("mfa=maybe", "MFA must be"),
    ("provider=Not%20a%20provider!", "not a provider name"),
    ("sort=password", "cannot be sorted by"),
    ("created_from=yesterday", "is not a date"),
    ("signed_in_to=2026-02-30", "is not a date"),
    ("created_from=2026-02-02&created_to=2026-02-01", "ends before it starts"),
    ("per_page=0", "Rows per page"),
    ("per_page=abc", "Rows per page"),
    ("per_page=100000", "Rows per page"),
    ("after=not-a-cursor", "page link is damaged"),
    ("before=%FF%FE", "page link is damaged"),
    ("after=W10", "page link is damaged"),  # base64 of []
    ("q=" + "x" * 300, "too long"),
])
def test_bad_parameters_are_refused_with_a_message(console, make_user, query, message):
    make_user("alice@example.com")
    page = console.get(f"/console/users?{query}")
    assert page.status_code == 400
    assert message in html.unescape(page.get_data(as_text=True))
    assert "<!doctype html>" in page.get_data(as_text=True)  # the form is there to fix it
    fragment = console.get(f"/console/users?{query}", htmx=True)
    assert fragment.status_code == 422
    assert message in html.unescape(fragment.get_data(as_text=True))
    assert "alice@example.com" not in fragment.get_data(as_text=True)


def test_cursors_belong_to_their_sort(console, crowd):
    response = console.get("/console/users?per_page=2")
    next_url = link(response, "next")
    moved = next_url.replace("per_page=2", "per_page=2&sort=email_asc")
    response = console.get(moved)
    assert response.status_code == 400
    assert "another sort order" in response.get_data(as_text=True)
    both = next_url + "&before=" + next_url.split("after=")[1].split("&")[0]
    assert console.get(both).status_code == 400


def test_cursor_with_tampered_values_is_refused_not_a_500(console, crowd):
    import base64

    def cursor(payload) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    for payload in (["created_desc", "not a time", uuid.uuid4().hex],
                    ["created_desc", "2026-01-01T00:00:00", uuid.uuid4().hex],  # naive
                    ["created_desc", None, "zz"],
                    ["created_desc", 5, uuid.uuid4().hex],
                    {"a": 1}):
        assert console.get(f"/console/users?after={cursor(payload)}").status_code == 400
    email_cursor = cursor(["email_asc", "x@example.com", uuid.uuid4().hex])
    assert console.get(f"/console/users?sort=email_asc&after={email_cursor}").status_code == 200


# --- export ---------------------------------------------------------------------------------------


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def export_entries(app) -> list[dict]:
    rows = table_rows(app, sa.select(AuditLogEntry.payload).order_by(AuditLogEntry.created_at))
    return [payload for (payload,) in rows if payload["action"] == "users_exported"]


def test_csv_export_of_the_filtered_set_is_streamed_in_batches(console, app, make_user,
                                                               monkeypatch):
    monkeypatch.setattr(user_search, "EXPORT_BATCH", 2)
    confirmed = [make_user(f"c{index}@example.com", created_at=NOW - index * DAY)
                 for index in range(5)]
    make_user("not-me@example.com", confirmed=False)
    response = console.post("/console/users/export.csv?state=confirmed", buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="users-20260310-120000\.csv"',
                        response.headers["Content-Disposition"])
    chunks = list(response.response)
    response.close()
    assert len(chunks) == 1 + 3  # header, then one chunk per batch of two
    rows = list(csv.DictReader(io.StringIO(b"".join(
        c if isinstance(c, bytes) else c.encode() for c in chunks).decode())))
    assert [row["id"] for row in rows] == [str(user_id) for user_id in confirmed]
    first = rows[0]
    assert first["email"] == "c0@example.com" and first["providers"] == "email"
    assert first["states"] == "confirmed" and first["has_mfa"] == "false"
    assert first["created_at"] == "2026-03-10T12:00:00.000000Z"
    assert first["last_sign_in_at"] == "" and first["is_anonymous"] == "false"
    assert json.loads(first["app_metadata"]) == {"provider": "email"}


def test_csv_cells_cannot_become_spreadsheet_formulas(console, make_user):
    dangerous = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "ok"]
    for index, name in enumerate(dangerous):
        make_user(f"f{index}@example.com", name=name, created_at=NOW - index * DAY)
    rows = read_csv(console.post("/console/users/export.csv"))
    assert [row["name"] for row in rows] == ["'" + value for value in dangerous[:-1]] + ["ok"]
    header = console.post("/console/users/export.csv").get_data(as_text=True).splitlines()[0]
    assert header.split(",")[:4] == ["id", "email", "phone", "name"]


def test_json_export_is_an_array_of_gotrue_user_objects_without_identities(
        console, app, make_user, monkeypatch):
    monkeypatch.setattr(user_search, "EXPORT_BATCH", 2)
    with_mfa = make_user("m@example.com", factors=("verified",), name="Mia",
                         created_at=NOW - DAY)
    others = [make_user(f"o{index}@example.com", created_at=NOW - (index + 2) * DAY)
              for index in range(3)]
    make_user("filtered-out@example.com", invited=True)
    response = console.post("/console/users/export.json?provider=email&state=confirmed")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Disposition"].endswith('.json"')
    body = json.loads(response.get_data(as_text=True))
    assert [item["id"] for item in body] == [str(i) for i in [with_mfa, *others]]
    first = body[0]
    assert "identities" not in first
    assert list(first)[:4] == ["id", "aud", "role", "email"]
    assert first["email"] == "m@example.com" and first["user_metadata"] == {"full_name": "Mia"}
    assert first["email_confirmed_at"] == "2026-03-09T12:00:00.000000Z"
    assert [factor["status"] for factor in first["factors"]] == ["verified"]
    assert first["is_anonymous"] is False
    assert "factors" not in body[1]


def test_json_export_of_nothing_is_an_empty_array(console):
    response = console.post("/console/users/export.json?q=nobody")
    assert response.status_code == 200
    assert json.loads(response.get_data(as_text=True)) == []


def test_exports_are_audited_with_format_and_filters(console, app, make_user):
    make_user("a@example.com")
    console.post("/console/users/export.csv?state=banned&q=%20abc%20&sort=email_asc")
    console.post("/console/users/export.json")
    # The clock is fixed, so both entries have the same time: match them up by format.
    entries = sorted(export_entries(app), key=lambda entry: entry["traits"]["format"])
    assert [entry["traits"]["format"] for entry in entries] == ["csv", "json"]
    assert entries[0]["traits"]["filters"] == {"state": "banned", "q": "abc",
                                               "sort": "email_asc"}
    assert entries[1]["traits"]["filters"] == {}
    assert entries[0]["actor_username"] == "operator@example.com"
    assert entries[0]["log_type"] == "operator"


def test_export_forms_on_the_page_carry_the_filters_and_a_csrf_token(console, make_user):
    make_user("a@example.com")
    body = console.get("/console/users?state=confirmed&q=a&per_page=5",
                       htmx=True).get_data(as_text=True)
    for fmt in ("csv", "json"):
        form = re.search(r'<form method="post" action="/console/users/export\.' + fmt
                         + r'\?q=a&amp;state=confirmed"[^>]*>\s*<input type="hidden" '
                         r'name="csrf_token" value="([^"]+)"', body)
        assert form and form.group(1) == console.csrf_token, fmt


def test_bad_export_requests_change_nothing(console, app, make_user):
    make_user("a@example.com")
    assert console.post("/console/users/export.xlsx").status_code == 404
    assert console.post("/console/users/export.csv?state=nope").status_code == 400
    # No GET exports, and a POST without the console's CSRF token is refused (cross-site forms).
    assert console.get("/console/users/export.csv").status_code in (404, 405)
    assert console.post("/console/users/export.csv", csrf=False).status_code == 400
    assert export_entries(app) == []
    assert console.post("/console/users/export.csv").status_code == 200
    assert len(export_entries(app)) == 1
