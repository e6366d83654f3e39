"""The console's audit log: end-user events (signup, login, token refresh, logout, recovery)
and operator actions from the real API and console, each filter (actor, action, target, time)
alone and combined, keyset pages, htmx fragments, and odd input refused without a crash."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations.user_actions import metadata_fingerprint
from gotrue_web.models import AuditLogEntry

from ..conftest import table_rows
from ..factories import freeze_clock
from . import log_pages
from .conftest import OPERATOR_EMAIL

USER_ACTIONS = {"user_signedup", "login", "token_refreshed", "logout",
                "user_recovery_requested"}
OPERATOR_ACTIONS = {"operator_login", "user_modified", "smtp_test_sent"}

row_ids = partial(log_pages.row_ids, "audit")
row_html = partial(log_pages.row_html, "audit")
pager_link = log_pages.pager_link


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    created_at: datetime
    payload: dict

    @property
    def action(self) -> str:
        return self.payload["action"]


def entries(app) -> list[Entry]:
    """Every audit entry, newest first (the page's order)."""
    return [Entry(*row) for row in table_rows(app, sa.select(
        AuditLogEntry.id, AuditLogEntry.created_at, AuditLogEntry.payload).order_by(
        AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc()))]


def shown(console, **filters) -> list[uuid.UUID]:
    response = console.get("/console/audit", query_string=filters)
    assert response.status_code == 200, response.get_data(as_text=True)
    return row_ids(response.get_data(as_text=True))


@dataclass
class History:
    app: object
    alice: str
    bob: str
    operator: str
    # When each step began (the clock moves two minutes between steps).
    times: dict


@pytest.fixture
def history(app, api, console) -> History:
    """A morning of activity: two users through the API, then an operator through the console."""
    clock = freeze_clock(app)
    times = {}

    def step(name):
        clock.advance(minutes=2)
        times[name] = clock.now

    step("alice_signup")
    alice = api.session("alice@example.com")
    step("alice_login")
    assert api.login("alice@example.com").status_code == 200
    step("alice_refresh")
    assert api.refresh(alice["refresh_token"]).status_code == 200
    step("alice_logout")
    assert api.post("/logout", token=alice["access_token"]).status_code == 204
    step("bob_signup")
    bob = api.session("bob@example.com")
    step("bob_recovery")
    assert api.post("/recover", json={"email": "bob@example.com"}).status_code == 200
    step("ban")
    response = console.post(f"/console/users/{bob['user']['id']}/ban",
                            {"duration": "24h", "reason": "spam"})
    assert response.status_code == 303
    step("smtp_test")
    assert console.post("/console/mail/test", {"to": "ops@example.com"}).status_code == 303
    [operator] = {entry.payload["actor_id"] for entry in entries(app)
                  if entry.action == "operator_login"}
    return History(app, alice["user"]["id"], bob["user"]["id"], operator, times)


def expected(history: History, *, actor="", action="", target="", since=None, until=None):
    """What the filters should select, worked out from the rows themselves."""

    def keep(entry: Entry) -> bool:
        payload = entry.payload
        traits = payload.get("traits") or {}
        if actor and not any(actor.lower() in str(payload.get(name, "")).lower()
                             for name in ("actor_username", "actor_id")):
            return False
        if action and payload["action"] != action:
            return False
        if target and not any(target.lower() in str(traits.get(name, "")).lower()
                              for name in ("user_id", "user_email", "user_phone")):
            return False
        if since and entry.created_at < since:
            return False
        return not (until and entry.created_at >= until)

    return [entry.id for entry in entries(history.app) if keep(entry)]


# --- what is listed ------------------------------------------------------------------------------


def test_user_events_and_operator_actions_are_listed_newest_first(history, console):
    page = console.get("/console/audit").get_data(as_text=True)
    every = entries(history.app)
    assert row_ids(page) == [entry.id for entry in every]
    assert USER_ACTIONS | OPERATOR_ACTIONS <= {entry.action for entry in every}

    [logout] = [entry for entry in every if entry.action == "logout"]
    row = row_html(page, logout.id)
    assert '<span class="summary">signed out</span>' in row and ">logout</code>" in row
    assert f'href="/console/users/{history.alice}">alice@example.com</a>' in row
    assert "badge info\">operator" not in row

    [ban] = [entry for entry in every if entry.action == "user_modified"]
    row = row_html(page, ban.id)
    assert OPERATOR_EMAIL in row and '<span class="badge info">operator</span>' in row
    # The operator is not a user: no link for the actor, but the banned user is linked.
    assert f"/console/users/{history.operator}" not in row
    assert f'href="/console/users/{history.bob}">bob@example.com</a>' in row
    assert "127.0.0.1" in row
    # What happened, in words, with GoTrue's action code beside it; the rest of the traits inline.
    assert '<span class="summary">banned for 1 day: spam</span>' in row
    assert ">user_modified</code>" in row
    assert "<dt>sessions revoked</dt> <dd>1</dd>" in row


def test_a_deleted_user_is_named_but_not_linked(history, console):
    response = console.post(f"/console/users/{history.bob}/delete",
                            {"confirm": "bob@example.com"})
    assert response.status_code == 303
    page = console.get("/console/audit").get_data(as_text=True)
    [deleted] = [entry for entry in entries(history.app) if entry.action == "user_deleted"]
    row = row_html(page, deleted.id)
    assert "bob@example.com" in row and history.bob in row
    assert f"/console/users/{history.bob}" not in page
    # Alice still exists and stays linked.
    assert f'href="/console/users/{history.alice}"' in page


def test_an_empty_log_and_an_empty_result_say_so(app, console):
    page = console.get("/console/audit", query_string={"actor": "nobody"}).get_data(
        as_text=True)
    assert "No entry matches these filters" in page and row_ids(page) == []


# --- filters -------------------------------------------------------------------------------------


def test_actor_filter_matches_part_of_the_address_or_the_id(history, console):
    alice = shown(console, actor="ALICE@")
    assert alice == expected(history, actor="alice@")
    assert {entry.action for entry in entries(history.app) if entry.id in alice} == {
        "user_signedup", "login", "token_refreshed", "logout"}
    assert shown(console, actor=history.alice) == alice
    assert shown(console, actor=history.alice[:8]) == alice

    operator = shown(console, actor="operator@")
    assert {entry.action for entry in entries(history.app) if entry.id in operator} == \
        OPERATOR_ACTIONS
    assert operator == expected(history, actor="operator@")
    assert shown(console, actor="carol") == []


@pytest.mark.parametrize("action, count", [
    ("login", 3), ("logout", 1), ("token_refreshed", 1), ("user_signedup", 2),
    ("user_recovery_requested", 1), ("user_modified", 1), ("smtp_test_sent", 1),
    ("operator_login", 1), ("user_deleted", 0),
])
def test_action_filter_is_exact(history, console, action, count):
    ids = shown(console, action=action)
    assert len(ids) == count
    assert ids == expected(history, action=action)


def test_target_filter_matches_the_user_acted_on(history, console):
    [ban] = [entry.id for entry in entries(history.app) if entry.action == "user_modified"]
    assert shown(console, target="bob@") == [ban]
    assert shown(console, target="BOB@EXAMPLE") == [ban]
    assert shown(console, target=history.bob) == [ban]
    assert shown(console, target="alice") == expected(history, target="alice") == []


def test_time_range_is_from_inclusive_to_exclusive(history, console):
    times = history.times
    since, until = times["alice_logout"], times["ban"]
    ids = shown(console, since=since.isoformat(), until=until.isoformat())
    assert ids == expected(history, since=since, until=until)
    assert {entry.action for entry in entries(history.app) if entry.id in ids} == {
        "logout", "user_signedup", "login", "user_recovery_requested"}
    # Minutes only, as a datetime-local field sends it, in UTC.
    ids = shown(console, since=since.strftime("%Y-%m-%dT%H:%M"))
    assert ids == expected(history, since=since)
    ids = shown(console, until=until.strftime("%Y-%m-%dT%H:%M"))
    assert ids == expected(history, until=until)
    # A bare date as To covers the whole day; the day before holds nothing.
    day = times["ban"].date()
    assert shown(console, since=day.isoformat(), until=day.isoformat()) == expected(
        history, since=datetime.combine(day, datetime.min.time(), timezone.utc),
        until=datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc))
    assert shown(console, until=(day - timedelta(days=2)).isoformat()) == []
    # An offset is converted: the same moment written in another zone.
    east = since.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert shown(console, since=east) == expected(history, since=since)


def test_filters_combine(history, console):
    times = history.times
    assert shown(console, actor="alice", action="login") == expected(
        history, actor="alice", action="login")
    assert len(shown(console, actor="alice", action="login")) == 2
    assert shown(console, actor="operator", action="user_modified", target="bob") == expected(
        history, action="user_modified")
    assert shown(console, actor="alice", target="bob") == []
    late = shown(console, actor="alice", action="login", since=times["alice_login"].isoformat())
    assert late == expected(history, actor="alice", action="login", since=times["alice_login"])
    assert len(late) == 1
    assert shown(console, actor="bob", since=times["bob_recovery"].isoformat(),
                 until=times["ban"].isoformat()) == expected(
        history, actor="bob", since=times["bob_recovery"], until=times["ban"])


def test_the_form_keeps_the_filters(history, console):
    page = console.get("/console/audit", query_string={
        "actor": "alice", "action": "logout", "target": "x", "since": "2030-01-02T03:04"}) \
        .get_data(as_text=True)
    assert 'name="actor" type="search" value="alice"' in page
    assert '<option value="logout" selected>' in page
    assert 'name="target" type="search" value="x"' in page
    assert 'value="2030-01-02T03:04"' in page


def test_an_unknown_action_matches_nothing_and_stays_selected(history, console):
    response = console.get("/console/audit", query_string={"action": "made_up<b>"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and row_ids(page) == []
    assert '<option value="made_up&lt;b&gt;" selected>' in page
    assert "made_up<b>" not in page


@pytest.mark.parametrize("filters, message", [
    ({"since": "last week"}, "From: &#39;last week&#39; is not a date"),
    ({"until": "2030-02-30"}, "To: &#39;2030-02-30&#39; is not a date"),
    ({"since": "2030-01-01T25:00"}, "From: &#39;2030-01-01T25:00&#39; is not a date"),
    ({"since": "0001-01-01T00:00-01:00", "actor": "alice"}, None),
    ({"since": "0001-01-01T00:30+01:00"}, "outside the years 1 to 9999"),
    ({"until": "\x00"}, "To: "),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_time_is_a_422_with_the_reason(history, console, filters, message, htmx):
    response = console.get("/console/audit", query_string=filters, htmx=htmx)
    page = response.get_data(as_text=True)
    if message is None:
        # In range after all (it is 01:00 UTC on the first day).
        assert response.status_code == 200
        assert row_ids(page) == expected(history, actor="alice")
        return
    assert response.status_code == 422
    assert message in page and 'role="alert"' in page
    assert row_ids(page) == []


@pytest.mark.parametrize("filters, message", [
    ({"actor": "\x00"}, "Actor: control characters cannot be searched for."),
    ({"target": "a\x00b"}, "Target user: control characters"),
    ({"action": "login\x00"}, "Action: control characters"),
    ({"actor": "line\nbreak", "until": "never"}, "Actor: control characters"),
])
def test_control_characters_are_a_422_not_a_database_error(history, console, filters, message):
    response = console.get("/console/audit", query_string=filters)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("filters", [
    {"actor": "%"}, {"actor": "_"}, {"target": "\\"}, {"actor": "'; DROP TABLE users; --"},
    {"actor": "é" * 400}, {"target": "x" * 5000}, {"action": "login" * 100},
    {"limit": "many"}, {"limit": "-1"}, {"limit": "1e9"}, {"limit": "99999999999999999999"},
    {"before": "garbage"}, {"after": "1.2.3"}, {"before": "9" * 40 + ".00"},
    {"before": "-62135596800000000.0123456789abcdef0123456789abcdef"},
    {"after": "253402300799999999.0123456789abcdef0123456789abcdef"},
    {"since": "0001-01-01", "until": "9999-12-31"},
    {"since": "9999-12-31T23:59:59.999999"},
])
def test_odd_input_never_fails(history, console, filters):
    response = console.get("/console/audit", query_string=filters)
    assert response.status_code in (200, 422), response.get_data(as_text=True)
    fragment = console.get("/console/audit", query_string=filters, htmx=True)
    assert fragment.status_code == response.status_code


def test_wildcards_in_a_filter_match_themselves(history, console):
    assert shown(console, actor="%") == []
    assert shown(console, actor="_") == []
    assert shown(console, target="%") == []


def test_the_whole_calendar_is_a_valid_range(history, console):
    assert shown(console, since="0001-01-01", until="9999-12-31") == expected(history)


# --- pages ---------------------------------------------------------------------------------------


def test_keyset_pages_cover_every_entry_once_both_ways(history, console):
    every = [entry.id for entry in entries(history.app)]
    pages = log_pages.walk(console, "audit", "/console/audit?limit=3", "next")
    assert all(len(ids) == 3 for ids in pages[:-1]) and 1 <= len(pages[-1]) <= 3
    assert [entry for ids in pages for entry in ids] == every

    last = console.get("/console/audit?limit=3").get_data(as_text=True)
    for _ in range(len(pages) - 1):
        last = console.get(pager_link(last, "next")).get_data(as_text=True)
    back = log_pages.walk(console, "audit", pager_link(last, "prev"), "prev")
    assert [entry for ids in reversed(back) for entry in ids] == every[:-len(pages[-1])]


def test_entries_with_the_same_time_are_neither_skipped_nor_repeated(app, api, console):
    freeze_clock(app)
    session = api.session("same@example.com")
    for _ in range(4):
        assert api.login("same@example.com").status_code == 200
    api.refresh(session["refresh_token"])
    same_time = [entry.id for entry in entries(app) if entry.payload["actor_username"]
                 == "same@example.com"]
    assert len(same_time) == 7
    pages = log_pages.walk(console, "audit", "/console/audit?actor=same@&limit=2", "next")
    assert [entry for ids in pages for entry in ids] == same_time


def test_pages_keep_the_filters(history, console):
    page = console.get("/console/audit?actor=alice&limit=2").get_data(as_text=True)
    older = pager_link(page, "next")
    assert "actor=alice" in older and "limit=2" in older
    pages = log_pages.walk(console, "audit", "/console/audit?actor=alice&limit=2", "next")
    assert [entry for ids in pages for entry in ids] == expected(history, actor="alice")


def test_a_malformed_cursor_shows_the_newest_page(history, console):
    assert shown(console, before="nonsense", limit="2") == [
        entry.id for entry in entries(history.app)][:2]


# --- htmx and access -----------------------------------------------------------------------------


def test_htmx_gets_the_results_fragment_and_a_browser_the_page(history, console):
    full = console.get("/console/audit?action=logout")
    fragment = console.get("/console/audit?action=logout", htmx=True)
    expected_ids = expected(history, action="logout")
    for response in (full, fragment):
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
        assert row_ids(response.get_data(as_text=True)) == expected_ids
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card flush" id="audit-results">')
    assert "<html" not in body and "<form" not in body
    page = full.get_data(as_text=True)
    assert "<html" in page and 'hx-target="#audit-results"' in page


def test_the_audit_log_needs_an_operator(history, anonymous_console):
    response = anonymous_console.get("/console/audit")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")


# --- what happened --------------------------------------------------------------------------------


def _user_changes(app, api, console) -> dict[str, str]:
    """One user put through each operator change; the user's id and email."""
    user = api.session("carol@example.com")["user"]
    base = f"/console/users/{user['id']}"
    for path, form in [
        ("/ban", {"duration": "custom", "custom_duration": "7d", "reason": "chargeback"}),
        ("/unban", {}),
        ("/metadata", {"field": "user_metadata", "value": '{"plan": "pro"}',
                       "expected": metadata_fingerprint(user["user_metadata"])}),
        ("/ban", {"duration": "876000h", "reason": "fraud"}),
    ]:
        response = console.post(base + path, form)
        assert response.status_code == 303, (path, response.get_data(as_text=True))
    return user


def test_each_change_reads_as_what_happened(app, api, console):
    user = _user_changes(app, api, console)
    page = console.get("/console/audit", query_string={"target": user["email"]}).get_data(
        as_text=True)
    summaries = re.findall(r'<span class="summary">([^<]*)</span>', page)
    assert summaries == ["banned permanently: fraud", "user metadata edited", "ban lifted",
                         "banned for 7 days: chargeback"]


@pytest.mark.parametrize("happened, summaries", [
    ("bans", ["banned permanently: fraud", "banned for 7 days: chargeback"]),
    ("unbans", ["ban lifted"]),
    ("metadata", ["user metadata edited"]),
    ("confirmations", []),
    ("signups", ["signed up with email"]),
])
def test_what_happened_filters_by_kind_of_event(app, api, console, happened, summaries):
    _user_changes(app, api, console)
    response = console.get("/console/audit", query_string={"happened": happened})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.findall(r'<span class="summary">([^<]*)</span>', page) == summaries
    assert f'<option value="{happened}" selected>' in page


def test_an_unknown_kind_of_event_is_a_422(app, console):
    response = console.get("/console/audit", query_string={"happened": "everything"})
    assert response.status_code == 422
    assert "What happened: choose one of the listed kinds." in response.get_data(as_text=True)
