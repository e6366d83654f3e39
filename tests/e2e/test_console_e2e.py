"""The operator console in a real headless Chromium: sign in, search and filter users, open one,
ban and unban, revoke a session, invite, edit a template and watch the preview, and the logs.

Each test also fails on anything the browser reports that a person would not see (a CSP
violation, a script error, a failed request), and saves full-page screenshots of the pages it
visits under artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from gotrue_web.console.operations.operators import LOGIN_REFUSED
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, EmailTemplate, Session, User

from ..support.smtp import html_body

pytestmark = pytest.mark.live

PASSWORD = "user-password-123"
PEOPLE = [
    ("ada.lovelace@example.com", "Ada Lovelace"),
    ("grace.hopper@example.com", "Grace Hopper"),
    ("alan.turing@example.com", "Alan Turing"),
    ("katherine.johnson@example.com", "Katherine Johnson"),
    ("margaret.hamilton@example.com", "Margaret Hamilton"),
    ("edsger.dijkstra@example.com", "Edsger Dijkstra"),
    ("barbara.liskov@example.com", "Barbara Liskov"),
]
BANNED = ("mallory@example.com", "Mallory Banned")
UNCONFIRMED = ("new.signup@example.com", "Not Confirmed Yet")


@dataclass
class People:
    ids: dict[str, uuid.UUID]


@pytest.fixture
def people(admin_api) -> People:
    """A small user base created through the admin API, as an application would."""
    ids = {}
    for email, name in [*PEOPLE, BANNED, UNCONFIRMED]:
        response = admin_api.admin("POST", "/admin/users", json={
            "email": email, "password": PASSWORD, "email_confirm": email != UNCONFIRMED[0],
            "user_metadata": {"full_name": name}})
        assert response.status_code == 200, response.get_data(as_text=True)
        ids[email] = uuid.UUID(response.get_json()["id"])
    response = admin_api.admin("PUT", f"/admin/users/{ids[BANNED[0]]}",
                               json={"ban_duration": "24h"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return People(ids=ids)


def sign_in_from_api(admin_api, email: str, user_agent: str) -> None:
    response = admin_api.post("/token?grant_type=password",
                              json={"email": email, "password": PASSWORD},
                              headers={"User-Agent": user_agent})
    assert response.status_code == 200, response.get_data(as_text=True)


def sign_in(page: Page, operator) -> None:
    email, password = operator
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/overview$"))
    # The console opens on the overview; the tests that sign in start from the users list.
    page.goto("/console/users")


def expect_feedback(page: Page, text: str | re.Pattern) -> None:
    """A toast (htmx) or a flash (plain post) says what happened."""
    expect(page.locator("#toasts .toast, .flash").filter(has_text=text).first).to_be_visible()


def rows(app, statement):
    with app.app_context():
        return db.session.execute(statement).scalars().all()


def no_browser_problems(page: Page) -> None:
    assert not page.problems.items, "\n".join(page.problems.items)


# --- sign-in and the users list -----------------------------------------------------------------


def test_sign_in_then_search_and_filter_users_in_place(page, live_server, operator, people,
                                                       screenshot):
    email, password = operator
    page.goto("/console/users?q=grace")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "login")

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(LOGIN_REFUSED)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Back where the operator was going.
    expect(page).to_have_url(f"{live_server.url}/console/users?q=grace")
    expect(page.get_by_role("link", name="Users", exact=True)).to_have_attribute(
        "aria-current", "page")

    page.goto("/console/users")
    table = page.locator("#users-results table.users tbody tr")
    expect(table).to_have_count(len(PEOPLE) + 2)
    expect(page.locator(".users-count")).to_contain_text(f"{len(PEOPLE) + 2} users")
    screenshot(page, "users")

    # Typing in the search box swaps the results only, and the address follows.
    page.evaluate("window.sameDocument = true")
    page.get_by_label("Search").fill("lovelace")
    expect(page).to_have_url(re.compile(r"/console/users\?.*q=lovelace"))
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text("ada.lovelace@example.com")
    expect(table.first).to_contain_text("Ada Lovelace")
    assert page.evaluate("window.sameDocument") is True

    # A filter narrows the same way; search and filter combine.
    page.get_by_label("Search").fill("")
    expect(table).to_have_count(len(PEOPLE) + 2)
    page.get_by_label("State").select_option("banned")
    expect(page).to_have_url(re.compile(r"state=banned"))
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text(BANNED[0])
    page.get_by_label("State").select_option("unconfirmed")
    expect(page).to_have_url(re.compile(r"state=unconfirmed"))
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text(UNCONFIRMED[0])
    assert page.evaluate("window.sameDocument") is True

    # The filtered view is a bookmark: loading its URL afresh shows the same rows.
    bookmarked = page.url
    page.goto(bookmarked)
    expect(page.get_by_label("State")).to_have_value("unconfirmed")
    expect(table).to_have_count(1)
    assert page.evaluate("window.sameDocument") is None

    # Signing out ends the session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    expect_feedback(page, "You have signed out.")
    page.goto("/console/users")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    no_browser_problems(page)


# --- one user: ban, unban, sessions -------------------------------------------------------------


def test_open_a_user_ban_unban_and_revoke_a_session(page, app, operator, people, admin_api,
                                                    screenshot):
    ada, ada_id = PEOPLE[0][0], people.ids[PEOPLE[0][0]]
    sign_in_from_api(admin_api, ada, "Firefox on the laptop")
    sign_in(page, operator)

    page.get_by_role("link", name=ada).click()
    expect(page).to_have_url(re.compile(rf"/console/users/{ada_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(ada)
    sessions = page.locator("#sessions tbody tr")
    expect(sessions).to_have_count(1)

    # Ban for 7 days with a reason: the page shows it, sessions are gone, the audit has it.
    page.get_by_label("Ban for").select_option("168h")
    page.get_by_label("Reason").fill("Posting spam in the forum")
    page.get_by_role("button", name="Ban user").click()
    expect_feedback(page, re.compile("ban", re.I))
    expect(page.locator("#user-detail .notice.danger")).to_contain_text(
        "Posting spam in the forum")
    expect(page.locator("#user-detail .page-header .badge.danger")).to_have_text("Banned")
    expect(sessions).to_have_count(0)
    [user] = rows(app, sa.select(User).where(User.id == ada_id))
    assert user.banned_until is not None
    assert rows(app, sa.select(Session).where(Session.user_id == ada_id)) == []
    entries = [e for e in rows(app, sa.select(AuditLogEntry))
               if e.payload.get("actor_username") == operator[0]
               and e.payload.get("traits", {}).get("ban_reason") == "Posting spam in the forum"]
    assert len(entries) == 1
    assert entries[0].ip_address == "127.0.0.1"
    screenshot(page, "user-banned")

    # Unban.
    page.get_by_role("button", name="Unban").click()
    expect_feedback(page, re.compile("unban|lifted|no longer banned", re.I))
    expect(page.locator("#user-detail .notice.danger")).to_have_count(0)
    [user] = rows(app, sa.select(User).where(User.id == ada_id))
    assert user.banned_until is None

    # Two devices sign in; revoke one of them.
    sign_in_from_api(admin_api, ada, "Firefox on the laptop")
    sign_in_from_api(admin_api, ada, "Safari on the phone")
    page.reload()
    expect(sessions).to_have_count(2)
    screenshot(page, "user-detail")
    phone = sessions.filter(has_text="Safari on the phone")
    phone.get_by_role("button", name="Revoke", exact=True).click()
    expect_feedback(page, re.compile("revoked|signed out|ended", re.I))
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("Firefox on the laptop")
    remaining = rows(app, sa.select(Session).where(Session.user_id == ada_id))
    assert [s.user_agent for s in remaining] == ["Firefox on the laptop"]
    no_browser_problems(page)


# --- invitations --------------------------------------------------------------------------------


def test_invite_an_address_and_the_mail_arrives(page, app, operator, people, smtp_server):
    sign_in(page, operator)
    page.get_by_role("link", name="Invitations").click()
    expect(page).to_have_url(re.compile(r"/console/invites$"))
    page.get_by_label("Email addresses").fill("new.colleague@example.com")
    page.get_by_role("button", name="Send invitations").click()
    expect_feedback(page, re.compile("invit", re.I))
    expect(page.locator("#invite-report")).to_contain_text("new.colleague@example.com")

    [message] = smtp_server.wait_for("new.colleague@example.com")
    assert "/verify?token=" in html_body(message) or "token" in html_body(message)
    [user] = rows(app, sa.select(User).where(User.email == "new.colleague@example.com"))
    assert user.invited_at is not None and user.confirmed_at is None
    # The pending list shows it.
    expect(page.locator("#invites")).to_contain_text("new.colleague@example.com")
    no_browser_problems(page)


# --- email templates ----------------------------------------------------------------------------


def test_edit_a_template_and_watch_the_preview(page, app, operator, people, smtp_server,
                                               screenshot):
    sign_in(page, operator)
    page.get_by_role("link", name="Email templates").click()
    expect(page).to_have_url(re.compile(r"/console/templates$"))
    screenshot(page, "templates")
    page.goto("/console/templates/invite")
    preview = page.frame_locator("iframe.preview")
    expect(preview.locator("body")).not_to_contain_text("Welcome aboard")

    page.get_by_label("Subject").fill("Join the team, {{ .Email }}")
    page.get_by_label("HTML body").fill(
        '<h1>Welcome aboard</h1>\n<p>Hello {{ .Email }}, your team is waiting.</p>\n'
        '<p><a href="{{ .ConfirmationURL }}">Accept the invitation</a></p>')
    # The preview follows the editor, with sample values substituted.
    expect(preview.locator("h1")).to_have_text("Welcome aboard")
    expect(preview.get_by_role("link", name="Accept the invitation")).to_be_visible()
    expect(preview.locator("body")).not_to_contain_text("{{")
    expect(page.locator("#preview-subject")).to_contain_text("Join the team, ")
    expect(page.locator("#preview-subject")).not_to_contain_text("{{")

    page.get_by_role("button", name="Save template").click()
    expect_feedback(page, re.compile("saved", re.I))
    stored = rows(app, sa.select(EmailTemplate))
    assert [(t.kind, t.subject) for t in stored] == [("invite", "Join the team, {{ .Email }}")]
    expect(preview.locator("h1")).to_have_text("Welcome aboard")
    screenshot(page, "template-editor")

    # A broken template is shown as such in the preview, and is not saved.
    page.get_by_label("HTML body").fill("<p>{{ if .Email }}never closed</p>")
    expect(page.locator("#preview-error")).to_be_visible()

    # Invitations now use the saved template.
    page.goto("/console/invites")
    page.get_by_label("Email addresses").fill("templated@example.com")
    page.get_by_role("button", name="Send invitations").click()
    expect_feedback(page, re.compile("invit", re.I))
    [message] = smtp_server.wait_for("templated@example.com")
    assert message["Subject"] == "Join the team, templated@example.com"
    assert "Welcome aboard" in html_body(message)
    no_browser_problems(page)


# --- logs and settings --------------------------------------------------------------------------


def test_mail_log_audit_log_and_settings_pages(page, app, operator, people, smtp_server,
                                               screenshot):
    sign_in(page, operator)
    page.goto("/console/invites")
    page.get_by_label("Email addresses").fill("logged@example.com")
    page.get_by_role("button", name="Send invitations").click()
    expect_feedback(page, re.compile("invit", re.I))
    smtp_server.wait_for("logged@example.com")

    page.get_by_role("link", name="Mail log").click()
    expect(page).to_have_url(re.compile(r"/console/mail$"))
    expect(page.locator("main")).to_contain_text("logged@example.com")
    page.get_by_role("button", name=re.compile("SMTP test", re.I)).click()
    expect_feedback(page, re.compile("SMTP test", re.I))
    screenshot(page, "mail-log")

    page.get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(re.compile(r"/console/audit$"))
    expect(page.locator("main")).to_contain_text("operator_login")
    expect(page.locator("main")).to_contain_text(operator[0])
    screenshot(page, "audit-log")

    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/console/settings$"))
    main = page.locator("main")
    expect(main).to_contain_text("127.0.0.1")  # the SMTP host is shown
    expect(main).not_to_contain_text("test-jwt-secret-that-is-long-enough-for-hs256")
    screenshot(page, "settings")

    page.goto("/console/profile")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    screenshot(page, "profile")
    no_browser_problems(page)
