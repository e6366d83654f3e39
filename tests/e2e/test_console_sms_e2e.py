"""Phone users and text messages in a real headless Chromium (issue 10): find a phone user by a
number typed with spaces and brackets, confirm the phone by hand, look at the SMS template's
preview, send a test text through a fake Twilio on loopback, and see it in the SMS log with
the number masked. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from gotrue_web.models import SMSLogEntry, User

from ..support.fake_sms import FakeTwilio, sms_settings
from .test_console_e2e import expect_feedback, no_browser_problems, rows, sign_in

pytestmark = pytest.mark.live

MASKED = "+1" + "\u2022" * 6 + "4242"


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilio())


@pytest.fixture
def app(make_mail_app, twilio):
    return make_mail_app(**{"mailer.autoconfirm": True, "site_url": "http://localhost:3000",
                            "external.phone_enabled": True}, **sms_settings(twilio))


def test_phone_user_confirm_template_preview_test_send_and_sms_log(page, app, operator,
                                                                   admin_api, twilio,
                                                                   screenshot):
    response = admin_api.admin("POST", "/admin/users", json={
        "phone": "+15550104242", "password": "phone-password-123"})
    assert response.status_code == 200, response.get_data(as_text=True)
    user_id = uuid.UUID(response.get_json()["id"])
    sign_in(page, operator)

    # The number as people write it finds the user; the row links to the page.
    page.get_by_label("Search").fill("+1 (555) 010-4242")
    expect(page).to_have_url(re.compile(r"/console/users\?.*q="))
    results = page.locator("#users-results table.users tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("+15550104242")
    # Let the search's swap finish settling, so the click lands on the row that stays.
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")
    page.get_by_role("link", name="+15550104242").click()
    expect(page).to_have_url(re.compile(rf"/console/users/{user_id}$"))

    # Confirm the phone by hand (the confirm dialog is accepted).
    page.get_by_role("button", name="Confirm phone by hand").click()
    expect_feedback(page, "+15550104242 is now confirmed.")
    expect(page.get_by_role("button", name="Confirm phone by hand")).to_have_count(0)
    [user] = rows(app, sa.select(User).where(User.id == user_id))
    assert user.phone_confirmed_at is not None
    screenshot(page, "phone-user-confirmed")

    # The SMS template, from the email templates page: preview, provider, test send.
    page.get_by_role("link", name="Email templates", exact=True).click()
    page.get_by_role("link", name=re.compile("preview, the provider in use")).click()
    expect(page).to_have_url(re.compile(r"/console/sms/template$"))
    expect(page.locator("#sms-preview")).to_have_text("Your code is 123456")
    expect(page.locator("#sms-provider .badge.ok")).to_have_text("Configured")
    page.get_by_label("Number").fill("+1 555 010 4242")
    page.get_by_label("Channel").select_option("sms")
    page.get_by_role("button", name="Send test").click()
    sent = f"Test SMS sent to {MASKED} through twilio. Message id: SM1."
    expect(page.locator("#sms-test-form .flash.ok")).to_have_text(sent)
    assert parse_qs(twilio.last.body.decode())["To"] == ["+15550104242"]
    screenshot(page, "sms-template")

    # The SMS log has it, masked; the Email tab goes back to the mail log.
    page.get_by_role("link", name="SMS log").click()
    expect(page).to_have_url(re.compile(r"/console/sms$"))
    [entry] = rows(app, sa.select(SMSLogEntry))
    row = page.locator(f"#sms-{entry.id}")
    expect(row).to_contain_text(MASKED)
    expect(row).to_contain_text("SM1")
    expect(row.locator(".badge.ok")).to_have_text("Sent")
    assert "15550104242" not in page.content()
    screenshot(page, "sms-log")
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#sms-results")).to_contain_text("No text message matches")
    page.get_by_role("link", name="Email", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/mail$"))
    no_browser_problems(page)
