"""The providers page and unlinking an identity, in a real headless Chromium (issue 9): the nav
link, the test button's authorize URL swapped into the provider's card, and Unlink with its
confirm step on a user's page. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, FlowState, Identity
from gotrue_web.settings.external import OAuthProviderSettings

from ..factories import make_user
from .test_console_e2e import expect_feedback, no_browser_problems, rows, sign_in

pytestmark = pytest.mark.live

GITHUB_SECRET = "gh-e2e-Secret-5d4c3b2a"
CALLBACK = "http://localhost:9999/callback"


@pytest.fixture
def app(make_mail_app, settings):
    configured = dict(settings.external.oauth)
    configured["github"] = OAuthProviderSettings(
        enabled=True, client_ids=("gh-e2e-client",), secret=GITHUB_SECRET,
        redirect_uri=CALLBACK, url="https://github.example.test")
    return make_mail_app(**{"mailer.autoconfirm": True, "site_url": "http://localhost:3000",
                            "external.oauth": configured})


def _linked_user(app) -> uuid.UUID:
    user_id = make_user(app, "linked.person@example.com", password="user-password-123")
    rt = app.extensions["gotrue"]
    with app.app_context():
        identity = Identity(user_id=user_id, provider="github", provider_id="9001",
                            created_at=rt.now(), updated_at=rt.now())
        identity.set_data({"sub": "9001", "email": "linked.person@example.com",
                           "email_verified": True})
        db.session.add(identity)
        db.session.commit()
    return user_id


def test_providers_page_test_button_and_unlink(page, app, operator, screenshot):
    user_id = _linked_user(app)
    sign_in(page, operator)

    page.get_by_role("link", name="Providers", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/providers$"))
    github = page.locator("#provider-github")
    expect(github.locator(".badge.ok").first).to_have_text("Ready")
    expect(github).to_contain_text("gh-e2e-client")
    github.get_by_role("button", name="Test github").click()
    link = page.locator("#test-github a.test-url")
    expect(link).to_be_visible()
    expect_feedback(page, "Authorize URL built for github.")
    url = link.get_attribute("href")
    assert url.startswith("https://github.example.test/login/oauth/authorize?")
    params = parse_qs(urlsplit(url).query)
    assert params["client_id"] == ["gh-e2e-client"] and params["redirect_uri"] == [CALLBACK]
    assert GITHUB_SECRET not in page.content()
    assert rows(app, sa.select(FlowState)) == []
    screenshot(page, "providers")

    page.goto(f"/console/users/{user_id}")
    identities = page.locator("#identities")
    expect(identities.locator("tbody tr")).to_have_count(2)
    identities.get_by_role("link", name="Unlink github").click()
    confirm = page.locator("#unlink-confirm")
    expect(confirm).to_contain_text("Unlink the github identity")
    screenshot(page, "identity-unlink-confirm")
    confirm.get_by_role("button", name="Unlink github").click()
    expect_feedback(page, "The github identity was unlinked from linked.person@example.com.")
    expect(page.locator("#identities tbody tr")).to_have_count(1)
    expect(page.locator("#identities")).not_to_contain_text("9001")

    assert rows(app, sa.select(Identity.provider).where(Identity.user_id == user_id)) == [
        "email"]
    (entry,) = [e for e in rows(app, sa.select(AuditLogEntry))
                if e.payload.get("action") == "identity_unlinked"]
    assert entry.payload["actor_username"] == operator[0]
    screenshot(page, "identity-unlinked")
    no_browser_problems(page)
