"""Bulk actions on the users list in a real headless Chromium: tick rows on a page, or every
user the filters match; confirm with the typed number; watch the run go batch by batch (htmx
asks for each next batch by itself) to the end, and find the audit entries.

The README's docs/screenshots/bulk-actions.png comes from here (artifacts/screenshots/
bulk-actions.png, 1280x900, the confirmation of a ban with the number typed).
"""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from gotrue_web.console.operations.bulk import runner
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, User

from ..factories import make_user
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.live

NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson",
         "Margaret Hamilton", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
         "Frances Allen", "John Backus", "Radia Perlman", "Ken Thompson"]
# Of the people above, those who signed up and never confirmed their address.
UNCONFIRMED = 5


@pytest.fixture
def people(app) -> dict[str, uuid.UUID]:
    ids = {}
    for index, name in enumerate(NAMES):
        email = name.lower().replace(" ", ".") + "@example.com"
        ids[email] = make_user(app, email, name=name, password="user-password-123",
                               confirmed=index >= UNCONFIRMED)
    return ids


def sign_in(page: Page, operator) -> None:
    email, password = operator
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/console/login"))
    page.goto("/console/users")


def users_where(app, *conditions) -> list[User]:
    with app.app_context():
        return db.session.execute(sa.select(User).where(*conditions)).scalars().all()


def no_browser_problems(page: Page) -> None:
    assert not page.problems.items, "\n".join(page.problems.items)


def test_tick_users_on_a_page_confirm_and_ban_them(page, app, operator, people, screenshot):
    sign_in(page, operator)
    chosen = ["ada.lovelace@example.com", "alan.turing@example.com", "grace.hopper@example.com"]
    count = page.locator("[data-bulk-count]")
    for email in chosen:
        page.get_by_label(f"Select {email}").check()
    expect(count).to_have_text("3 ticked")
    page.get_by_label("Action for several users").select_option("ban")
    screenshot(page, "bulk-actions-ticked")
    page.get_by_role("button", name="Apply to ticked").click()

    expect(page).to_have_url(re.compile(r"/console/users/bulk$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Ban 3 users")
    for email in chosen:
        expect(page.locator("ul.bulk-named")).to_contain_text(email)
    page.get_by_label("Ban for").select_option("168h")
    page.get_by_label("Reason").fill("Coordinated spam from one network")
    field = page.get_by_label("This will ban 3 users. Type 3 to confirm.")
    field.fill("3")
    page.set_viewport_size({"width": 1280, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "bulk-actions.png"), animations="disabled")

    # A wrong number is refused and nothing happens; the form keeps what was typed.
    field.fill("4")
    page.get_by_role("button", name="Ban 3 users").click()
    expect(page.locator("#bulk-confirm .form-error")).to_contain_text("Type 3 to confirm")
    expect(page.get_by_label("Reason")).to_have_value("Coordinated spam from one network")
    assert users_where(app, User.banned_until.is_not(None)) == []
    page.get_by_label("This will ban 3 users. Type 3 to confirm.").fill("3")
    page.get_by_role("button", name="Ban 3 users").click()

    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    expect(page.locator(".bulk-status")).to_have_text(re.compile(r"Banned 3 of 3 users\.\s*$"))
    banned = {user.email for user in users_where(app, User.banned_until.is_not(None))}
    assert banned == set(chosen)
    screenshot(page, "bulk-actions-done")

    page.get_by_role("link", name="See the audit log").click()
    expect(page).to_have_url(re.compile(r"/console/audit\?"))
    expect(page.locator("table.audit-log tbody tr")).to_have_count(3)
    no_browser_problems(page)


def test_select_all_matching_runs_every_batch_by_itself(page, app, operator, people,
                                                        monkeypatch, screenshot):
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    sign_in(page, operator)

    # "Select all on this page" ticks every row, and unticks them again.
    everyone = page.get_by_label("Select all on this page")
    everyone.check()
    expect(page.locator("[data-bulk-count]")).to_have_text(f"{len(NAMES)} ticked")
    everyone.uncheck()
    expect(page.locator("[data-bulk-count]")).to_have_text("0 ticked")

    page.get_by_label("State").select_option("unconfirmed")
    expect(page).to_have_url(re.compile(r"state=unconfirmed"))
    expect(page.locator("#users-results table.users tbody tr")).to_have_count(UNCONFIRMED)
    page.get_by_label("Action for several users").select_option("delete")
    page.get_by_role("button", name=f"Apply to all {UNCONFIRMED} matching").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete {UNCONFIRMED} users")
    expect(page.locator("#bulk-selection")).to_contain_text("State: Unconfirmed")
    page.get_by_label(re.compile(r"Type \d+ to confirm")).fill(str(UNCONFIRMED))
    page.get_by_role("button", name=f"Delete {UNCONFIRMED} users").click()

    # Three batches of two, one after the other, without a click.
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    expect(page.locator(".bulk-status")).to_have_text(
        re.compile(rf"Deleted {UNCONFIRMED} of {UNCONFIRMED} users\.\s*$"))
    expect(page.locator("progress")).to_have_attribute("value", str(UNCONFIRMED))
    left = {user.email for user in users_where(app)}
    assert left == {email for email in people if list(people).index(email) >= UNCONFIRMED}
    with app.app_context():
        deleted = db.session.execute(sa.select(AuditLogEntry)).scalars().all()
    assert sum(1 for e in deleted if e.payload["action"] == "user_deleted") == UNCONFIRMED
    screenshot(page, "bulk-actions-deleted")

    page.get_by_role("link", name="Back to the users list").click()
    expect(page.locator("#users-results")).to_contain_text("No users match these filters")
    no_browser_problems(page)


def test_pause_stops_between_batches_and_continue_goes_on(page, app, operator, people,
                                                          monkeypatch):
    monkeypatch.setattr(runner, "BATCH_SIZE", 1)
    real_batch = runner.run_batch
    pressed = threading.Event()
    batches = []

    def held_batch(*args, **kwargs):
        # After the first batch ("In progress"), each waits until Pause has been pressed: the
        # press always lands while a batch is on its way, however slow the machine (a fixed
        # delay per batch let a slow browser miss the whole run).
        batches.append(1)
        if len(batches) > 1:
            pressed.wait(timeout=30)
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(runner, "run_batch", held_batch)
    sign_in(page, operator)
    page.get_by_label("Select all on this page").check()
    page.get_by_label("Action for several users").select_option("sign_out")
    page.get_by_role("button", name="Apply to ticked").click()
    page.get_by_label(re.compile(r"Type \d+ to confirm")).fill(str(len(NAMES)))
    page.get_by_role("button", name=f"Sign out {len(NAMES)} users").click()

    expect(page.get_by_role("heading", name="In progress")).to_be_visible()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Pausing after this batch…")).to_be_disabled()
    pressed.set()
    expect(page.get_by_role("button", name="Paused")).to_be_visible()
    status = page.locator(".bulk-status").inner_text()
    page.wait_for_timeout(1500)
    # Nothing more happened while paused.
    assert page.locator(".bulk-status").inner_text() == status
    assert "Done" not in page.locator("#bulk-progress h2").inner_text()

    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=30_000)
    expect(page.locator(".bulk-status")).to_have_text(
        re.compile(rf"Signed out 0 of {len(NAMES)} users · {len(NAMES)} skipped\.\s*$"))
    expect(page.locator("ul.bulk-reasons")).to_contain_text(f"{len(NAMES)} no session to end")
    no_browser_problems(page)
