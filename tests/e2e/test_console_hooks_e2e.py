"""The auth hooks page in a real headless Chromium (issue 12): open it from the navigation, see
each hook with its URI masked, send a test event to a loopback receiver and watch the card show
the hook's output while the delivery log reloads with the new row; a failing hook shows its
error; a disabled hook's button cannot be pressed. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from gotrue_web.settings import HookConfig

from ..support.fake_hooks import SECRET, FakeHookReceiver
from .test_console_e2e import no_browser_problems, sign_in

pytestmark = pytest.mark.live

QUERY_TOKEN = "query-token-never-shown"


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver()).answer_json({"claims": {"role": "from-the-hook"}})


@pytest.fixture
def failing(servers):
    return servers(FakeHookReceiver()).answer_json(
        {"error": {"message": "Rejected by the test hook", "http_code": 422}})


@pytest.fixture
def app(make_mail_app, receiver, failing):
    return make_mail_app(**{
        "mailer.autoconfirm": True, "site_url": "http://localhost:3000",
        "hooks.custom_access_token": HookConfig(
            True, receiver.uri("/claims") + f"?token={QUERY_TOKEN}", (SECRET,)),
        "hooks.send_sms": HookConfig(True, failing.uri("/sms"), (SECRET,)),
        "hooks.send_email": HookConfig(False, "https://hooks.example.com/email"),
    })


def test_hooks_page_sends_a_test_event_and_shows_the_delivery(page, operator, receiver,
                                                               failing, screenshot):
    sign_in(page, operator)
    page.get_by_role("link", name="Auth hooks").click()
    expect(page).to_have_url(re.compile(r"/console/hooks$"))
    expect(page.get_by_role("heading", name="Auth hooks", level=1)).to_be_visible()
    claims = page.locator("#hook-custom_access_token")
    expect(claims.locator(".hook-uri")).to_have_text(receiver.uri("/claims"))
    assert QUERY_TOKEN not in page.content() and SECRET not in page.content()
    expect(page.locator("#hook-deliveries .empty")).to_contain_text("No hook delivery yet")

    # A disabled hook's button cannot be pressed, and says why.
    disabled = page.locator("#hook-send_email").get_by_role("button", name="Send a test event")
    expect(disabled).to_be_disabled()
    expect(page.locator("#hook-send_email")).to_contain_text(
        "GOTRUE_HOOK_SEND_EMAIL_ENABLED=true")

    # The test event: the card shows the output, the log reloads with the new row.
    claims.get_by_role("button", name="Send a test event to custom_access_token").click()
    claims = page.locator("#hook-custom_access_token")
    expect(claims.locator(".test-result .flash.ok")).to_have_text(
        "Test event sent to custom_access_token: the hook answered with an output.")
    expect(claims.locator("pre.hook-output")).to_contain_text("from-the-hook")
    expect(claims.locator("table.hook-recent tbody tr")).to_have_count(1)
    log_rows = page.locator("#hook-deliveries table.hook-log tbody tr")
    expect(log_rows).to_have_count(1)
    expect(log_rows.first).to_contain_text("Custom access token")
    expect(log_rows.first).to_contain_text("Succeeded")
    [request] = receiver.received
    assert FakeHookReceiver.verify(request, SECRET)["metadata"]["name"] == (
        "customize-access-token")
    screenshot(page, "hooks-test-event")

    # A failing hook: its error in the card and in the log.
    sms = page.locator("#hook-send_sms")
    sms.get_by_role("button", name="Send a test event to send_sms").click()
    sms = page.locator("#hook-send_sms")
    expect(sms.locator(".test-result .flash.error")).to_have_text(
        "Test event to send_sms failed: Rejected by the test hook")
    expect(sms).to_contain_text("A client would get HTTP 422")
    expect(log_rows).to_have_count(2)
    expect(log_rows.first).to_contain_text("Rejected by the test hook")

    # Filter the log by hook and status, in place, with the URL kept.
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page).to_have_url(re.compile(r"/console/hooks\?.*status=failed"))
    expect(log_rows).to_have_count(1)
    expect(log_rows.first).to_contain_text("Send SMS")
    page.get_by_label("Hook", exact=True).select_option("custom_access_token")
    expect(page.locator("#hook-deliveries .empty")).to_contain_text(
        "No delivery matches these filters")
    screenshot(page, "hooks-filtered")
    no_browser_problems(page)
