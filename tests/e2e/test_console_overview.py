"""The Overview page in a real headless Chromium: the console opens on it after sign-in, the
range switch swaps the charts in place (htmx) and pushes the URL, a chart's table opens, an
attention item leads to the page that deals with it, and the page fits a 390 px phone. No CSP
violation or script error on the way.

A week of activity is made first (users, sessions begun by each method, wrong MFA codes, mail
and text messages), so the charts have something to draw; its screenshot (1280x900) is the
README's docs/screenshots/overview.png.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from gotrue_web.extensions import db
from gotrue_web.models import Challenge, Factor, MailLogEntry, SMSLogEntry, User
from gotrue_web.runtime import RequestInfo
from gotrue_web.services import sessions

from ..factories import freeze_clock, make_user
from .conftest import SCREENSHOTS
from .test_console_e2e import no_browser_problems, sign_in

pytestmark = pytest.mark.live

# A Thursday afternoon; the week before it gets the activity.
NOW = datetime(2030, 3, 7, 15, 20, tzinfo=timezone.utc)
METHODS = (("password", 8), ("otp", 3), ("oauth", 3), ("anonymous", 1))
NAMES = ("Ada", "Grace", "Alan", "Katherine", "Margaret", "Edsger", "Barbara", "Donald")


def _week_of_activity(app) -> None:
    """Users and sign-ins over the last 7 days through the models and the sessions service,
    a few wrong MFA codes, mail and SMS log entries, an old unconfirmed user and a ban that
    ends soon."""
    rng = random.Random(20300307)
    clock = freeze_clock(app, NOW)
    rt = app.extensions["gotrue"]
    info = RequestInfo(ip="198.51.100.20", user_agent="supabase-js/2.46.1",
                       aud="authenticated")
    weights = [weight for _, weight in METHODS]
    for day in range(7):
        base = (NOW - timedelta(days=day)).replace(hour=6, minute=0)
        for serial in range(6 + 2 * day % 5):
            clock.now = min(NOW, base + timedelta(minutes=rng.randrange(16 * 60)))
            name = rng.choice(NAMES)
            user_id = make_user(app, f"{name.lower()}.{day}.{serial}@example.com", name=name,
                                created_at=clock.now, factors=("verified",) if serial == 0
                                else ())
            with app.app_context():
                user = db.session.get(User, user_id)
                for _ in range(1 + rng.randrange(3)):
                    method = rng.choices([m for m, _ in METHODS], weights)[0]
                    sessions.start_session(rt, user, method, info)
                if serial == 0:
                    factor = db.session.query(Factor).filter_by(user_id=user_id).one()
                    db.session.add(Challenge(id=uuid.uuid4(), factor_id=factor.id,
                                             created_at=clock.now, ip_address="198.51.100.20",
                                             failed_attempts=1 + day % 3))
                for index in range(3):
                    db.session.add(MailLogEntry(
                        id=uuid.uuid4(), created_at=clock.now + timedelta(seconds=index),
                        template="confirmation", recipient=user.email, subject="Confirm",
                        status="failed" if (day, serial, index) == (1, 1, 2) else "sent"))
                db.session.add(SMSLogEntry(
                    id=uuid.uuid4(), created_at=clock.now, kind="confirmation",
                    recipient="15550100", channel="sms", provider="twilio",
                    status="failed" if serial == 3 else "sent"))
                db.session.commit()
    make_user(app, "waiting.for.the.link@example.com", confirmed=False,
              created_at=NOW - timedelta(days=3))
    make_user(app, "mallory@example.com", name="Mallory",
              created_at=NOW - timedelta(days=20), banned_until=NOW + timedelta(days=2))
    clock.now = NOW


def test_the_console_opens_on_the_overview_and_its_range_switch_works(page: Page, app,
                                                                      operator):
    _week_of_activity(app)
    sign_in(page, operator)  # checks that the console opened on the overview
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/overview$"))
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.locator("nav.sidebar a.nav").first).to_have_text("Overview")
    expect(page.locator("#chart-signins svg.chart rect").first).to_be_visible()
    expect(page.get_by_text("What happened in the last 7 days")).to_be_visible()
    attention = page.locator("#attention")
    expect(attention.locator("#attention-unconfirmed .attention-figure")).to_have_text("1")
    expect(attention.locator("#attention-bans")).to_contain_text("mallory@example.com")

    page.set_viewport_size({"width": 1280, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), animations="disabled")

    # The range switch: htmx swaps the body and pushes the URL; the table opens.
    page.get_by_role("link", name=re.compile(r"^Month")).click()
    expect(page).to_have_url(re.compile(r"/console/overview\?range=month$"))
    expect(page.get_by_text("What happened in the last 30 days")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Month"))).to_have_attribute(
        "aria-current", "page")
    chart = page.locator("#chart-signups")
    chart.get_by_text("As a table").click()
    table = chart.get_by_role("table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(30)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/console/overview$"))
    expect(page.get_by_text("What happened in the last 7 days")).to_be_visible()

    # An attention item leads to the page that deals with it, already filtered.
    page.locator("#attention-unconfirmed").get_by_role("link", name=re.compile(
        "Review them")).click()
    expect(page).to_have_url(re.compile(r"/console/users\?state=unconfirmed&created_to="))
    expect(page.get_by_role("link", name="waiting.for.the.link@example.com")).to_be_visible()
    no_browser_problems(page)


def test_the_overview_fits_a_phone(page: Page, app, operator, screenshot):
    _week_of_activity(app)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, operator)
    for name in ("day", "week", "month"):
        page.goto(f"/console/overview?range={name}")
        expect(page.locator("#chart-mail svg.chart")).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        # The axis labels stay readable: at least 9 px on screen.
        size = page.evaluate("""() => {
            const label = document.querySelector('#chart-mail .chart-x text');
            return label.getBoundingClientRect().height;
        }""")
        assert size >= 9, f"{name}: x labels are {size}px tall"
        screenshot(page, f"overview-phone-{name}")
    no_browser_problems(page)
