"""Operators and roles in a real headless Chromium (issue 15): an owner invites an operator from
the operators page, the invitee opens the link in another browser, chooses a password, signs in
and works with the role they were given; a viewer is offered no action at all."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from gotrue_web.console.operations import operators
from gotrue_web.extensions import db

from ..support.smtp import links
from .conftest import ACTION_TIMEOUT_MS, REPORT_CSP_VIOLATIONS, BrowserProblems

pytestmark = pytest.mark.live

INVITEE = "support.person@example.com"
INVITEE_PASSWORD = "support-password-123"
CUSTOMER = "customer@example.com"
SIGNED_IN = re.compile(r"/console/(overview|users)$")


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(SIGNED_IN)


def no_browser_problems(page: Page) -> None:
    assert not page.problems.items, "\n".join(page.problems.items)


@pytest.fixture
def customer(admin_api) -> str:
    response = admin_api.admin("POST", "/admin/users", json={
        "email": CUSTOMER, "password": "customer-password-1", "email_confirm": True})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["id"]


@pytest.fixture
def second_page(browser, live_server):
    """Another browser (no cookies shared): the invitee's."""
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": 1360, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on("dialog", lambda dialog: dialog.accept())
    page.problems = BrowserProblems()
    page.problems.watch(page, live_server.url)
    yield page
    context.close()


def test_an_owner_invites_and_the_invitee_joins_with_the_role(page, second_page, operator,
                                                             customer, smtp_server,
                                                             screenshot):
    sign_in(page, *operator)
    page.get_by_role("link", name="Operators", exact=True).click()
    expect(page.get_by_role("heading", name="Operators", exact=True)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(INVITEE)
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_role("button", name="Invite", exact=True).click()

    link_field = page.get_by_label("Link (shown only this once)")
    expect(link_field).to_be_visible()
    expect(page.locator("#toasts .toast").filter(has_text=f"{INVITEE} invited.")).to_be_visible()
    link = link_field.input_value()
    assert "/console/join?token=" in link
    expect(page.locator("#operator-list")).to_contain_text(INVITEE)
    expect(page.locator("#operator-list")).to_contain_text("Invited")
    [message] = smtp_server.wait_for(INVITEE)
    assert links(message) == [link]
    screenshot(page, "operators-invited")

    # The invitee, in a browser of their own.
    invitee = second_page
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Join the console")).to_be_visible()
    expect(invitee.locator("main")).to_contain_text("invited as support")
    invitee.get_by_label("Password", exact=True).fill(INVITEE_PASSWORD)
    invitee.get_by_label("Password again").fill(INVITEE_PASSWORD)
    invitee.get_by_role("button", name="Set password").click()
    expect(invitee).to_have_url(re.compile(r"/console/login$"))
    expect(invitee.locator(".flash")).to_contain_text("Your password is set")
    sign_in(invitee, INVITEE, INVITEE_PASSWORD)

    # Support sends the emails users ask for, and nothing else.
    invitee.goto(f"/console/users/{customer}")
    expect(invitee.get_by_role("button", name="Send password recovery")).to_be_visible()
    expect(invitee.get_by_role("button", name="Ban user")).to_have_count(0)
    expect(invitee.get_by_role("button", name="Delete user")).to_have_count(0)
    invitee.get_by_role("button", name="Send password recovery").click()
    expect(invitee.locator("#toasts .toast, .flash").filter(
        has_text="recovery").first).to_be_visible()
    smtp_server.wait_for(CUSTOMER)
    invitee.goto("/console/operators")
    expect(invitee.get_by_role("button", name="Invite", exact=True)).to_have_count(0)
    expect(invitee.locator("#operator-list")).to_contain_text("Support")
    no_browser_problems(invitee)

    # The link was used up.
    invitee.goto(link)
    expect(invitee.locator(".form-error")).to_contain_text("does not work")

    # The owner makes them a viewer; their next action is refused with a toast.
    page.goto("/console/operators")
    row = page.locator("tr", has_text=INVITEE)
    row.locator("summary").click()
    row.get_by_label("Role").select_option("viewer")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator("#toasts .toast").filter(
        has_text=f"{INVITEE} is now viewer.")).to_be_visible()
    expect(page.locator("tr", has_text=INVITEE)).to_contain_text("Viewer")
    screenshot(page, "operators")
    no_browser_problems(page)

    invitee.goto(f"/console/users/{customer}")
    expect(invitee.get_by_role("button", name="Send password recovery")).to_have_count(0)


def test_a_viewer_sees_no_action_buttons(app, page, customer):
    with app.app_context():
        operators.create(app.extensions["gotrue"], "viewer@example.com", INVITEE_PASSWORD,
                         role="viewer")
        db.session.commit()
    sign_in(page, "viewer@example.com", INVITEE_PASSWORD)
    for path in ("/console/users", f"/console/users/{customer}", "/console/operators",
                 "/console/invites", "/console/sessions", "/console/templates/recovery",
                 "/console/mail", "/console/rate-limits", "/console/providers",
                 "/console/hooks", "/console/sms/template"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        # No form that changes anything: searches and filters are GET forms, and the email
        # template's form only previews.
        expect(page.locator("main form[method=post]:not(#template-form)")).to_have_count(0)
        expect(page.locator("main [hx-post]:not(#preview)")).to_have_count(0)
    # The detail page still shows the user, read-only.
    page.goto(f"/console/users/{customer}")
    expect(page.locator("main")).to_contain_text(CUSTOMER)
    expect(page.locator("#user_metadata-value")).to_have_attribute("readonly", "")
    no_browser_problems(page)
