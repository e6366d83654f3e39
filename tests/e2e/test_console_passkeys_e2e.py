"""A user's passkeys in a real headless Chromium (issue 19): the passkeys card on the user's page
(name, created, last used) and Remove, which asks first, swaps the card in place and writes
passkey_deleted with the operator as its actor. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, WebAuthnCredential

from ..factories import make_user
from .test_console_e2e import expect_feedback, no_browser_problems, rows, sign_in

pytestmark = pytest.mark.live

EMAIL = "key.holder@example.com"


@pytest.fixture
def app(make_mail_app):
    return make_mail_app(**{"mailer.autoconfirm": True, "site_url": "http://localhost:3000",
                            "passkeys.enabled": True})


def _add_passkey(app, user_id, name: str, *, days_ago: int, used_hours_ago: int | None
                 ) -> uuid.UUID:
    now = app.extensions["gotrue"].now()
    created = now - timedelta(days=days_ago)
    with app.app_context():
        credential = WebAuthnCredential(
            user_id=user_id, credential_id=os.urandom(32), public_key=b"\xa5\x01\x02",
            attestation_type="none", transports=["internal"], friendly_name=name,
            created_at=created, updated_at=created,
            last_used_at=None if used_hours_ago is None else now - timedelta(hours=used_hours_ago))
        db.session.add(credential)
        db.session.commit()
        return credential.id


def test_passkeys_card_and_remove_one(page, app, operator, screenshot):
    user_id = make_user(app, EMAIL, password="user-password-123")
    laptop = _add_passkey(app, user_id, "iCloud Keychain", days_ago=4, used_hours_ago=2)
    key = _add_passkey(app, user_id, "YubiKey 5 Series", days_ago=1, used_hours_ago=None)
    questions = []
    page.on("dialog", lambda dialog: questions.append(dialog.message))
    sign_in(page, operator)

    page.goto(f"/console/users/{user_id}")
    passkeys = page.locator("#passkeys tbody tr")
    expect(passkeys).to_have_count(2)
    laptop_row, key_row = page.locator(f"#passkey-{laptop}"), page.locator(f"#passkey-{key}")
    expect(laptop_row).to_contain_text("iCloud Keychain")
    expect(laptop_row.locator("td").nth(2).locator("time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    expect(key_row.locator("td").nth(2)).to_have_text("never")
    screenshot(page, "user-passkeys")

    key_row.get_by_role("button", name="Remove", exact=True).click()
    expect_feedback(page, 'Passkey "YubiKey 5 Series" removed')
    assert questions == [f'Remove the passkey "YubiKey 5 Series"? {EMAIL} can no longer sign '
                         "in with it."]
    expect(passkeys).to_have_count(1)
    expect(page.locator(f"#passkey-{key}")).to_have_count(0)
    expect(laptop_row).to_be_visible()
    assert rows(app, sa.select(WebAuthnCredential.id).where(
        WebAuthnCredential.user_id == user_id)) == [laptop]
    (entry,) = [e for e in rows(app, sa.select(AuditLogEntry))
                if e.payload.get("action") == "passkey_deleted"]
    assert entry.payload["actor_username"] == operator[0]
    screenshot(page, "user-passkey-removed")
    no_browser_problems(page)
