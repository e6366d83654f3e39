"""GET /admin/audit: admin auth, GoTrue's entry shape, paging headers and the ``query`` filter.

Parity: GoTrue internal/api/audit.go (adminAuditLog) and models/audit_log_entry.go; contract
sections 1, 2 (admin auth errors) and 8 (audit_log_entries).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry
from gotrue_web.services import audit

from ..conftest import ApiClient, make_jwt, table_rows
from ..factories import count, freeze_clock, unique_email

T0 = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


def assert_error(response, status: int, code: str, message: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code, body
    assert response.headers["x-sb-error-code"] == code
    if message is not None:
        assert body["message"] == message


def record(app, entries: list[tuple[str, str]], *, name: str = "") -> list[str]:
    """Write one audit entry per (action, actor_username) through the audit service, one minute
    apart from T0 onwards, oldest first. Returns their ids, oldest first."""
    with app.app_context():
        for index, (action, username) in enumerate(entries):
            actor = audit.Actor(id=str(uuid.uuid4()), username=username, name=name)
            audit.record(action, actor, now=T0 + timedelta(minutes=index), ip="203.0.113.9")
        db.session.commit()
    rows = table_rows(app, sa.select(AuditLogEntry.id).order_by(AuditLogEntry.created_at))
    return [str(row.id) for row in rows]


def listed_ids(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [entry["id"] for entry in response.get_json()]


# --- auth -------------------------------------------------------------------------------------


def test_without_a_token_is_401_no_authorization(app, api):
    record(app, [("login", "a@example.com")])
    assert_error(api.get("/admin/audit"), 401, "no_authorization")


def test_with_a_user_token_is_403_not_admin(app, api):
    session = api.session()
    assert count(app, AuditLogEntry) > 0
    response = api.get("/admin/audit", token=session["access_token"])
    assert_error(response, 403, "not_admin", "User not allowed")


def test_with_a_forged_admin_token_is_403_bad_jwt(api):
    forged = make_jwt({"role": "service_role", "iat": 1700000000}, secret="not-the-secret" * 4)
    assert_error(api.get("/admin/audit", token=forged), 403, "bad_jwt")


def test_supabase_admin_role_may_read_the_log(app, api):
    ids = record(app, [("login", "a@example.com")])
    token = make_jwt({"role": "supabase_admin", "iat": 1700000000})
    assert listed_ids(api.get("/admin/audit", token=token)) == ids


# --- shape ------------------------------------------------------------------------------------


def test_entry_has_gotrue_shape_after_a_sign_up(app, api):
    freeze_clock(app, T0)
    email = unique_email()
    user_id = api.session(email)["user"]["id"]
    rows = table_rows(app, sa.select(AuditLogEntry).order_by(AuditLogEntry.created_at))
    response = api.admin("GET", "/admin/audit")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, list) and len(body) == len(rows) > 0
    signed_up = next(entry for entry in body if entry["payload"]["action"] == "user_signedup")
    row = next(row for (row,) in rows if str(row.id) == signed_up["id"])
    assert list(signed_up) == ["id", "payload", "created_at", "ip_address"]
    assert signed_up == {
        "id": str(row.id),
        "payload": {"actor_id": user_id, "actor_via_sso": False, "actor_username": email,
                    "action": "user_signedup", "log_type": "team",
                    "traits": {"provider": "email"}},
        "created_at": "2030-01-02T03:04:05.123456Z",
        "ip_address": "127.0.0.1",
    }


def test_reading_the_log_writes_nothing(app, api):
    record(app, [("login", "a@example.com")])
    assert api.admin("GET", "/admin/audit").status_code == 200
    assert count(app, AuditLogEntry) == 1


def test_entries_of_another_instance_are_not_listed(app, api):
    ids = record(app, [("login", "a@example.com")])
    with app.app_context():
        db.session.add(AuditLogEntry(instance_id=uuid.uuid4(), payload={"action": "login"},
                                     created_at=T0 + timedelta(hours=1)))
        db.session.commit()
    response = api.admin("GET", "/admin/audit")
    assert listed_ids(response) == ids
    assert response.headers["X-Total-Count"] == "1"


def test_entry_ids_are_time_ordered(app, api):
    """Audit ids are UUID version 7, so the primary key's index grows at its end: ordered by id,
    the entries of a sign-up, a password sign-in, a refresh (the hot path's own insert), a
    logout and one written through the model come back in the order they were written, each id
    carrying the millisecond it was made in its first 48 bits."""
    started_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    email = unique_email()
    signed_up = api.session(email)
    signed_in = api.login(email).get_json()
    refreshed = api.refresh(signed_in["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    logout = api.post("/logout?scope=local", token=signed_up["access_token"])
    assert logout.status_code == 204
    with app.app_context():
        db.session.add(AuditLogEntry(instance_id=audit.NIL, payload={"action": "by_model"},
                                     created_at=datetime.now(timezone.utc)))
        db.session.commit()
    ended_ms = int(datetime.now(timezone.utc).timestamp() * 1000)

    rows = table_rows(app, sa.select(AuditLogEntry.id, AuditLogEntry.payload)
                      .order_by(AuditLogEntry.id))
    # A sign-up with autoconfirm also signs in (login), as in GoTrue.
    assert [row.payload["action"] for row in rows] == [
        "user_signedup", "login", "login", "token_refreshed", "logout", "by_model"]
    for row in rows:
        assert row.id.version == 7
        # uuid6 keeps a process's ids increasing: ids made within one millisecond take the
        # next ones, so after a burst (other tests in this process) the time runs a little
        # ahead; never behind.
        assert started_ms <= row.id.int >> 80 <= ended_ms + 60_000
    listed = listed_ids(api.admin("GET", "/admin/audit"))
    assert sorted(listed) == sorted(str(row.id) for row in rows)


# --- paging -----------------------------------------------------------------------------------


def test_pages_newest_first_with_total_and_link(app, api):
    ids = record(app, [("login", f"u{i}@example.com") for i in range(5)])
    response = api.admin("GET", "/admin/audit?page=2&per_page=2")
    assert listed_ids(response) == [ids[2], ids[1]]
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["Link"] == (
        '</admin/audit?page=3&per_page=2>; rel="next", '
        '</admin/audit?page=3&per_page=2>; rel="last"')


def test_last_page_has_no_next_link(app, api):
    ids = record(app, [("login", f"u{i}@example.com") for i in range(5)])
    response = api.admin("GET", "/admin/audit?per_page=2&page=3")
    assert listed_ids(response) == [ids[0]]
    assert response.headers["Link"] == '</admin/audit?page=3&per_page=2>; rel="last"'


def test_defaults_are_page_1_of_50(app, api):
    ids = record(app, [("login", f"u{i}@example.com") for i in range(51)])
    response = api.admin("GET", "/admin/audit")
    assert listed_ids(response) == ids[::-1][:50]
    assert response.headers["X-Total-Count"] == "51"
    assert response.headers["Link"] == (
        '</admin/audit?page=2>; rel="next", </admin/audit?page=2>; rel="last"')
    empty_values = api.admin("GET", "/admin/audit?page=&per_page=")
    assert listed_ids(empty_values) == ids[::-1][:50]


def test_page_past_the_end_is_empty(app, api):
    record(app, [("login", "a@example.com")])
    response = api.admin("GET", "/admin/audit?page=9&per_page=50")
    assert listed_ids(response) == []
    assert response.headers["X-Total-Count"] == "1"
    assert response.headers["Link"] == '</admin/audit?page=1&per_page=50>; rel="last"'


def test_empty_log_links_to_page_zero(api):
    response = api.admin("GET", "/admin/audit")
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert response.headers["Link"] == '</admin/audit?page=0>; rel="last"'


def test_link_under_auth_v1_keeps_the_prefix_and_the_query(app, client, service_role_token):
    record(app, [("login", f"u{i}@example.com") for i in range(3)])
    api = ApiClient(client, service_role_token, prefix="/auth/v1")
    response = api.admin("GET", "/admin/audit?query=action:login&per_page=2")
    assert response.status_code == 200
    assert response.headers["Link"] == (
        '</auth/v1/admin/audit?page=2&per_page=2&query=action%3Alogin>; rel="next", '
        '</auth/v1/admin/audit?page=2&per_page=2&query=action%3Alogin>; rel="last"')


@pytest.mark.parametrize("query", [
    "page=0", "page=-1", "page=abc", "page=1.5", "page=%201", "page=99999999999999999999",
    "page=%00", "per_page=0", "per_page=-5", "per_page=x", "per_page=2e3",
    "per_page=%EF%BC%95", "per_page=%D9%A1",
])
def test_bad_pagination_is_400_validation_failed(app, api, query):
    record(app, [("login", "a@example.com")])
    response = api.admin("GET", f"/admin/audit?{query}")
    assert_error(response, 400, "validation_failed")
    assert response.get_json()["message"].startswith("Bad Pagination Parameters")


# --- query ------------------------------------------------------------------------------------


@pytest.fixture
def mixed_log(app) -> dict[str, str]:
    """Entries of several actors and actions; maps a short name to each entry's id."""
    entries = [
        ("alice-login", "login", "Alice@Example.com"),
        ("alice-logout", "logout", "alice@example.com"),
        ("bob-signup", "user_signedup", "bob@example.org"),
        ("bob-refresh", "token_refreshed", "bob@example.org"),
        ("admin-modify", "user_modified", "service_role"),
        ("percent", "login", "100%_off@example.net"),
    ]
    ids = record(app, [(action, username) for _, action, username in entries])
    return {name: entry_id for (name, _, _), entry_id in zip(entries, ids)}


def filtered(api, query: str) -> list[str]:
    response = api.admin("GET", "/admin/audit", query_string={"query": query})
    ids = listed_ids(response)
    assert response.headers["X-Total-Count"] == str(len(ids))
    return ids


@pytest.mark.parametrize("query,names", [
    # GoTrue's scopes: author (actor_username or actor_name), action, type (log_type).
    ("author:ALICE", ["alice-logout", "alice-login"]),
    ("author:bob@", ["bob-refresh", "bob-signup"]),
    ("action:LOG", ["percent", "alice-logout", "alice-login"]),
    ("action:token_refreshed", ["bob-refresh"]),
    ("type:account", ["percent", "alice-logout", "alice-login"]),
    ("type:team", ["bob-signup"]),
    # Without a scope: actor_username, action or log_type.
    ("alice", ["alice-logout", "alice-login"]),
    ("TOKEN", ["bob-refresh"]),
    ("user", ["admin-modify", "bob-signup"]),
    ("service_role", ["admin-modify"]),
    # An empty text filters nothing; an unknown scope is part of the text.
    ("", ["percent", "admin-modify", "bob-refresh", "bob-signup", "alice-logout",
          "alice-login"]),
    ("author:", ["percent", "admin-modify", "bob-refresh", "bob-signup", "alice-logout",
                 "alice-login"]),
    ("actor:alice", []),
    # LIKE wildcards match only themselves.
    ("author:%", ["percent"]),
    ("author:0_o", []),
    ("author:0%_", ["percent"]),
    ("nobody", []),
])
def test_query_filters_case_insensitively(api, mixed_log, query, names):
    assert filtered(api, query) == [mixed_log[name] for name in names]


def test_author_scope_also_matches_the_actor_name(app, api):
    ids = record(app, [("user_modified", "")], name="Operator Olga")
    record(app, [("login", "someone@example.com")])
    assert filtered(api, "author:olga") == ids
    assert filtered(api, "olga") == []


def test_query_pages_with_its_own_total(api, mixed_log):
    response = api.admin("GET", "/admin/audit?query=type:account&per_page=2&page=2")
    assert listed_ids(response) == [mixed_log["alice-login"]]
    assert response.headers["X-Total-Count"] == "3"
    assert response.headers["Link"] == (
        '</admin/audit?page=2&per_page=2&query=type%3Aaccount>; rel="last"')


def test_query_with_nul_is_400(app, api):
    record(app, [("login", "a@example.com")])
    response = api.admin("GET", "/admin/audit?query=a%00b")
    assert_error(response, 400, "validation_failed", "query must not contain NUL")


@pytest.mark.parametrize("query", [
    "%ED%B3%BF", "%FF%FE", "x" * 5000, "%F0%9F%8E%89", "author:%E6%97%A5%E6%9C%AC",
    "%27%3B%20DROP%20TABLE%20users%3B--", "type:%5C",
])
def test_odd_query_values_never_fail(app, api, query):
    record(app, [("login", "日本@example.com")])
    response = api.admin("GET", f"/admin/audit?query={query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["X-Total-Count"] == str(len(response.get_json()))
    assert count(app, AuditLogEntry) == 1


def test_unicode_author_is_found(app, api):
    ids = record(app, [("login", "日本@example.com"), ("login", "other@example.com")])
    assert filtered(api, "author:日本") == ids[:1]
