"""A user's MFA factors in a real headless Chromium (issue 11): the users list's MFA and aal2
badges, the factors table on the user's page (phone number, last challenged) and Remove, which
swaps the table in place, drops the session to aal1 and writes factor_deleted. Screenshots go
to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from gotrue_web.extensions import db
from gotrue_web.models import AAL, AuditLogEntry, Factor, FactorStatus, FactorType, Session

from ..factories import add_factor, make_user
from .test_console_e2e import expect_feedback, no_browser_problems, rows, sign_in

pytestmark = pytest.mark.live

EMAIL = "two.steps@example.com"
PHONE = "15557654321"


def _user_with_factors(app) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    """A user with a challenged TOTP factor, a phone factor and an aal2 session by the phone."""
    rt = app.extensions["gotrue"]
    now = rt.now()
    user_id = make_user(app, EMAIL, password="user-password-123",
                        created_at=now - timedelta(days=10))
    totp = add_factor(app, user_id, name="Authenticator app",
                      created_at=now - timedelta(days=5))
    phone = add_factor(app, user_id, factor_type=FactorType.phone, name="Mobile", phone=PHONE,
                       status=FactorStatus.verified, created_at=now - timedelta(days=2))
    session_id = uuid.uuid4()
    with app.app_context():
        db.session.execute(sa.update(Factor).where(Factor.id == totp)
                           .values(last_challenged_at=now - timedelta(hours=3)))
        db.session.add(Session(id=session_id, user_id=user_id, aal=AAL.aal2, factor_id=phone,
                               created_at=now - timedelta(hours=1),
                               updated_at=now - timedelta(hours=1)))
        db.session.commit()
    return user_id, totp, phone, session_id


def test_factors_table_and_remove_one(page, app, operator, screenshot):
    user_id, totp, phone, session_id = _user_with_factors(app)
    sign_in(page, operator)

    row = page.locator("table.users tbody tr").filter(has_text=EMAIL)
    expect(row.locator(".badge.info")).to_have_text("MFA")
    expect(row.locator(".badge.ok").filter(has_text="aal2")).to_be_visible()
    screenshot(page, "users-mfa")

    row.get_by_role("link", name=EMAIL).click()
    expect(page).to_have_url(re.compile(rf"/console/users/{user_id}$"))
    factors = page.locator("#factors tbody tr")
    expect(factors).to_have_count(2)
    totp_row, phone_row = page.locator(f"#factor-{totp}"), page.locator(f"#factor-{phone}")
    expect(totp_row).to_contain_text("Authenticator app")
    expect(totp_row.locator("td").nth(2)).to_have_text(re.compile(r"\d{4}-\d\d-\d\d .*\sUTC"))
    expect(phone_row.get_by_role("link", name=f"+{PHONE}")).to_be_visible()
    expect(phone_row.locator("td").nth(2)).to_have_text("never")
    screenshot(page, "user-factors")

    phone_row.get_by_role("button", name="Remove", exact=True).click()
    expect_feedback(page, "MFA factor removed.")
    expect(factors).to_have_count(1)
    expect(page.locator(f"#factor-{phone}")).to_have_count(0)
    expect(page.locator(f"#factor-{totp}")).to_be_visible()
    # The session that passed MFA with the phone is one-step again, on the page and in the list.
    expect(page.locator("#sessions tbody tr .badge")).to_have_text("aal1")
    assert rows(app, sa.select(Factor.id).where(Factor.user_id == user_id)) == [totp]
    assert rows(app, sa.select(Session.aal).where(Session.id == session_id)) == [AAL.aal1]
    (entry,) = [e for e in rows(app, sa.select(AuditLogEntry))
                if e.payload.get("action") == "factor_deleted"]
    assert entry.payload["actor_username"] == operator[0]
    assert entry.payload["traits"]["factor_type"] == "phone"
    assert entry.payload["traits"]["factor_id"] == str(phone)
    screenshot(page, "user-factor-removed")

    page.get_by_role("link", name="All users").click()
    row = page.locator("table.users tbody tr").filter(has_text=EMAIL)
    expect(row.locator("td.aal")).to_have_text("aal1")
    no_browser_problems(page)
