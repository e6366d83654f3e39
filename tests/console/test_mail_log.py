"""The console's mail log: real sends (signup, recovery, failures against a refusing or absent
SMTP server) listed with status and SMTP error, filters, keyset pages, htmx fragments, and the
SMTP test button talking to a real SMTP sink (aiosmtpd)."""

from __future__ import annotations

import html
import uuid
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import mail_checks
from gotrue_web.extensions import db
from gotrue_web.models import MailLogEntry

from ..conftest import api_for, smtp_settings, table_rows
from ..factories import audit_entries
from ..support import smtp as smtp_support
from . import log_pages
from .conftest import OPERATOR_EMAIL, signed_in

ADMIN_EMAIL = "auth@example.com"

row_ids = partial(log_pages.row_ids, "mail")
row_html = partial(log_pages.row_html, "mail")
pager_link = log_pages.pager_link


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def down_app(make_app):
    """An app whose SMTP server refuses connections (a sink that ran and was stopped)."""
    sink = smtp_support.SMTPSink()
    sink.start()
    sink.stop()
    return make_app(**smtp_settings(sink.port))


def mail_rows(app) -> list[MailLogEntry]:
    """The log as the database has it, newest first (the page's order)."""
    return [row for (row,) in table_rows(app, sa.select(MailLogEntry).order_by(
        MailLogEntry.created_at.desc(), MailLogEntry.id.desc()))]


def seed(app, count: int, *, start: datetime, step: timedelta = timedelta(minutes=1),
         **fields) -> list[uuid.UUID]:
    """``count`` log entries ``step`` apart (a zero step gives them all the same time)."""
    ids = []
    with app.app_context():
        for number in range(count):
            entry = MailLogEntry(
                id=uuid.uuid4(), created_at=start + number * step,
                template=fields.get("template", "recovery"),
                recipient=fields.get("recipient", f"seed-{number}@example.com"),
                subject=fields.get("subject", "Reset your password"),
                status=fields.get("status", "sent"), error=fields.get("error"))
            db.session.add(entry)
            ids.append(entry.id)
        db.session.commit()
    return ids


def shown(console, query: str = "", **kwargs) -> list[uuid.UUID]:
    response = console.get(f"/console/mail{query}", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return row_ids(response.get_data(as_text=True))


# --- real sends ----------------------------------------------------------------------------------


def test_signup_and_recovery_emails_are_listed_newest_first(mail_app, mail_console,
                                                            smtp_server):
    api = api_for(mail_app)
    assert api.signup("new.user@example.com").status_code == 200
    assert api.post("/recover", json={"email": "new.user@example.com"}).status_code == 200
    assert len(smtp_server.wait_for("new.user@example.com", count=2)) == 2

    response = mail_console.get("/console/mail")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    recovery, confirmation = mail_rows(mail_app)
    assert (recovery.template, confirmation.template) == ("recovery", "confirmation")
    assert row_ids(page) == [recovery.id, confirmation.id]
    row = row_html(page, recovery.id)
    assert "Reset password" in row and "new.user@example.com" in row
    assert recovery.subject and html.escape(recovery.subject) in row
    assert '<span class="badge ok">Sent</span>' in row
    assert "smtp-error" not in row
    assert recovery.created_at.strftime("%Y-%m-%d %H:%M:%S") in row
    # The recipient links to the user the email was for.
    assert recovery.user_id is not None
    assert f'href="/console/users/{recovery.user_id}"' in row
    assert "Confirm signup" in row_html(page, confirmation.id)
    assert 'id="smtp-unset"' not in page


def test_a_refused_email_shows_failed_with_the_smtp_error(mail_app, mail_console, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Message rejected: spam detected"
    # Sent after the answer (services/mail/outbox.py): the signup itself succeeded.
    assert api_for(mail_app).signup("refused@example.com").status_code == 200

    page = mail_console.get("/console/mail").get_data(as_text=True)
    [entry] = mail_rows(mail_app)
    assert (entry.template, entry.recipient, entry.status) == (
        "confirmation", "refused@example.com", "failed")
    assert "554 5.7.1 Message rejected: spam detected" in entry.error
    row = row_html(page, entry.id)
    assert '<span class="badge danger">Failed</span>' in row
    assert f'<span class="sub smtp-error">{html.escape(entry.error)}</span>' in row
    # The user exists (only its undelivered code was forgotten): the row links to it.
    assert f"/console/users/{entry.user_id}" in row


def test_an_unreachable_smtp_server_is_logged_with_its_error(down_app, service_role_token):
    console = signed_in(down_app)
    assert api_for(down_app).post("/recover", json={"email": "x@example.com"}).status_code == 200
    api_for(down_app, service_role_token).admin(
        "POST", "/invite", json={"email": "invited@example.com"})

    page = console.get("/console/mail").get_data(as_text=True)
    [entry] = mail_rows(down_app)
    assert (entry.template, entry.status) == ("invite", "failed") and entry.error
    row = row_html(page, entry.id)
    assert "Invite user" in row and "invited@example.com" in row
    assert html.escape(entry.error) in row


def test_without_an_smtp_host_emails_are_not_sent_and_the_page_says_so(make_app):
    app = make_app(**{"mailer.autoconfirm": False})
    console = signed_in(app)
    assert api_for(app).signup("quiet@example.com").status_code == 200

    page = console.get("/console/mail").get_data(as_text=True)
    [entry] = mail_rows(app)
    assert (entry.status, entry.error) == ("not_sent", None)
    row = row_html(page, entry.id)
    assert '<span class="badge warn">Not sent</span>' in row
    assert "No SMTP host configured" in row
    assert 'id="smtp-unset"' in page and "GOTRUE_SMTP_HOST" in page


def test_an_empty_log_says_how_it_fills(console):
    page = console.get("/console/mail").get_data(as_text=True)
    assert "No email yet" in page and 'rel="next"' not in page
    page = console.get("/console/mail?recipient=nobody").get_data(as_text=True)
    assert "No email matches these filters" in page


# --- htmx ----------------------------------------------------------------------------------------


def test_htmx_gets_the_results_fragment_and_a_browser_the_page(mail_app, mail_console):
    api_for(mail_app).signup("frag@example.com")
    [entry] = mail_rows(mail_app)

    full = mail_console.get("/console/mail?recipient=frag")
    fragment = mail_console.get("/console/mail?recipient=frag", htmx=True)
    boosted = mail_console.get("/console/mail?recipient=frag", htmx=True,
                               headers={"HX-Boosted": "true"})
    for response in (full, fragment, boosted):
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
        assert row_ids(response.get_data(as_text=True)) == [entry.id]
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card flush" id="mail-results">')
    assert "<html" not in body and "SMTP test" not in body and "<form" not in body
    for page in (full.get_data(as_text=True), boosted.get_data(as_text=True)):
        assert "<html" in page and 'id="mail-results"' in page
        assert 'action="/console/mail/test"' in page
        # The filter form keeps what was asked.
        assert 'name="recipient" type="search" value="frag"' in page


# --- filters -------------------------------------------------------------------------------------


@pytest.fixture
def filtered_log(mail_app):
    """Entries a day apart from 2030-01-01 with different templates, statuses and recipients."""
    start = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    day = timedelta(days=1)
    ids = {}
    ids["alice_sent"] = seed(mail_app, 1, start=start, recipient="Alice@Example.com",
                             template="confirmation")[0]
    ids["alice_failed"] = seed(mail_app, 1, start=start + day, recipient="alice@example.com",
                               template="recovery", status="failed",
                               error="554 5.7.1 rejected")[0]
    ids["bob_invite"] = seed(mail_app, 1, start=start + 2 * day, recipient="bob@example.org",
                             template="invite")[0]
    ids["percent"] = seed(mail_app, 1, start=start + 3 * day, recipient="100%_off@example.net",
                          template="magic_link", status="not_sent")[0]
    ids["smtp_test"] = seed(mail_app, 1, start=start + 4 * day, recipient="ops@example.com",
                            template="smtp_test")[0]
    return ids


@pytest.mark.parametrize("query, expected", [
    ("", ["smtp_test", "percent", "bob_invite", "alice_failed", "alice_sent"]),
    # A case-insensitive part of the address.
    ("?recipient=ALICE", ["alice_failed", "alice_sent"]),
    ("?recipient=example.org", ["bob_invite"]),
    # LIKE wildcards match themselves only.
    ("?recipient=%25", ["percent"]),
    ("?recipient=_", ["percent"]),
    ("?recipient=0%25_o", ["percent"]),
    ("?template=invite", ["bob_invite"]),
    ("?template=smtp_test", ["smtp_test"]),
    ("?status=failed", ["alice_failed"]),
    ("?status=not_sent", ["percent"]),
    ("?status=sent", ["smtp_test", "bob_invite", "alice_sent"]),
    # From is inclusive, a bare date as To includes that whole day.
    ("?since=2030-01-02T12:00", ["smtp_test", "percent", "bob_invite", "alice_failed"]),
    ("?since=2030-01-02T12:00:01", ["smtp_test", "percent", "bob_invite"]),
    ("?until=2030-01-02", ["alice_failed", "alice_sent"]),
    ("?until=2030-01-02T12:00", ["alice_sent"]),
    ("?since=2030-01-02&until=2030-01-03", ["bob_invite", "alice_failed"]),
    # An offset is honoured: 13:00+01:00 is 12:00 UTC.
    ("?since=2030-01-05T13:00%2B01:00", ["smtp_test"]),
    ("?since=2030-01-05T12:00:00Z", ["smtp_test"]),
    # The ends of the calendar are bounds like any other.
    ("?since=0001-01-01&until=9999-12-31",
     ["smtp_test", "percent", "bob_invite", "alice_failed", "alice_sent"]),
    ("?until=0001-01-01", []),
    # Combined filters all apply.
    ("?recipient=alice&status=sent", ["alice_sent"]),
    ("?recipient=example&template=recovery&since=2030-01-02&until=2030-01-02",
     ["alice_failed"]),
    ("?recipient=alice&template=invite", []),
])
def test_each_filter_and_their_combination(mail_console, filtered_log, query, expected):
    assert shown(mail_console, query) == [filtered_log[name] for name in expected]


@pytest.mark.parametrize("query, message", [
    ("?since=yesterday", "From: &#39;yesterday&#39; is not a date"),
    ("?until=2030-13-45", "To: &#39;2030-13-45&#39; is not a date"),
    ("?template=welcome", "there is no template &#39;welcome&#39;"),
    ("?status=bounced", "&#39;bounced&#39; is not sent, failed or not_sent"),
    # PostgreSQL refuses NUL in a query: caught before it gets there.
    ("?recipient=a%00b", "Recipient: control characters cannot be searched for."),
    ("?recipient=a%0D%0Abcc", "Recipient: control characters cannot be searched for."),
    # Before the year 1 in UTC: refused, not a crash.
    ("?since=0001-01-01T00:00%2B05:00",
     "From: &#39;0001-01-01T00:00+05:00&#39; is outside the years 1 to 9999"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_filter_input_is_a_422_with_the_reason(mail_console, filtered_log, query, message,
                                                   htmx):
    response = mail_console.get(f"/console/mail{query}", htmx=htmx)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert row_ids(page) == []


@pytest.mark.parametrize("query", [
    "?before=garbage", "?after=not.a-cursor", "?before=99999999999999999999999.00",
    "?before=-99999999999999999.0123456789abcdef0123456789abcdef", "?limit=lots",
    "?limit=-5", "?limit=99999999999999999999", "?recipient=" + "a" * 5000,
    "?recipient=%00", "?recipient=%C3%28", "?template=%00", "?since=%00",
    # Cursors at the first and last microsecond Python knows.
    "?before=-62135596800000000.0123456789abcdef0123456789abcdef",
    "?after=253402300799999999.0123456789abcdef0123456789abcdef",
])
def test_odd_query_strings_never_fail(mail_console, filtered_log, query):
    response = mail_console.get(f"/console/mail{query}")
    assert response.status_code in (200, 422), response.get_data(as_text=True)


def test_a_malformed_cursor_shows_the_newest_page(mail_console, filtered_log):
    assert shown(mail_console, "?before=garbage&limit=2") == [filtered_log["smtp_test"],
                                                              filtered_log["percent"]]


# --- pages ---------------------------------------------------------------------------------------


def test_keyset_pages_cover_every_entry_once_both_ways(mail_app, mail_console):
    start = datetime(2030, 6, 1, tzinfo=timezone.utc)
    seed(mail_app, 4, start=start)
    # Entries sharing a timestamp are ordered by id, so none is skipped or repeated.
    seed(mail_app, 3, start=start + timedelta(minutes=2), step=timedelta(0))
    seed(mail_app, 2, start=start + timedelta(hours=1), recipient="other@example.com")
    expected = [entry.id for entry in mail_rows(mail_app)]
    assert len(expected) == 9

    older_pages = log_pages.walk(mail_console, "mail", "/console/mail?limit=2", "next")
    assert [len(ids) for ids in older_pages] == [2, 2, 2, 2, 1]
    assert [entry for ids in older_pages for entry in ids] == expected

    # From the last page, the newer links lead back through the same pages.
    last = mail_console.get("/console/mail?limit=2").get_data(as_text=True)
    for _ in range(4):
        last = mail_console.get(pager_link(last, "next")).get_data(as_text=True)
    assert pager_link(last, "next") is None
    newer_pages = log_pages.walk(mail_console, "mail", pager_link(last, "prev"), "prev")
    assert [entry for ids in reversed(newer_pages) for entry in ids] == expected[:8]
    assert "Newest" in last


def test_pages_keep_the_filters(mail_app, mail_console):
    start = datetime(2030, 6, 1, tzinfo=timezone.utc)
    wanted = seed(mail_app, 5, start=start, recipient="keep@example.com", status="failed",
                  error="451 try later")
    seed(mail_app, 5, start=start, step=timedelta(seconds=61), recipient="keep@example.com")
    seed(mail_app, 5, start=start, recipient="drop@example.com", status="failed")
    pages = log_pages.walk(mail_console, "mail",
                           "/console/mail?recipient=keep&status=failed&limit=2", "next")
    assert [entry for ids in pages for entry in ids] == list(reversed(wanted))
    page = mail_console.get("/console/mail?recipient=keep&status=failed&limit=2") \
        .get_data(as_text=True)
    older = pager_link(page, "next")
    assert "recipient=keep" in older and "status=failed" in older and "limit=2" in older


def test_the_default_page_size_and_its_limit(mail_app, mail_console):
    seed(mail_app, 205, start=datetime(2030, 6, 1, tzinfo=timezone.utc),
         step=timedelta(seconds=1))
    assert len(shown(mail_console)) == 50
    assert len(shown(mail_console, "?limit=500")) == 200
    assert len(shown(mail_console, "?limit=0")) == 1


# --- the SMTP test button ----------------------------------------------------------------------


def test_smtp_test_sends_through_the_configured_server_and_is_logged_and_audited(
        mail_app, mail_console, smtp_server):
    response = mail_console.post("/console/mail/test", {"to": "Ops@Example.com"},
                                 environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/mail"

    [message] = smtp_server.wait_for("ops@example.com")
    assert message["Subject"] == mail_checks.SMTP_TEST_SUBJECT
    assert ADMIN_EMAIL in str(message["From"])
    assert f"127.0.0.1:{smtp_server.port}" in smtp_support.html_body(message)

    [entry] = mail_rows(mail_app)
    assert (entry.template, entry.recipient, entry.status, entry.error) == (
        "smtp_test", "ops@example.com", "sent", None)
    [payload] = audit_entries(mail_app, "smtp_test_sent")
    assert payload["actor_username"] == OPERATOR_EMAIL
    assert payload["actor_name"] == "operator"
    assert payload["traits"] == {"to": "ops@example.com", "status": "sent",
                                 "server": f"127.0.0.1:{smtp_server.port}"}
    assert payload["ip_address"] == "203.0.113.9"

    page = mail_console.get("/console/mail").get_data(as_text=True)
    assert f"SMTP test sent to ops@example.com through 127.0.0.1:{smtp_server.port}" in page
    row = row_html(page, entry.id)
    assert "SMTP test" in row and '<span class="badge ok">Sent</span>' in row


def test_smtp_test_defaults_to_the_operator_and_works_from_htmx(mail_app, mail_console,
                                                               smtp_server):
    page = mail_console.get("/console/mail").get_data(as_text=True)
    assert f'name="to" type="email" value="{OPERATOR_EMAIL}"' in page
    response = mail_console.post("/console/mail/test", {"to": ""}, htmx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/console/mail"
    assert len(smtp_server.wait_for(OPERATOR_EMAIL)) == 1
    assert [entry.recipient for entry in mail_rows(mail_app)] == [OPERATOR_EMAIL]


def test_smtp_test_reports_a_refusal_with_the_smtp_error(mail_app, mail_console, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Relay access denied"
    response = mail_console.post("/console/mail/test", {"to": "ops@example.com"})
    assert response.status_code == 303
    assert smtp_server.messages == []

    page = mail_console.get("/console/mail").get_data(as_text=True)
    assert '<div class="flash error" role="alert">SMTP test failed:' in page
    assert "554 5.7.1 Relay access denied" in page
    [entry] = mail_rows(mail_app)
    assert entry.status == "failed" and "554 5.7.1 Relay access denied" in entry.error
    [payload] = audit_entries(mail_app, "smtp_test_sent")
    assert payload["traits"]["status"] == "failed"
    assert "554 5.7.1 Relay access denied" in payload["traits"]["error"]


def test_smtp_test_reports_a_server_that_is_down(down_app):
    console = signed_in(down_app)
    response = console.post("/console/mail/test", {"to": "ops@example.com"})
    assert response.status_code == 303

    page = console.get("/console/mail").get_data(as_text=True)
    [entry] = mail_rows(down_app)
    assert entry.status == "failed" and entry.error
    assert f"SMTP test failed: {html.escape(entry.error)}" in page
    [payload] = audit_entries(down_app, "smtp_test_sent")
    assert payload["traits"]["status"] == "failed" and payload["traits"]["error"] == entry.error


def test_smtp_test_without_an_smtp_host_says_nothing_was_sent(app, console):
    response = console.post("/console/mail/test", {"to": "ops@example.com"})
    assert response.status_code == 303
    page = console.get("/console/mail").get_data(as_text=True)
    assert ('<div class="flash error" role="alert">Nothing was sent: no SMTP server is '
            "configured (GOTRUE_SMTP_HOST).</div>") in page
    assert "No SMTP server is configured: the attempt is only recorded as not sent." in page
    [entry] = mail_rows(app)
    assert (entry.template, entry.status) == ("smtp_test", "not_sent")
    [payload] = audit_entries(app, "smtp_test_sent")
    assert payload["traits"] == {"to": "ops@example.com", "status": "not_sent", "server": ""}


@pytest.mark.parametrize("to", ["not an address", "a@b@c", "x" * 300 + "@example.com"])
def test_smtp_test_to_a_bad_address_sends_nothing(mail_app, mail_console, smtp_server, to):
    response = mail_console.post("/console/mail/test", {"to": to})
    assert response.status_code == 303
    page = mail_console.get("/console/mail").get_data(as_text=True)
    assert '<div class="flash error" role="alert">' in page
    assert smtp_server.messages == [] and mail_rows(mail_app) == []
    assert audit_entries(mail_app, "smtp_test_sent") == []


@pytest.mark.parametrize("htmx", [False, True])
def test_smtp_test_needs_the_csrf_token(mail_app, mail_console, smtp_server, htmx):
    response = mail_console.post("/console/mail/test", {"to": "ops@example.com"}, csrf=False,
                                 htmx=htmx)
    assert response.status_code == 400
    assert smtp_server.messages == [] and mail_rows(mail_app) == []
    assert audit_entries(mail_app, "smtp_test_sent") == []


def test_smtp_test_is_a_post_and_needs_an_operator(mail_app, anonymous_console, smtp_server):
    assert anonymous_console.get("/console/mail").status_code == 303
    response = anonymous_console.post("/console/mail/test", {"to": "ops@example.com"})
    assert response.status_code in (303, 400)
    console = signed_in(mail_app)
    assert console.get("/console/mail/test").status_code == 405
    assert smtp_server.messages == [] and mail_rows(mail_app) == []
    assert audit_entries(mail_app, "smtp_test_sent") == []
