"""The apps page in a real headless Chromium (issue 18): an operator registers an OAuth app from
the nav's Apps link (a refused redirect URI first), sees and copies its secret once, regenerates
it, disables and enables the app, deletes it with its name typed; and revokes an app's access on
a user's page. axe-core finds nothing serious on the page with its secret shown and its row's
actions open. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from gotrue_web.extensions import db
from gotrue_web.models import OAuthClient, OAuthConsent
from gotrue_web.security.client_secrets import client_secret_matches

from ..factories import make_user
from ..oauth_server.conftest import register_client
from .test_console_accessibility import axe_findings, install_axe
from .test_console_e2e import expect_feedback, no_browser_problems, sign_in

pytestmark = pytest.mark.live

CALLBACK = "https://crm.acme.example/auth/callback"


@pytest.fixture
def app(make_mail_app):
    return make_mail_app(**{"mailer.autoconfirm": True, "site_url": "http://localhost:3000",
                            "oauth_server.enabled": True})


def client_row(app, name: str) -> OAuthClient:
    with app.app_context():
        row = db.session.execute(db.select(OAuthClient).where(
            OAuthClient.client_name == name)).scalar_one()
        db.session.expunge_all()
        return row


def test_register_see_the_secret_once_regenerate_disable_and_delete(page, app, operator,
                                                                     screenshot):
    axe = install_axe()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, operator)
    page.get_by_role("link", name="Apps", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/apps$"))
    expect(page.get_by_role("heading", name="Apps", level=1)).to_be_visible()
    expect(page.locator("#app-list")).to_contain_text("No apps")

    # A redirect URI the rules refuse: the form keeps what was typed and says why.
    page.get_by_label("Name", exact=True).fill("Acme CRM")
    page.get_by_label("Redirect URIs").fill("http://crm.acme.example/cb")
    page.get_by_role("button", name="Register app").click()
    expect(page.locator("#app-register .form-error")).to_have_text(
        "invalid redirect_uri 'http://crm.acme.example/cb': HTTP scheme only allowed for "
        "localhost")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Acme CRM")

    page.get_by_label("Redirect URIs").fill(f"{CALLBACK}\nhttp://localhost:4000/cb")
    page.get_by_label("Client type").select_option("confidential")
    page.get_by_role("button", name="Register app").click()
    expect_feedback(page, "Acme CRM registered.")
    secret_field = page.get_by_label("Client secret (shown only this once)")
    expect(secret_field).to_be_visible()
    expect(page.locator("#app-secret")).to_contain_text("it cannot be shown again")
    secret = secret_field.input_value()
    assert len(secret) == 43
    row = client_row(app, "Acme CRM")
    assert client_secret_matches(secret, row.client_secret_hash)
    assert row.redirect_uri_list == [CALLBACK, "http://localhost:4000/cb"]
    listed = page.locator(f"#app-{row.id}")
    expect(listed).to_contain_text("Confidential")
    expect(listed).to_contain_text(CALLBACK)

    page.get_by_role("button", name="Copy the client secret").click()
    expect(page.locator("#live-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    listed.locator("summary").click()
    screenshot(page, "apps-registered")
    assert axe_findings(page, axe) == []
    page.emulate_media(color_scheme="dark")
    assert axe_findings(page, axe) == []
    page.emulate_media(color_scheme="light")
    # At phone width nothing scrolls sideways (long ids and URIs wrap).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1360, "height": 900})

    # Shown once: the page again has no secret.
    page.goto("/console/apps")
    expect(page.locator("#app-secret")).to_have_count(0)
    assert secret not in page.content()

    # Regenerate (a confirm dialog, accepted): a new secret, shown once; the old one is void.
    listed.locator("summary").click()
    listed.get_by_role("button", name="Regenerate secret of Acme CRM").click()
    expect(page.get_by_role("heading", name="New secret for Acme CRM")).to_be_visible()
    new_secret = page.get_by_label("Client secret (shown only this once)").input_value()
    assert new_secret != secret
    stored = client_row(app, "Acme CRM").client_secret_hash
    assert client_secret_matches(new_secret, stored)
    assert not client_secret_matches(secret, stored)

    # Disable and enable.
    listed.locator("summary").click()
    listed.get_by_role("button", name="Disable Acme CRM").click()
    expect_feedback(page, "Acme CRM is disabled")
    expect(listed.locator(".badge").first).to_have_text("Disabled")
    assert client_row(app, "Acme CRM").disabled_at is not None
    listed.locator("summary").click()
    listed.get_by_role("button", name="Enable Acme CRM").click()
    expect_feedback(page, "Acme CRM is enabled again.")
    expect(listed.locator(".badge").first).to_have_text("Enabled")
    assert client_row(app, "Acme CRM").disabled_at is None

    # Delete: the name must be typed.
    listed.locator("summary").click()
    listed.get_by_label("Type Acme CRM to delete it").fill("acme")
    listed.get_by_role("button", name="Delete app Acme CRM").click()
    expect(listed.locator(".form-error")).to_have_text(
        "Type Acme CRM to confirm. Nothing was deleted.")
    assert client_row(app, "Acme CRM").deleted_at is None
    listed.get_by_label("Type Acme CRM to delete it").fill("Acme CRM")
    listed.get_by_role("button", name="Delete app Acme CRM").click()
    expect_feedback(page, "Acme CRM was deleted.")
    expect(listed).to_have_count(0)
    expect(page.locator("#app-list")).to_contain_text("No apps")
    assert client_row(app, "Acme CRM").deleted_at is not None
    screenshot(page, "apps")
    no_browser_problems(page)


def test_revoke_an_apps_access_on_the_users_page(page, app, operator):
    user_id = make_user(app, "ada@example.com", password="user-password-123")
    crm = register_client(app, name="Acme CRM")
    with app.app_context():
        db.session.add(OAuthConsent(user_id=user_id, client_id=uuid.UUID(crm.client_id),
                                    scopes="openid email",
                                    granted_at=app.extensions["gotrue"].now()))
        db.session.commit()
    sign_in(page, operator)
    page.goto(f"/console/users/{user_id}")
    grants = page.locator("#oauth-grants")
    expect(grants).to_contain_text("Acme CRM")
    expect(grants).to_contain_text("openid")
    grants.get_by_role("button", name="Revoke").click()
    expect_feedback(page, "Acme CRM no longer has access")
    expect(page.locator("#oauth-grants")).to_contain_text("No apps")
    with app.app_context():
        consent = db.session.execute(db.select(OAuthConsent)).scalar_one()
        assert consent.revoked_at is not None
    no_browser_problems(page)
