"""The console's Overview page (/console/overview), the home of the console: charts made from
what real requests wrote (sign-ups, sign-ins by method, users signing in, wrong MFA codes, mail
and text messages), sorted into hours and days at the right edges, the range switch, the
minute-long cache, and the "Needs attention" items with their counts and links.

The app's clock is stopped at NOW, so buckets fall on known hours and days."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from gotrue_web.console.operations.overview import attention
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, MailOutboxRow, SMSLogEntry

from ..api.mfa.support import challenged, enrolled_totp, verify
from ..conftest import ApiClient, api_for
from ..factories import (
    PASSWORD,
    count,
    create_user,
    freeze_clock,
    make_user,
    sign_in,
    statements_sent,
    unique_email,
)
from .conftest import ConsoleClient, signed_in
from .support_users import unescape

NOW = datetime(2030, 3, 6, 10, 30, tzinfo=timezone.utc)  # a Wednesday
PAGE = "/console/overview"
_ROW = re.compile(r'<tr>\s*<th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', re.S)
_HEADER = re.compile(r'<th scope="col"[^>]*>(.*?)</th>')
_CELL = re.compile(r'<td class="num">([^<]*)</td>')


# --- helpers ------------------------------------------------------------------------------------


def _start(make_app, **overrides):
    """An app stopped at NOW with a signed-in console and the API (admin calls allowed)."""
    app = make_app(**{"mailer.autoconfirm": True, "external.anonymous_users_enabled": True,
                      **overrides})
    clock = freeze_clock(app, NOW)
    console = signed_in(app)
    return app, clock, console


def _api(app, service_role_token) -> ApiClient:
    return api_for(app, service_role_token)


def _page(console: ConsoleClient, query: str = "", **kwargs) -> str:
    response = console.get(PAGE + query, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _section(page: str, section_id: str) -> str:
    start = page.index(">", page.index(f'id="{section_id}"')) + 1
    return page[start:page.index("</section>", start)]


def _item(page: str, key: str) -> str:
    start = page.index(">", page.index(f'id="attention-{key}"')) + 1
    ends = [page.find(marker, start) for marker in ('class="attention-item', "</section>")]
    return page[start:min(end for end in ends if end > 0)]


def _text(html: str) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return unescape(re.sub(r" ([:,.;)])", r"\1", text)).strip()


def _table(page: str, chart: str) -> dict[str, dict[str, int]]:
    """The chart's table: {row label: {column: value}}, rows newest first."""
    section = _section(page, f"chart-{chart}")
    columns = [_text(header) for header in _HEADER.findall(section)][1:]
    return {_text(label): dict(zip(columns, (int(v.replace(",", "")) for v in _CELL.findall(rest))))
            for label, rest in _ROW.findall(section)}


def _summary(page: str, chart: str) -> str:
    return _text(re.search(rf'<desc id="chart-{chart}-svg-desc">(.*?)</desc>', page, re.S)
                 .group(1))


def _links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'<a [^>]*href="([^"]+)"', html)]


def _at(clock, **delta) -> datetime:
    clock.now = NOW - timedelta(**delta)
    return clock.now


def _add_rows(app, *rows) -> None:
    with app.app_context():
        db.session.add_all(rows)
        db.session.commit()


def _sms(status: str, at: datetime) -> SMSLogEntry:
    return SMSLogEntry(id=uuid.uuid4(), created_at=at, kind="confirmation",
                       recipient="15550100", channel="sms", provider="twilio", status=status)


# --- the home page ------------------------------------------------------------------------------


def test_the_console_home_and_the_sign_in_lead_to_the_overview(app, make_operator,
                                                               anonymous_console):
    make_operator()
    assert anonymous_console.get("/console/overview").status_code in (302, 303)
    response = anonymous_console.login()
    assert response.headers["Location"] == "/console/overview"
    home = anonymous_console.get("/console/")
    assert (home.status_code, home.headers["Location"]) == (303, "/console/overview")
    page = _page(anonymous_console)
    nav = page[page.index('<nav class="sidebar"'):page.index("</nav>")]
    assert re.findall(r'class="nav[^"]*"[^>]*>([^<]+)<', nav)[0] == "Overview"
    assert 'aria-current="page">Overview<' in re.sub(r"\s+", " ", nav)


def test_an_empty_server_shows_zeros_and_nothing_to_do(make_app):
    _, _, console = _start(make_app)
    page = _page(console)
    assert "<h1>Overview</h1>" in page
    assert "What happened in the last 7 days" in page and "As of 10:30 UTC" in page
    assert _summary(page, "signins") == "0 sign-ins in the last 7 days."
    assert list(_table(page, "signups")) == [
        "Wed 6 Mar", "Tue 5 Mar", "Mon 4 Mar", "Sun 3 Mar", "Sat 2 Mar", "Fri 1 Mar",
        "Thu 28 Feb"]
    assert "Needs attention nothing" in _text(_section(page, "attention"))
    for key in ("unconfirmed", "bans", "mail", "locked", "hot"):
        assert 'class="attention-item level-ok"' in page.split(f'id="attention-{key}"')[0][-80:]


# --- charts ---------------------------------------------------------------------------------------


def test_sign_ups_and_sign_ins_by_method_from_real_requests(make_app, service_role_token):
    app, clock, console = _start(make_app)
    api = _api(app, service_role_token)
    # Two days ago: a user is made and signs in twice with a password.
    _at(clock, days=2)
    email = unique_email("ada")
    create_user(api, email, password=PASSWORD)
    sign_in(api, email)
    sign_in(api, email)
    # Today: an anonymous sign-in and another password sign-in, and an MFA step-up (not a
    # sign-in of its own).
    _at(clock, hours=1)
    assert api.post("/signup", json={}).status_code == 200
    session = sign_in(api, email)
    factor = enrolled_totp(api, session["access_token"])
    chal = challenged(api, session["access_token"], factor["id"])
    assert verify(api, session["access_token"], factor["id"], chal["id"],
                  "000000").status_code == 422
    clock.now = NOW

    page = _page(console)
    signups = _table(page, "signups")
    assert signups["Mon 4 Mar"] == {"New users": 1}
    assert signups["Wed 6 Mar"] == {"New users": 1}  # the anonymous user
    assert sum(row["New users"] for row in signups.values()) == 2
    signins = _table(page, "signins")
    assert signins["Mon 4 Mar"] == {"Password": 2, "Anonymous": 0, "Total": 2}
    assert signins["Wed 6 Mar"] == {"Password": 1, "Anonymous": 1, "Total": 2}
    assert _summary(page, "signins") == ("4 sign-ins in the last 7 days: 3 password, "
                                         "1 anonymous. The most, 2, on Wed 6 Mar.")
    # Each user once, when they last signed in: Ada moved from Monday to today.
    users = _table(page, "users")
    assert users["Mon 4 Mar"] == {"Last signed in": 0}
    assert users["Wed 6 Mar"] == {"Last signed in": 2}
    assert _summary(page, "users").startswith("2 active users in the last 7 days.")
    assert "4 sessions were started or refreshed during the last 7 days." in _text(
        _section(page, "chart-users"))
    failures = _table(page, "failures")
    assert failures["Wed 6 Mar"] == {"Wrong MFA codes": 1}
    # The bars are drawn, with their values in their tooltips.
    signins_svg = _section(page, "chart-signins")
    assert "<title>Mon 4 Mar: 2 password</title>" in signins_svg
    assert 'class="tone-accent"' in signins_svg and 'class="tone-faint"' in signins_svg
    assert 'style=' not in page[page.index('id="overview-body"'):]


def test_buckets_are_hours_of_the_last_day_and_days_of_the_month(make_app, service_role_token):
    app, clock, console = _start(make_app)
    api = _api(app, service_role_token)
    # Each at an edge: the first instant of a bucket, the last before the range.
    for moment in (NOW.replace(minute=0), NOW.replace(minute=0) - timedelta(microseconds=1),
                   NOW.replace(hour=0, minute=0) - timedelta(days=29),
                   NOW.replace(hour=0, minute=0) - timedelta(days=29, microseconds=1)):
        clock.now = moment
        create_user(api, unique_email("edge"))
    clock.now = NOW

    day = _page(console, "?range=day")
    hours = _table(day, "signups")
    assert len(hours) == 24
    assert list(hours)[:2] == ["6 Mar 10:00–11:00", "6 Mar 09:00–10:00"]
    assert list(hours)[-1] == "5 Mar 11:00–12:00"
    assert hours["6 Mar 10:00–11:00"] == {"New users": 1}
    assert hours["6 Mar 09:00–10:00"] == {"New users": 1}
    assert sum(row["New users"] for row in hours.values()) == 2
    assert "What happened in the last 24 hours" in day
    assert re.findall(r'<text x="[^"]+" y="182" text-anchor="middle">([^<]+)</text>',
                      _section(day, "chart-signups")) == ["12:00", "18:00", "00:00", "06:00"]

    month = _table(_page(console, "?range=month"), "signups")
    assert len(month) == 30 and list(month)[-1] == "Tue 5 Feb"
    assert month["Tue 5 Feb"] == {"New users": 1}  # its first instant
    assert month["Wed 6 Mar"] == {"New users": 2}
    assert sum(row["New users"] for row in month.values()) == 3  # not the one before


def test_mail_and_text_messages_by_status(make_app, closed_port):
    app, clock, console = _start(make_app, **{"smtp.host": "127.0.0.1",
                                              "smtp.port": closed_port,
                                              "smtp.admin_email": "admin@example.com"})
    # An SMTP test from the console that cannot connect: a failed attempt in the mail log.
    assert console.post("/console/mail/test", {"to": "ops@example.com"}).status_code == 303
    _add_rows(app, _sms("sent", NOW - timedelta(days=1)), _sms("sent", NOW),
              _sms("failed", NOW - timedelta(minutes=5)))
    page = _page(console)
    assert _table(page, "mail")["Wed 6 Mar"] == {"Sent": 0, "Failed": 1, "Total": 1}
    sms = _table(page, "sms")
    assert sms["Tue 5 Mar"] == {"Sent": 1, "Failed": 0, "Total": 1}
    assert sms["Wed 6 Mar"] == {"Sent": 1, "Failed": 1, "Total": 2}
    assert _summary(page, "sms").startswith("3 messages in the last 7 days: 2 sent, 1 failed.")
    legend = _text(_section(page, "chart-sms"))
    assert "sent 2 failed 1" in legend


# --- range switch, htmx and the cache -----------------------------------------------------------


def test_the_range_switch_is_a_link_and_htmx_gets_only_the_body(make_app):
    _, _, console = _start(make_app)
    page = _page(console)
    switch = page[page.index('aria-label="Time range"'):]
    switch = switch[:switch.index("</nav>")]
    assert _links(switch) == ["/console/overview?range=day", "/console/overview?range=week",
                              "/console/overview?range=month"]
    assert 'hx-target="#overview-body"' in switch and 'hx-push-url="true"' in switch
    assert re.search(r'range=week"[^>]*aria-current="page"', re.sub(r"\s+", " ", switch))

    response = console.get(PAGE + "?range=month", htmx=True)
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert fragment.lstrip().startswith('<div id="overview-body">') and "<html" not in fragment
    assert "the last 30 days" in fragment
    # Back after a pushed URL: htmx asks for the whole page to restore.
    restore = console.get(PAGE + "?range=month", htmx=True,
                          headers={"HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)
    # An unknown range is the default one.
    assert "What happened in the last 7 days" in _page(console, "?range=year")


def test_counts_are_kept_a_minute_and_finished_days_for_good(make_app, service_role_token):
    app, clock, console = _start(make_app)
    api = _api(app, service_role_token)
    _page(console)
    create_user(api, unique_email("new"))
    with statements_sent(app) as sent:
        page = _page(console)
    assert not [s for s in sent if "users" in s and "GROUP BY" in s.upper()], sent
    assert _table(page, "signups")["Wed 6 Mar"] == {"New users": 0}

    clock.advance(seconds=61)
    page = _page(console)
    assert _table(page, "signups")["Wed 6 Mar"] == {"New users": 1}
    assert "As of 10:31 UTC" in page
    # A day that is over was counted once: a row written into it later is not seen...
    clock.now = NOW - timedelta(days=2)
    create_user(api, unique_email("late"))
    clock.now = NOW + timedelta(minutes=3)
    assert _table(_page(console), "signups")["Mon 4 Mar"] == {"New users": 0}
    # ...while another process (a new cache) counts it.
    app.extensions["console_overview"].clear()
    assert _table(_page(console), "signups")["Mon 4 Mar"] == {"New users": 1}


def test_the_overview_reads_time_ranges_and_recounts_only_the_current_day(make_app):
    app, clock, console = _start(make_app)
    charts = ("users", "mfa_amr_claims", "mfa_challenges", "mail_log", "sms_log")

    def reads():
        with statements_sent(app) as sent:
            _page(console, "?range=month")
        return [s for s in sent if s.lstrip().upper().startswith("SELECT")
                and any(f"FROM {table}" in s for table in charts)]

    first = reads()
    # One bounded query per day and chart (30 days, 6 charts), and a few for the attention.
    assert 180 <= len(first) <= 190, first
    # Each is a range of an indexed time (or a capped count), never the whole table.
    unbounded = [s for s in first if not re.search(r"WHERE .*(>=|<|>) ", s, re.S)]
    assert not unbounded, unbounded
    clock.advance(seconds=61)
    again = reads()
    # The days that are over are kept: only today is counted again (the active users chart,
    # whose days change as users sign in again, is counted whole).
    assert sum("FROM mfa_amr_claims" in s for s in again) == 1
    assert sum("FROM mail_log" in s for s in again) == 1 + 1  # today, and the failing mail
    assert sum("last_sign_in_at" in s for s in again) == 30


# --- needs attention ------------------------------------------------------------------------------


def test_unconfirmed_users_older_than_a_day_are_counted_and_linked(make_app, monkeypatch):
    app, _, console = _start(make_app)
    late = [unique_email("late") for _ in range(3)]
    for email, age in zip(late, (timedelta(days=3), timedelta(days=1, hours=11),
                                 timedelta(days=9))):
        make_user(app, email, confirmed=False, created_at=NOW - age)
    # Under a day old, or signed up yesterday (the list filters by day): not yet.
    make_user(app, unique_email("fresh"), confirmed=False, created_at=NOW - timedelta(hours=2))
    make_user(app, unique_email("fresh"), confirmed=False, created_at=NOW - timedelta(hours=30))
    make_user(app, unique_email("invited"), invited=True, created_at=NOW - timedelta(days=5))
    make_user(app, unique_email("fine"), created_at=NOW - timedelta(days=5))

    item = _item(_page(console), "unconfirmed")
    assert _text(item).startswith("3 Unconfirmed after a day Look 3 users have not confirmed "
                                  "their email or phone since signing up on or before "
                                  "04 Mar 2030.")
    [link] = _links(item)
    assert link == "/console/users?state=unconfirmed&created_to=2030-03-04"
    listed = console.get(link).get_data(as_text=True)
    assert all(email in listed for email in late) and "fresh-" not in listed

    monkeypatch.setattr(attention, "CAP", 2)
    app.extensions["console_overview"].clear()
    assert _text(_item(_page(console), "unconfirmed")).startswith("2+ Unconfirmed after a day")


def test_bans_ending_within_a_week_list_the_soonest(make_app):
    app, _, console = _start(make_app)
    soon = make_user(app, unique_email("soon"), banned_until=NOW + timedelta(days=2))
    make_user(app, unique_email("later"), banned_until=NOW + timedelta(days=30))
    make_user(app, unique_email("over"), banned_until=NOW - timedelta(hours=1))
    item = _item(_page(console), "bans")
    assert _text(item).startswith("1 Bans ending soon Look 1 ban ends in the next 7 days")
    assert "ends Fri 08 Mar 10:30 UTC" in _text(item)
    assert _links(item) == [f"/console/users/{soon}", "/console/users?state=banned"]


def test_failing_mail_and_a_stuck_outbox(make_app, closed_port):
    app, _, console = _start(make_app, **{"smtp.host": "127.0.0.1", "smtp.port": closed_port,
                                          "smtp.admin_email": "admin@example.com"})
    console.post("/console/mail/test", {"to": "ops@example.com"})
    item = _item(_page(console), "mail")
    assert _text(item).startswith("1 Failing mail Look 1 attempt to send mail failed in the "
                                  "last 24 hours.")
    [link] = _links(item)
    assert link == "/console/mail?status=failed&since=2030-03-05T10:30:00"
    assert "ops@example.com" in console.get(link).get_data(as_text=True)

    # A row a dispatcher claimed and never finished, due 20 minutes ago.
    _add_rows(app, MailOutboxRow(
        id=uuid.uuid4(), created_at=NOW - timedelta(minutes=25), kind="magic_link",
        status="pending", attempts=1, next_attempt_at=NOW - timedelta(minutes=20),
        claimed_until=NOW + timedelta(hours=1), message_id="<stuck@example.com>"))
    app.extensions["console_overview"].clear()
    page = _page(console)
    assert "1 queued email is more than 10 minutes late" in _text(_item(page, "mail"))
    assert 'class="attention-item level-danger" id="attention-mail"' in page


def test_locked_accounts_and_wrong_passwords_come_from_the_rate_limiter(make_app,
                                                                        service_role_token):
    app, _, console = _start(make_app, **{"rate_limit.password_failures": 3})
    api = _api(app, service_role_token)
    email = unique_email("target")
    user_id = make_user(app, email, password="the-owners-password")
    for n in range(3):
        assert api.client.post("/auth/v1/token?grant_type=password", headers=api.headers(),
                               environ_base={"REMOTE_ADDR": f"10.2.0.{n}"},
                               json={"email": email, "password": "guess"}).status_code == 400
    page = _page(console)
    item = _item(page, "locked")
    assert _text(item).startswith("1 Locked accounts Look 1 account is refused password "
                                  "sign-in after too many wrong passwords.")
    assert f"{email} from every client" in _text(item)
    assert _links(item) == [f"/console/users/{user_id}", "/console/rate-limits"]
    assert ("Right now the rate limiter counts 3 wrong passwords for 1 account in the last "
            "hour.") in _text(_section(page, "chart-failures"))
    # The password_account key is spent: a hot spot too.
    hot = _text(_item(page, "hot"))
    assert hot.startswith("1 Rate-limit hot spots Act now 1 key uses half of a limit or more; "
                          "1 is refused until the window moves on.")
    assert f"password_account: email:{email} 3 of 3, resets in" in hot


def test_a_counter_storage_that_does_not_answer_is_said_not_hidden(make_app):
    _, _, console = _start(make_app, **{"rate_limit.storage_url": "redis://127.0.0.1:1/0"})
    page = _page(console)
    assert _text(_item(page, "locked")).startswith(
        "— Locked accounts Unknown Cannot be told now: the rate limiter's counter storage does "
        "not answer.")
    assert _text(_item(page, "hot")).startswith("— Rate-limit hot spots Act now The rate "
                                                "limiter's counter storage does not answer")
    assert "Wrong passwords in the last hour cannot be read now" in page


def test_reading_the_overview_writes_nothing(make_app, service_role_token):
    app, _, console = _start(make_app)
    create_user(_api(app, service_role_token), unique_email("someone"))
    before = count(app, AuditLogEntry)
    with statements_sent(app) as sent:
        for name in ("day", "week", "month"):
            _page(console, f"?range={name}")
    assert not [s for s in sent if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                and "operators" not in s]
    assert count(app, AuditLogEntry) == before


@pytest.mark.parametrize("name", ["day", "week", "month"])
def test_every_chart_has_a_text_alternative(make_app, name):
    _, _, console = _start(make_app)
    page = _page(console, f"?range={name}")
    for chart in ("signups", "signins", "users", "failures", "mail", "sms"):
        section = _section(page, f"chart-{chart}")
        assert f'aria-labelledby="chart-{chart}-svg-title"' in section
        assert f'aria-describedby="chart-{chart}-svg-desc"' in section
        assert "<summary>As a table" in section and "<table" in section
