"""The Configuration page in a real headless Chromium (issue 15): open it from the navigation,
have a bad value refused in place, change a rate limit and a sign-up switch (the block swaps
in with the value, its source and the revert), try a redirect URL against the list in force and
against an unsaved edit, save the allow-list, and revert after the confirmation. The API
answers with the new values meanwhile. Screenshot: artifacts/screenshots/configuration.png.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from .test_console_e2e import expect_feedback, no_browser_problems, sign_in

pytestmark = pytest.mark.live


def test_configuration_changes_and_reverts_in_place(page, live_server, operator, screenshot):
    sign_in(page, operator)
    page.get_by_role("link", name="Configuration").click()
    expect(page).to_have_url(re.compile(r"/console/configuration$"))
    expect(page.get_by_role("heading", name="Configuration", level=1)).to_be_visible()

    otp = page.locator("#setting-rate_limit-otp")
    otp.get_by_label("New value").fill("lots")
    otp.get_by_role("button", name="Save Sign-ups and codes per client").click()
    otp = page.locator("#setting-rate_limit-otp")
    expect(otp.locator(".form-error")).to_contain_text(
        "GOTRUE_RATE_LIMIT_OTP: expected a number, got 'lots'")
    expect(otp.get_by_label("New value")).to_have_value("lots")

    otp.get_by_label("New value").fill("7")
    otp.get_by_role("button", name="Save Sign-ups and codes per client").click()
    expect_feedback(page, "GOTRUE_RATE_LIMIT_OTP changed from 30 to 7.")
    otp = page.locator("#setting-rate_limit-otp")
    expect(otp.locator(".setting-value")).to_have_text("7")
    expect(otp.locator(".setting-origin")).to_contain_text("changed by operator@example.com")
    expect(otp.locator(".setting-environment")).to_contain_text("30 from the default")

    signup = page.locator("#setting-disable_signup")
    signup.get_by_label("New value").select_option("true")
    signup.get_by_role("button", name="Save Sign-ups disabled").click()
    expect_feedback(page, "GOTRUE_DISABLE_SIGNUP changed from off to on.")
    settings = httpx.get(f"{live_server.url}/settings", timeout=10).json()
    assert settings["disable_signup"] is True

    # A redirect URL: refused by the list in force, allowed by the list being edited, then by
    # the saved list.
    tester = page.locator("#redirect-test")
    tester.get_by_label("redirect_to").fill("https://shop.example.com/cart")
    tester.get_by_role("button", name="Test").click()
    expect(page.locator("#redirect-test .redirect-verdict")).to_contain_text("Not allowed")
    allow_list = page.locator("#setting-uri_allow_list")
    allow_list.get_by_label("New value").fill("https://*.example.com/**")
    page.locator("#redirect-test").get_by_role("button", name="Test").click()
    expect(page.locator("#redirect-test .redirect-verdict")).to_contain_text(
        "matches the entry https://*.example.com/** of the list being edited (not saved)")
    allow_list.get_by_role("button", name="Save Allowed redirect URLs").click()
    expect_feedback(page, "GOTRUE_URI_ALLOW_LIST changed from none to https://*.example.com/**")
    page.locator("#redirect-test").get_by_role("button", name="Test").click()
    expect(page.locator("#redirect-test .redirect-verdict")).to_contain_text(
        "of the list in force")
    screenshot(page, "configuration")

    # Revert, after the confirmation (accepted by the page fixture).
    page.locator("#setting-rate_limit-otp").get_by_role(
        "button", name="Revert to environment Sign-ups and codes per client").click()
    expect_feedback(page, "GOTRUE_RATE_LIMIT_OTP is back to the environment's value: 30.")
    otp = page.locator("#setting-rate_limit-otp")
    expect(otp.locator(".setting-value")).to_have_text("30")
    expect(otp.get_by_role("button", name=re.compile("Revert"))).to_have_count(0)
    no_browser_problems(page)
