"""The console's realm-wide sessions page: the live sessions of every user (order, columns,
filters, keyset pages both ways, the capped count, htmx fragments), revoking one session, and
signing out everyone a filter matches or everyone, after a typed confirmation, in batches.

Sessions that must really work (refresh before and after) come from password sign-ins through
the API; sessions with chosen times, addresses and levels are rows made here, as the services
leave them. Every action is checked in the database, in the audit log and by the refresh grant.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.console import sessions_page
from gotrue_web.console.operations.realm_sessions import listing, sign_out
from gotrue_web.console.operations.realm_sessions.filters import SessionFilters
from gotrue_web.extensions import db
from gotrue_web.models import AAL, RefreshToken, Session
from gotrue_web.runtime import RequestInfo
from gotrue_web.services.audit import Actor

from .. import factories
from ..conftest import table_rows
from ..factories import PASSWORD, audit_entries, create_user, session_ids, sign_in, unique_email
from .conftest import signed_in
from .support_users import assert_operator_entry, operator_entries, unescape

ROW = re.compile(r'<tr id="session-([0-9a-f-]{36})"')
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@pytest.fixture(autouse=True)
def clock(app):
    return factories.freeze_clock(app)


def add_user(app, email: str | None = "", **traits) -> uuid.UUID:
    """A user row; a fresh address unless told (None: no email)."""
    return factories.make_user(app, unique_email() if email == "" else email, **traits)


def add_session(app, user_id, *, active, created=None, ip="192.0.2.1", aal=AAL.aal1,
                agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", refreshed=None,
                not_after=None, factor_id=None) -> uuid.UUID:
    """A session row as the services leave it, last active (updated_at) at ``active``."""
    session_id = uuid.uuid4()
    with app.app_context():
        db.session.add(Session(
            id=session_id, user_id=user_id, created_at=created or active or _now(app) - DAY,
            updated_at=active, refreshed_at=refreshed, aal=aal, ip=ip, user_agent=agent,
            not_after=not_after, factor_id=factor_id))
        db.session.commit()
    return session_id


def _now(app):
    return app.extensions["gotrue"].now()


def listed(response) -> list[uuid.UUID]:
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:3000]
    return [uuid.UUID(found) for found in ROW.findall(html)]


def link(response, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', response.get_data(as_text=True))
    return unescape(match.group(1)) if match else None


def token_rows(app, session_id) -> int:
    return table_rows(app, sa.select(sa.func.count()).select_from(RefreshToken)
                      .where(RefreshToken.session_id == session_id))[0][0]


def session_of(access_token: str) -> uuid.UUID:
    return uuid.UUID(factories.claims(access_token)["session_id"])


def signed_in_user(api, count: int = 1, ip: str | None = None) -> tuple[dict, list[dict]]:
    """A user signed in ``count`` times through the API (from ``ip`` when given)."""
    email = unique_email()
    user = create_user(api, email, password=PASSWORD)
    if ip:
        api.client.environ_base["REMOTE_ADDR"] = ip
    try:
        return user, [sign_in(api, email) for _ in range(count)]
    finally:
        api.client.environ_base.pop("REMOTE_ADDR", None)


# --- the list ------------------------------------------------------------------------------------


def test_lists_live_sessions_most_recent_activity_first_with_their_columns(app, console,
                                                                           clock):
    now = clock.now
    ann = add_user(app, "ann@example.com", phone="15550001111")
    bob = add_user(app, None, phone="15550002222")
    factor = factories.add_factor(app, ann, name="Ann's phone app")
    agent = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
             "Gecko) Version/17.5 Safari/605.1.15")
    recent = add_session(app, bob, active=now - MINUTE, ip="2001:db8::7")
    mfa = add_session(app, ann, active=now - HOUR, created=now - DAY, refreshed=now - 30 * MINUTE,
                      ip="203.0.113.9", aal=AAL.aal2, factor_id=factor, agent=agent)
    older = add_session(app, ann, active=now - 2 * HOUR, agent=None, ip=None)
    add_session(app, ann, active=now - 3 * HOUR, not_after=now - MINUTE)  # expired

    page = console.get("/console/sessions")
    assert listed(page) == [recent, mfa, older]
    html = unescape(page.get_data(as_text=True))
    row = html[html.index(f'id="session-{mfa}"'):html.index(f'id="session-{older}"')]
    assert f'href="/console/users/{ann}">ann@example.com</a>' in row
    assert "+15550001111" in row
    assert f'title="{agent}">Safari 17 on macOS</td>' in row
    assert "<code>203.0.113.9</code>" in row and 'class="badge ok">aal2<' in row
    assert f'datetime="{now - DAY:%Y-%m-%dT%H:%M:%SZ}"' in row  # created
    # The last refresh: refreshed_at before updated_at.
    assert f'datetime="{now - 30 * MINUTE:%Y-%m-%dT%H:%M:%SZ}"' in row and ">30 min ago<" in row
    assert "Ann's phone app" in row and "totp" in row
    first = html[html.index(f'id="session-{recent}"'):html.index(f'id="session-{mfa}"')]
    assert f'href="/console/users/{bob}">+15550002222</a>' in first
    assert f'datetime="{now - MINUTE:%Y-%m-%dT%H:%M:%SZ}"' in first and ">1 min ago<" in first
    last = html[html.index(f'id="session-{older}"'):]
    assert 'class="muted">unknown<' in last and 'class="badge">aal1<' in last
    assert "3 live sessions." in html
    assert '<a class="nav active" href="/console/sessions"' in html


@pytest.mark.parametrize(("agent", "shown"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge 126 on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.6478.122 Mobile Safari/537.36", "Chrome 126 on Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
     "Firefox 128 on Linux"),
    ("supabase-js/2.45.1 node", "supabase-js/2.45.1"),
    ("x" * 300, "x" * (listing.DEVICE_LENGTH - 1) + "…"),
    ("", ""), (None, ""),
])
def test_devices_are_named_in_a_few_words(agent, shown):
    assert listing.device_of(agent) == shown


@pytest.mark.parametrize(("before", "said"), [
    (timedelta(seconds=-5), "just now"), (timedelta(seconds=59), "just now"),
    (timedelta(minutes=1), "1 min ago"), (timedelta(minutes=59, seconds=59), "59 min ago"),
    (timedelta(hours=5), "5 h ago"), (timedelta(days=3, hours=23), "3 d ago"),
])
def test_last_activity_reads_as_time_ago(clock, before, said):
    assert listing.ago(clock.now - before, clock.now) == said


def test_the_timebox_and_the_inactivity_timeout_end_sessions_as_the_users_list_says(make_app):
    app = make_app(**{"sessions.timebox": 7 * DAY, "sessions.inactivity_timeout": 2 * HOUR})
    now = factories.freeze_clock(app).now
    console = signed_in(app)
    user = add_user(app)
    live = add_session(app, user, active=now - HOUR, created=now - HOUR)
    refreshed = add_session(app, user, active=now - 3 * HOUR, created=now - DAY,
                            refreshed=now - HOUR)
    add_session(app, user, active=now - MINUTE, created=now - 8 * DAY)  # past the timebox
    add_session(app, user, active=now - 3 * HOUR, created=now - 3 * HOUR)  # idle too long
    assert set(listed(console.get("/console/sessions"))) == {live, refreshed}


def test_htmx_gets_the_results_alone_from_the_same_template(app, console, clock):
    session = add_session(app, add_user(app), active=clock.now)
    response = console.get("/console/sessions?aal=aal1", htmx=True)
    html = response.get_data(as_text=True)
    assert listed(response) == [session]
    assert "<html" not in html and 'class="users-summary"' in html
    assert "HX-Request" in response.headers["Vary"]
    restore = console.get("/console/sessions", headers={"HX-Request": "true",
                                                        "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_the_count_stops_at_the_cap_until_asked_for_all(app, console, clock, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    user = add_user(app)
    for minutes in range(4):
        add_session(app, user, active=clock.now - minutes * MINUTE)
    html = console.get("/console/sessions").get_data(as_text=True)
    assert "More than 2 live sessions." in html and "Count them all" in html
    html = console.get("/console/sessions?count=all").get_data(as_text=True)
    assert "4 live sessions (exact count)." in html


# --- filters -------------------------------------------------------------------------------------


@pytest.fixture
def realm(app, clock):
    """Named sessions for the filter tests."""
    now = clock.now
    ann = add_user(app, "ann.lee@example.com", name="Ann Lee")
    bob = add_user(app, "bob@example.org", phone="4915112345678")
    return {
        "ann": ann, "bob": bob,
        "ann_office": add_session(app, ann, active=now - 10 * MINUTE, ip="203.0.113.7"),
        "ann_mfa": add_session(app, ann, active=now - 3 * HOUR, ip="203.0.113.70", aal=AAL.aal2),
        "ann_old": add_session(app, ann, active=now - 3 * DAY, ip="198.51.100.4", aal=None),
        "bob_home": add_session(app, bob, active=now - 20 * MINUTE, ip="2001:db8::1"),
        "bob_mfa": add_session(app, bob, active=now - 2 * DAY, ip="2001:db8:1::5", aal=AAL.aal2),
    }


@pytest.mark.parametrize(("query", "expected"), [
    ({"user": "ann.lee@"}, ["ann_office", "ann_mfa", "ann_old"]),
    ({"user": "Ann Lee"}, ["ann_office", "ann_mfa", "ann_old"]),  # a name, through the index
    ({"user": "example.org"}, ["bob_home", "bob_mfa"]),  # part of an email
    ({"user": "+49 151"}, ["bob_home", "bob_mfa"]),  # the start of a phone number
    ({"user": "nobody@example.com"}, []),
    ({"ip": "203.0.113.7"}, ["ann_office"]),  # a whole address: exactly that one
    ({"ip": "203.0.113."}, ["ann_office", "ann_mfa"]),
    ({"ip": "2001:DB8:"}, ["bob_home", "bob_mfa"]),
    ({"ip": "2001:db8::1"}, ["bob_home"]),
    ({"aal": "aal2"}, ["ann_mfa", "bob_mfa"]),
    ({"aal": "aal1"}, ["ann_office", "bob_home", "ann_old"]),  # no level counts as aal1
    ({"idle": "1h"}, ["ann_mfa", "bob_mfa", "ann_old"]),
    ({"idle": "2d"}, ["ann_old"]),
    ({"idle": "1d12h"}, ["bob_mfa", "ann_old"]),
    ({"user": "ann.lee@", "aal": "aal2"}, ["ann_mfa"]),
    ({"ip": "203.0.113.", "idle": "30m"}, ["ann_mfa"]),
    ({"user": "bob@", "ip": "2001:db8:", "aal": "aal1"}, ["bob_home"]),
])
def test_each_filter_and_their_combinations(app, console, realm, query, expected):
    response = console.get("/console/sessions", query_string=query)
    assert listed(response) == [realm[name] for name in expected]


def test_active_since_and_the_user_id(app, console, realm, clock):
    since = (clock.now - 4 * HOUR).strftime("%Y-%m-%dT%H:%M")
    response = console.get("/console/sessions", query_string={"active_since": since})
    assert listed(response) == [realm[n] for n in ("ann_office", "bob_home", "ann_mfa")]
    for user_text in (str(realm["bob"]), str(realm["bob"])[:8]):
        response = console.get("/console/sessions", query_string={"user": user_text})
        assert listed(response) == [realm["bob_home"], realm["bob_mfa"]]
    response = console.get("/console/sessions", query_string={
        "active_since": since, "idle": "1h", "user": "ann"})
    assert listed(response) == [realm["ann_mfa"]]


@pytest.mark.parametrize("query", [
    {"ip": "203.0.113.7; drop table"}, {"ip": "10.0.0.0/8"}, {"aal": "aal9"},
    {"active_since": "yesterday"}, {"active_since": "99999-01-01"}, {"idle": "forever"},
    {"idle": "0"}, {"idle": "-5m"}, {"idle": "99999999999999d"}, {"user": "x" * 300},
    {"user": "ann\x00"}, {"ip": "\x00"}, {"after": "zzz"}, {"before": "1.nothex"},
    {"after": "99999999999999999999999.00000000000000000000000000000000"},
    {"after": "-.0", "before": "-.0"}, {"per_page": "0"}, {"per_page": "abc"},
    {"per_page": "100000"},
])
def test_odd_input_is_refused_in_words_never_a_500(app, console, realm, query):
    page = console.get("/console/sessions", query_string=query)
    assert page.status_code == 400
    assert 'class="form-error" role="alert"' in page.get_data(as_text=True)
    fragment = console.get("/console/sessions", query_string=query, htmx=True)
    assert fragment.status_code == 422 and "<html" not in fragment.get_data(as_text=True)
    confirm = console.get("/console/sessions/sign-out", query_string=query)
    assert confirm.status_code in (200, 400)
    posted = console.post("/console/sessions/sign-out?" + _encoded(query), {"confirm": "1"})
    assert posted.status_code in (400, 422)
    assert len(session_ids(app)) == 5


def _encoded(query: dict) -> str:
    from urllib.parse import urlencode
    return urlencode(query)


# --- keyset pages --------------------------------------------------------------------------------


def test_keyset_pages_forwards_and_backwards_with_ties_and_no_activity(app, console, clock):
    user = add_user(app)
    moments = [clock.now - minutes * MINUTE for minutes in (1, 2, 2, 2, 5, 9, 9)]
    made = [add_session(app, user, active=moment) for moment in moments]
    without_activity = [add_session(app, user, active=None, created=clock.now - HOUR)
                        for _ in range(2)]
    reference = [row[0] for row in table_rows(app, sa.select(Session.id).where(
        Session.id.in_(made)).order_by(Session.updated_at.desc(), Session.id.desc()))]
    reference += [row[0] for row in table_rows(app, sa.select(Session.id).where(
        Session.id.in_(without_activity)).order_by(Session.id.desc()))]

    pages, url = [], "/console/sessions?per_page=3"
    while url:
        response = console.get(url)
        pages.append(listed(response))
        url = link(response, "next")
    assert [len(page) for page in pages] == [3, 3, 3]
    assert [found for page in pages for found in page] == reference

    back = []
    url = link(console.get(f"/console/sessions?per_page=3&after="
                           f"{listing.Cursor(None, reference[-1]).encode()}"), "prev")
    assert url is not None  # past the end: the way back
    response = console.get(url)
    back.append(listed(response))
    while link(response, "prev"):
        response = console.get(link(response, "prev"))
        back.append(listed(response))
    assert back == list(reversed(pages))


# --- revoking one session ------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_revoke_one_session_from_the_list(app, console, api, htmx):
    user, (revoked, kept) = signed_in_user(api, 2)
    other, (untouched,) = signed_in_user(api, 1)
    revoked_id = session_of(revoked["access_token"])
    assert token_rows(app, revoked_id) == 1
    query = f"user={user['email']}&per_page=10"
    response = console.post(f"/console/sessions/{revoked_id}/revoke?{query}", htmx=htmx)
    message = f"Session of {user['email']} revoked; its refresh token no longer works."
    if htmx:
        assert response.status_code == 200
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {"message": message,
                                                                       "kind": "ok"}
        assert "<html" not in response.get_data(as_text=True)
        assert listed(response) == [session_of(kept["access_token"])]
    else:
        assert response.status_code == 303
        location = response.headers["Location"]
        assert location.startswith("/console/sessions?")
        assert factories.query(location) == {"user": user["email"], "per_page": "10"}
        page = console.get(response.headers["Location"])
        assert message in unescape(page.get_data(as_text=True))
        assert listed(page) == [session_of(kept["access_token"])]
    assert session_ids(app, user["id"]) == {session_of(kept["access_token"])}
    assert token_rows(app, revoked_id) == 0
    assert api.refresh(revoked["refresh_token"]).status_code == 400
    assert api.refresh(kept["refresh_token"]).status_code == 200
    assert api.refresh(untouched["refresh_token"]).status_code == 200
    assert_operator_entry(app, "token_revoked", user["id"], session_id=str(revoked_id),
                          user_email=user["email"])
    assert len(operator_entries(app, "token_revoked")) == 1
    assert len(session_ids(app, other["id"])) == 1


@pytest.mark.parametrize("target", [str(uuid.UUID(int=7)), "not-a-session", "%00"])
@pytest.mark.parametrize("htmx", [False, True])
def test_revoking_a_session_that_is_gone_changes_nothing(app, console, api, target, htmx):
    signed_in_user(api, 1)
    response = console.post(f"/console/sessions/{target}/revoke", htmx=htmx)
    if htmx:
        assert response.status_code == 422
        toast = json.loads(response.headers["HX-Trigger"])["toast"]
        assert toast == {"message": "This session has ended already.", "kind": "error"}
    else:
        assert response.status_code == 303
        page = console.get(response.headers["Location"])
        assert "This session has ended already." in page.get_data(as_text=True)
    assert len(session_ids(app)) == 1 and operator_entries(app, "token_revoked") == []


# --- signing out many ----------------------------------------------------------------------------


def test_sign_out_everyone_matching_a_filter_leaves_the_others(app, console, api):
    office_a, (a1, a2) = signed_in_user(api, 2, ip="198.51.100.7")
    office_b, (b1,) = signed_in_user(api, 1, ip="198.51.100.8")
    home, (h1,) = signed_in_user(api, 1, ip="192.0.2.44")
    page = console.get("/console/sessions?ip=198.51.100.")
    assert 'href="/console/sessions/sign-out?ip=198.51.100."' in page.get_data(as_text=True)
    confirm = console.get("/console/sessions/sign-out?ip=198.51.100.")
    html = " ".join(unescape(confirm.get_data(as_text=True)).split())
    assert confirm.status_code == 200
    assert "<strong>3 sessions</strong> of <strong>2 users</strong> will end." in html
    assert "Type <code>3</code> to confirm" in html and "IP starting with 198.51.100." in html
    assert 'action="/console/sessions/sign-out?ip=198.51.100."' in html

    response = console.post("/console/sessions/sign-out?ip=198.51.100.", {"confirm": " 3 "})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/sessions?ip=198.51.100."
    after = console.get(response.headers["Location"])
    assert "Signed out 3 sessions of 2 users." in after.get_data(as_text=True)
    assert listed(after) == []
    for token in (a1, a2, b1):
        assert api.refresh(token["refresh_token"]).status_code == 400
    assert api.refresh(h1["refresh_token"]).status_code == 200
    assert_operator_entry(app, "token_revoked", office_a["id"], sessions_revoked=2,
                          user_email=office_a["email"])
    assert_operator_entry(app, "token_revoked", office_b["id"], sessions_revoked=1)
    assert len(operator_entries(app, "token_revoked")) == 2
    assert token_rows(app, session_of(a1["access_token"])) == 0


@pytest.mark.parametrize("typed", [None, "", "yes", "3", "everyone please", "every one"])
def test_sign_everyone_out_needs_the_word_everyone(app, console, api, typed):
    user, sessions = signed_in_user(api, 2)
    other, _ = signed_in_user(api, 1)
    confirm = console.get("/console/sessions/sign-out")
    assert "Type <code>everyone</code> to confirm" in confirm.get_data(as_text=True)
    assert "<strong>3 sessions</strong>" in confirm.get_data(as_text=True)
    response = console.post("/console/sessions/sign-out",
                            {} if typed is None else {"confirm": typed})
    assert response.status_code == 422
    assert "Type everyone to confirm. Nobody was signed out." in response.get_data(as_text=True)
    assert len(session_ids(app)) == 3 and operator_entries(app, "token_revoked") == []
    assert api.refresh(sessions[0]["refresh_token"]).status_code == 200


def test_sign_everyone_out(app, console, api):
    users = [signed_in_user(api, count) for count in (1, 2, 3)]
    response = console.post("/console/sessions/sign-out", {"confirm": "Everyone"}, htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/console/sessions"
    assert "Signed out 6 sessions of 3 users." in console.get("/console/sessions").get_data(
        as_text=True)
    assert session_ids(app) == set()
    for user, sessions in users:
        assert_operator_entry(app, "token_revoked", user["id"], sessions_revoked=len(sessions))
        assert all(api.refresh(s["refresh_token"]).status_code == 400 for s in sessions)


@pytest.mark.parametrize("typed", ["everyone", "2", "", "3 sessions"])
def test_a_filtered_sign_out_needs_the_current_number(app, console, api, typed):
    signed_in_user(api, 3, ip="198.51.100.9")
    signed_in_user(api, 1)
    response = console.post("/console/sessions/sign-out?ip=198.51.100.9", {"confirm": typed})
    assert response.status_code == 422
    assert "Type 3 to confirm. Nobody was signed out." in response.get_data(as_text=True)
    assert len(session_ids(app)) == 4 and operator_entries(app, "token_revoked") == []


def test_nothing_to_sign_out_is_said_so(app, console, api):
    signed_in_user(api, 1)
    confirm = console.get("/console/sessions/sign-out?ip=10.9.")
    assert "No live session matches" in confirm.get_data(as_text=True)
    response = console.post("/console/sessions/sign-out?ip=10.9.", {"confirm": "0"})
    assert response.status_code == 422 and len(session_ids(app)) == 1


def test_sign_out_runs_in_batches_with_one_audit_entry_per_user(app, console, clock,
                                                                monkeypatch):
    monkeypatch.setattr(sign_out, "BATCH_SIZE", 2)
    users = [add_user(app) for _ in range(5)]
    counts = [1, 3, 2, 1, 4]
    for user, count in zip(users, counts):
        for index in range(count):
            add_session(app, user, active=clock.now - index * MINUTE, ip="192.0.2.200")
    spared = add_session(app, add_user(app), active=clock.now, ip="192.0.2.2")
    response = console.post("/console/sessions/sign-out?ip=192.0.2.200", {"confirm": "11"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "Signed out 11 sessions of 5 users." in console.get("/console/sessions").get_data(
        as_text=True)
    assert session_ids(app) == {spared}
    for user, count in zip(users, counts):
        assert_operator_entry(app, "token_revoked", user, sessions_revoked=count)


def test_a_sign_out_out_of_time_stops_between_batches_and_can_go_on(app, console, clock,
                                                                     monkeypatch):
    monkeypatch.setattr(sign_out, "BATCH_SIZE", 2)
    monkeypatch.setattr(sessions_page, "SIGN_OUT_BUDGET_SECONDS", 0)
    for _ in range(3):
        add_session(app, add_user(app), active=clock.now)
    response = console.post("/console/sessions/sign-out", {"confirm": "everyone"})
    html = console.get(response.headers["Location"]).get_data(as_text=True)
    assert ("Signed out 2 sessions of 2 users. Time ran out before the end: sign out again to "
            "end the rest.") in html
    assert len(session_ids(app)) == 1
    console.post("/console/sessions/sign-out", {"confirm": "everyone"})
    assert session_ids(app) == set()
    assert len(operator_entries(app, "token_revoked")) == 3


def test_sessions_begun_after_a_sign_out_started_are_left_alone(app, clock, monkeypatch):
    monkeypatch.setattr(sign_out, "BATCH_SIZE", 1)
    for _ in range(2):
        add_session(app, add_user(app), active=clock.now)
    late_user = add_user(app, id=uuid.UUID(int=2**128 - 1))  # found by the last batch
    rt = app.extensions["gotrue"]
    with app.test_request_context():
        batches = sign_out.sign_out(rt, SessionFilters(), Actor(),
                                    RequestInfo(ip="192.0.2.9", user_agent="", aud=""))
        assert next(batches).sessions == 1
        db.session.commit()
        clock.advance(seconds=1)
        late = add_session(app, late_user, active=clock.now, created=clock.now)
        assert [batch.sessions for batch in batches] == [1, 0]
        db.session.commit()
    assert session_ids(app) == {late}


# --- who may ---------------------------------------------------------------------------------


def test_everything_needs_a_signed_in_operator(app, anonymous_console, api):
    _, (kept,) = signed_in_user(api, 1)
    session_id = session_of(kept["access_token"])
    for path in ("/console/sessions", "/console/sessions/sign-out"):
        response = anonymous_console.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/console/login")
    anonymous_console.get("/console/login")  # a CSRF token, but nobody signed in
    for path, data in ((f"/console/sessions/{session_id}/revoke", {}),
                       ("/console/sessions/sign-out", {"confirm": "everyone"})):
        response = anonymous_console.post(path, data)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/console/login")
        assert anonymous_console.post(path, data, htmx=True).status_code == 401
    assert session_ids(app) == {session_id}
    assert api.refresh(kept["refresh_token"]).status_code == 200


def test_every_action_needs_the_csrf_token(app, console, api):
    _, (kept,) = signed_in_user(api, 1)
    session_id = session_of(kept["access_token"])
    for path, data in ((f"/console/sessions/{session_id}/revoke", {}),
                       ("/console/sessions/sign-out", {"confirm": "everyone"})):
        assert console.post(path, data, csrf=False).status_code == 400
        assert console.post(path, data, csrf=False, htmx=True).status_code == 400
    assert session_ids(app) == {session_id}
    assert [e for e in audit_entries(app) if e["action"] == "token_revoked"] == []


def test_refresh_keeps_a_session_on_top_of_the_list(app, console, api, clock):
    _, (first, second) = signed_in_user(api, 2)
    clock.advance(seconds=30)
    assert api.refresh(first["refresh_token"]).status_code == 200
    assert listed(console.get("/console/sessions"))[:2] == [session_of(first["access_token"]),
                                                            session_of(second["access_token"])]
