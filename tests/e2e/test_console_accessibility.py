"""Accessibility of the operator console in a real headless Chromium (issue 15).

- axe-core finds no serious or critical violation on any console page: every GET page of the
  console's URL table (read from the app, so a new page is checked without being listed here),
  the sign-in page, and a few more states of the same pages (an empty search, a banned and an
  unconfirmed user, an error page), and the command palette and shortcut dialogs open; in the
  light theme and in the dark one (prefers-color-scheme: dark);
- at 390x844 no page scrolls sideways (wide tables scroll inside their .table-wrap) and every
  navigation link can be reached;
- the skip link is the first Tab stop and moves focus to the main content;
- a toast never covers the button that triggered it, at the bottom or the top of the screen.

One server and one signed-in browser context serve the whole module. axe-core comes from the
npm registry (tests/e2e/js, locked by package-lock.json) and is evaluated in the page through
the DevTools protocol, which the console's CSP (no inline script) does not apply to, so the
pages are checked under their real CSP. A missing node/npm fails these tests; it never skips
them. The email preview's sandboxed iframe holds the email's own HTML and is not checked.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import url_for
from playwright.sync_api import Page, expect

from gotrue_web import create_app
from gotrue_web.console.operations import operators
from gotrue_web.console.operations.operator_admin import invite_links, team
from gotrue_web.extensions import db
from gotrue_web.models import Identity, SSOProvider, WebAuthnCredential
from gotrue_web.services.live_settings import store as live_store
from gotrue_web.services.sso import providers as sso_providers
from gotrue_web.settings.external import OAuthProviderSettings

from ..conftest import (
    ServedApp,
    SettledClient,
    _delete_all_rows,
    _settings_for,
    api_for,
    make_jwt,
    smtp_settings,
)
from ..console.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD
from ..factories import make_user
from ..support.fake_saml_idp import sp_private_key_setting
from ..support.fake_sms import FakeTwilio, sms_settings
from ..support.idp_metadata import idp_metadata_xml
from ..support.smtp import SMTPSink
from .conftest import ACTION_TIMEOUT_MS, REPORT_CSP_VIOLATIONS, BrowserProblems

pytestmark = pytest.mark.live

JS_DIR = Path(__file__).resolve().parent / "js"
AXE_SCRIPT = JS_DIR / "node_modules" / "axe-core" / "axe.min.js"
NPM_SECONDS = 300
WIDE = {"width": 1360, "height": 900}
NARROW = {"width": 390, "height": 844}
PASSWORD = "user-password-123"
RICH_USER = "ada.lovelace@example.com"
INVITED_OPERATOR = "new.operator@example.com"
# One user per toast test: an address gets at most one recovery or sign-in email a minute.
TOAST_USERS = {(size, where): f"toast.{size}.{where}@example.com"
               for size in ("wide", "narrow") for where in ("end", "start")}


# --- axe-core from npm ---------------------------------------------------------------------------


def install_axe() -> str:
    """npm install in tests/e2e/js (a no-op when up to date); the source of axe.min.js."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        pytest.fail("node and npm are needed to install axe-core for the accessibility tests",
                    pytrace=False)
    # xdist workers share the folder: one npm at a time, the others then find it up to date.
    lock_path = Path(tempfile.gettempdir()) / (
        "gotrue-web-npm-" + hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:16] + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            installed = subprocess.run(
                [npm, "install", "--include=dev", "--no-audit", "--no-fund"], cwd=JS_DIR,
                capture_output=True, text=True, timeout=NPM_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm install did not finish in {NPM_SECONDS}s", pytrace=False)
    if installed.returncode != 0:
        pytest.fail(f"npm install failed ({installed.returncode}):\n{installed.stderr[-3000:]}",
                    pytrace=False)
    return AXE_SCRIPT.read_text()


# What hurts a person most: serious and critical findings, each with a few of its elements.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({rule: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + ": "
                                                 + (n.failureSummary || "").split("\\n")[1])}));
}"""


# --- one server, its data and a signed-in browser for the module ---------------------------------


@dataclass
class Console:
    url: str
    app: object
    context: object
    pages: list[str]
    users: dict[str, uuid.UUID]
    axe: str = field(repr=False)

    def new_page(self) -> Page:
        return watched_page(self.context, self.url)


def watched_page(context, origin: str) -> Page:
    page = context.new_page()
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on("dialog", lambda dialog: dialog.accept())
    page.problems = BrowserProblems()
    page.problems.watch(page, origin)
    return page


def _populate(app) -> dict[str, uuid.UUID]:
    """Users in the states the console shows differently, and rows for the logs: a ban, an
    invitation (mail log), a text (SMS log), a sign-in (sessions, audit log)."""
    users = {
        RICH_USER: make_user(app, RICH_USER, phone="15550104242", password=PASSWORD,
                             name="Ada Lovelace", providers=("email", "github"),
                             factors=("verified",)),
        "grace.hopper@example.com": make_user(app, "grace.hopper@example.com",
                                              password=PASSWORD, name="Grace Hopper"),
        "new.signup@example.com": make_user(app, "new.signup@example.com", password=PASSWORD,
                                            confirmed=False),
        "mallory@example.com": make_user(app, "mallory@example.com", password=PASSWORD),
        **{email: make_user(app, email, password=PASSWORD) for email in TOAST_USERS.values()},
    }
    api = api_for(app, make_jwt({"iss": "supabase", "role": "service_role", "iat": 1700000000}))
    answers = [
        api.admin("PUT", f"/admin/users/{users['mallory@example.com']}",
                  json={"ban_duration": "24h"}),
        api.admin("POST", "/invite", json={"email": "invited.person@example.com"}),
        api.post("/otp", json={"phone": "15550104242"}),
        api.login(RICH_USER, PASSWORD),
    ]
    for response in answers:
        assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        owner = operators.create(app.extensions["gotrue"], OPERATOR_EMAIL, OPERATOR_PASSWORD)
        # An operator invited and not joined yet: the operators page's "Invited" row, and the
        # page their link opens.
        team.invite(app.extensions["gotrue"], INVITED_OPERATOR, "support", owner, "")
        # A setting changed on the Configuration page: its block with the revert.
        live_store.change(app.extensions["gotrue"], "rate_limit.otp", "50",
                          operators.actor_of(owner), "")
        # An SSO identity provider: the SSO page's list and its provider page.
        sso_providers.create(app.extensions["gotrue"], {
            "type": "saml", "metadata_xml": idp_metadata_xml("https://idp.a11y.example/saml"),
            "domains": ["a11y.example"], "resource_id": "a11y"})
        _add_passkey_and_wallet(app, users[RICH_USER])
        db.session.commit()
    return users


def _add_passkey_and_wallet(app, user_id: uuid.UUID) -> None:
    """The user page's passkeys and wallets cards (rows as registration and a Web3 sign-in
    leave them); the caller commits."""
    now = app.extensions["gotrue"].now()
    db.session.add(WebAuthnCredential(
        user_id=user_id, credential_id=b"a11y-passkey", public_key=b"\xa5\x01\x02",
        friendly_name="iCloud Keychain", backup_eligible=True, backed_up=True,
        transports=["internal"], created_at=now, updated_at=now, last_used_at=now))
    address = "0xD1FfC6bdfacf333C2B08F88f2f50ddcD87eaCa57"
    wallet = Identity(user_id=user_id, provider="web3", provider_id=f"web3:ethereum:{address}",
                      created_at=now, updated_at=now, last_sign_in_at=now)
    wallet.set_data({"sub": f"web3:ethereum:{address}",
                     "custom_claims": {"address": address, "chain": "ethereum", "network": "1",
                                       "domain": "supabase.com", "statement": None},
                     "email_verified": False, "phone_verified": False})
    db.session.add(wallet)


def console_pages(app, users: dict[str, uuid.UUID]) -> list[str]:
    """Every GET page of the console's URL table, and a few more states of the same pages.

    A page whose path takes a parameter not in ``values`` fails the listing until it gets a
    value here, so no page is left out silently."""
    rich = users[RICH_USER]
    with app.app_context():
        github = db.session.execute(db.select(Identity.id).where(
            Identity.user_id == rich, Identity.provider == "github")).scalar_one()
        sso_provider = db.session.execute(db.select(SSOProvider.id)).scalar_one()
    values = {"user_id": rich, "identity_id": github, "kind": "recovery",
              "provider_id": sso_provider}
    skipped = {"console.index", "console.login"}  # a redirect; the sign-in page is signed out
    pages = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("console.") or "GET" not in rule.methods \
                    or rule.endpoint in skipped:
                continue
            missing = rule.arguments - values.keys()
            assert not missing, f"give {rule.rule} a value for {missing} in console_pages"
            pages.append(url_for(rule.endpoint, **{k: values[k] for k in rule.arguments}))
        pages += [url_for("console.detail", user_id=users[email]) for email in
                  ("new.signup@example.com", "mallory@example.com")]
        with app.app_context():
            invited = operators.find(INVITED_OPERATOR)
            pages.append(url_for("console.operator_join",
                                 token=invite_links.issue(app.extensions["gotrue"], invited)))
        pages += [url_for("console.users", q="nobody-by-this-name"),
                  url_for("console.detail", user_id=uuid.uuid4())]  # the not-found page
        # The overview's other ranges (hourly and 30-day charts and tables).
        pages += [url_for("console.overview", range="day"),
                  url_for("console.overview", range="month")]
        # Bulk actions: the confirmation of a ban (its form) and of an email action.
        pages += [url_for("console.bulk_confirm", action="ban", state="unconfirmed"),
                  url_for("console.bulk_confirm", action="resend_invite")]
        # The Configuration page with a tested redirect URL's answer.
        pages.append(url_for("console.configuration_redirect_test",
                             url="https://elsewhere.example.org/"))
    return sorted(set(pages))


def _build_app(test_database, smtp: SMTPSink, twilio: FakeTwilio):
    settings = _settings_for(test_database)
    oauth = dict(settings.external.oauth)
    oauth["github"] = OAuthProviderSettings(
        enabled=True, client_ids=("gh-a11y-client",), secret="gh-a11y-Secret-0a1b2c",
        redirect_uri="http://localhost:9999/callback", url="https://github.example.test")
    app = create_app(settings.replace(**smtp_settings(
        smtp.port, **{"mailer.autoconfirm": True, "site_url": "http://localhost:3000",
                      "external.phone_enabled": True, "external.oauth": oauth,
                      # SAML on: the SSO page with its forms.
                      "saml.enabled": True, "saml.private_key": sp_private_key_setting()},
        **sms_settings(twilio))))
    app.config["TESTING"] = True
    app.test_client_class = SettledClient
    return app


def _close_app(app) -> None:
    outbox = app.extensions["gotrue"].outbox
    outbox.wait_until_sent(timeout=30)
    outbox.stop()
    _delete_all_rows(app)
    with app.app_context():
        db.engine.dispose()


def _sign_in(context, origin: str) -> None:
    page = watched_page(context, origin)
    page.goto("/console/login")
    page.get_by_label("Email").fill(OPERATOR_EMAIL)
    page.get_by_label("Password", exact=True).fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{origin}/console/overview")
    page.close()


@pytest.fixture(scope="module")
def console(test_database, browser):
    axe = install_axe()
    with ExitStack() as stack:
        smtp = SMTPSink()
        smtp.start()
        stack.callback(smtp.stop)
        twilio = FakeTwilio()
        twilio.start()
        stack.callback(twilio.stop)
        app = _build_app(test_database, smtp, twilio)
        stack.callback(_close_app, app)
        users = _populate(app)

        served = ServedApp(app)
        stack.callback(served.stop)
        url = served.url

        context = browser.new_context(base_url=url, viewport=WIDE)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        stack.callback(context.close)
        _sign_in(context, url)
        yield Console(url=url, app=app, context=context, pages=console_pages(app, users),
                      users=users, axe=axe)


@pytest.fixture
def signed_out(browser, console):
    """A page of a fresh context with no session, for the sign-in page."""
    context = browser.new_context(base_url=console.url, viewport=WIDE)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield watched_page(context, console.url)
    context.close()


def open_page(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status in (200, 404), (path, response.status)
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")


def no_browser_problems(page: Page) -> None:
    assert not page.problems.items, "\n".join(page.problems.items)


# --- axe-core -----------------------------------------------------------------------------------


def axe_findings(page: Page, axe: str) -> list[dict]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe)
    return page.evaluate(RUN_AXE)


# Both themes: the light one, and the dark one the stylesheet gives when the system asks for it
# (the Theme menu's "Dark" applies the same colours; test_console_comfort.py checks that).
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_any_console_page(console, signed_out, scheme):
    # The URL table has 18 GET pages (without the sign-in page and the redirect) as written.
    assert len(console.pages) >= 18, console.pages
    findings = {}
    signed_out.emulate_media(color_scheme=scheme)
    open_page(signed_out, "/console/login")
    expect(signed_out.get_by_role("heading", name="Sign in")).to_be_visible()
    if found := axe_findings(signed_out, console.axe):
        findings["/console/login"] = found
    no_browser_problems(signed_out)

    page = console.new_page()
    page.emulate_media(color_scheme=scheme)
    for path in console.pages:
        open_page(page, path)
        if found := axe_findings(page, console.axe):
            findings[path] = found
    # The dialogs every page carries, open: the command palette with a user found, and the
    # keyboard shortcuts.
    open_page(page, "/console/users")
    page.keyboard.press("Control+k")
    page.locator("#palette-input").fill("ada")
    options = page.locator("#palette-options [role=option]")
    expect(options.filter(has_text=RICH_USER)).to_be_visible()
    if found := axe_findings(page, console.axe):
        findings["command palette"] = found
    page.keyboard.press("Escape")
    # "?" is read by the page only once the palette has closed and handed focus back (under
    # load that can take a moment).
    expect(page.locator("#palette-input")).to_be_hidden()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    if found := axe_findings(page, console.axe):
        findings["keyboard shortcuts"] = found
    assert not findings, "\n".join(f"{path}: {json.dumps(found, indent=1)}"
                                   for path, found in findings.items())
    no_browser_problems(page)


# --- a phone-sized screen -----------------------------------------------------------------------


SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"
# Navigation controls a person cannot reach: not rendered, or beyond the screen's edges.
UNREACHABLE = """() => Array.from(document.querySelectorAll("nav.sidebar a, nav.sidebar button"))
  .filter((control) => {
    const box = control.getBoundingClientRect();
    return box.width === 0 || box.height === 0 || box.left < 0 || box.right > window.innerWidth
      || getComputedStyle(control).visibility === "hidden";
  })
  .map((control) => control.textContent.trim())"""


def open_navigation(page: Page) -> None:
    """Open the navigation's disclosure, should the layout ever fold the links into one (it
    wraps them today)."""
    menu = page.locator("nav.sidebar details")
    if menu.count() and not menu.first.evaluate("(details) => details.open"):
        menu.first.locator("summary").click()
        expect(menu.first).to_have_attribute("open", "")


def test_no_page_scrolls_sideways_at_390px_and_the_navigation_is_reachable(console,
                                                                            signed_out):
    signed_out.set_viewport_size(NARROW)
    open_page(signed_out, "/console/login")
    assert signed_out.evaluate(SIDEWAYS) <= 0

    page = console.new_page()
    page.set_viewport_size(NARROW)
    sideways, unreachable = {}, {}
    for path in console.pages:
        open_page(page, path)
        if (overflow := page.evaluate(SIDEWAYS)) > 0:
            sideways[path] = overflow
        open_navigation(page)
        if controls := page.evaluate(UNREACHABLE):
            unreachable[path] = controls
    assert not sideways, f"pages wider than the screen (by px): {sideways}"
    assert not unreachable, f"navigation out of reach: {unreachable}"
    assert page.locator("nav.sidebar a.nav").count() >= 9
    no_browser_problems(page)


# --- keyboard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["wide", "narrow"])
def test_the_skip_link_is_the_first_tab_stop_and_focuses_the_main_content(console, signed_out,
                                                                          viewport):
    page = console.new_page()
    for tab in (page, signed_out):
        tab.set_viewport_size(viewport)
        open_page(tab, "/console/users" if tab is page else "/console/login")
        tab.bring_to_front()  # two pages are open: keys go to the one a person looks at
        if tab is signed_out:
            # The sign-in form focuses its email field itself; a click on the empty top-left
            # corner starts the Tab order from the top of the page again.
            tab.mouse.click(2, 2)
        tab.keyboard.press("Tab")
        skip = tab.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        # Shown once focused, inside the screen, so a sighted keyboard user sees it.
        box = skip.bounding_box()
        assert box and box["y"] >= 0 and box["x"] >= 0, box
        assert box["x"] + box["width"] <= viewport["width"], box
        tab.keyboard.press("Enter")
        expect(tab.locator("main#main")).to_be_focused()
        # The next Tab goes into the content, past the navigation.
        tab.keyboard.press("Tab")
        assert tab.evaluate("() => document.querySelector('main').contains("
                            "document.activeElement)")
        no_browser_problems(tab)


# --- toasts -------------------------------------------------------------------------------------


# Once the answer is swapped in and settled: the toast, and the button as it is now.
BOXES_WHEN_SETTLED = """(name) => {
  window.boxesWhenSettled = new Promise((resolve) => {
    document.addEventListener("htmx:afterSettle", () => {
      const box = (element) => {
        const rect = element.getBoundingClientRect();
        return {x: rect.x, y: rect.y, width: rect.width, height: rect.height};
      };
      const toast = document.querySelector("#toasts .toast");
      const button = Array.from(document.querySelectorAll("main button")).find(
        (b) => (b.getAttribute("aria-label") || b.textContent.trim()) === name);
      resolve({toast: toast && box(toast), button: button && box(button),
               role: toast && toast.getAttribute("role"), text: toast && toast.textContent});
    }, {once: true});
  });
}"""
# Where the button is put before it is pressed: its bottom edge 30 px above the screen's
# (in the bottom corner's band, where toasts used to cover it), or its top 20 px below the top.
PUT_BUTTON = {
    "bottom": "(b) => { b.scrollIntoView({block: 'end', inline: 'nearest'}); scrollBy(0, 30); }",
    "top": "(b) => { b.scrollIntoView({block: 'start', inline: 'nearest'}); scrollBy(0, -20); }",
}


def overlap(one: dict, other: dict) -> bool:
    return (one["x"] < other["x"] + other["width"] and other["x"] < one["x"] + one["width"]
            and one["y"] < other["y"] + other["height"]
            and other["y"] < one["y"] + one["height"])


@pytest.mark.parametrize(("size", "page_of", "name", "where"), [
    # The Test buttons are in the right-hand column, under the bottom-right corner's toasts.
    ("wide", "providers", "Test github", "bottom"),
    ("wide", "providers", "Test github", "top"),
    ("narrow", "providers", "Test github", "bottom"),
    ("narrow", "user", "Send magic link", "bottom"),
    ("narrow", "user", "Send magic link", "top"),
])
def test_a_toast_does_not_cover_the_button_that_triggered_it(console, size, page_of, name,
                                                             where):
    """The button is put at the bottom or the top of the screen, then pressed: the toast that
    reports on it keeps clear of it, inside the screen, and is announced."""
    viewport = WIDE if size == "wide" else NARROW
    page = console.new_page()
    page.set_viewport_size(viewport)
    email = TOAST_USERS[size, "end" if where == "bottom" else "start"]
    open_page(page, "/console/providers" if page_of == "providers"
              else f"/console/users/{console.users[email]}")
    button = page.get_by_role("button", name=name, exact=True)
    button.evaluate(PUT_BUTTON[where])
    page.evaluate(BOXES_WHEN_SETTLED, name)
    button.click()
    boxes = page.evaluate("() => window.boxesWhenSettled")
    expected = "github" if page_of == "providers" else email
    assert boxes["toast"] and expected in boxes["text"], boxes
    assert boxes["role"] == "status", boxes  # a live region: screen readers read it out
    assert boxes["button"], "the button is gone after the answer"
    assert not overlap(boxes["toast"], boxes["button"]), boxes
    toast = boxes["toast"]
    assert toast["x"] >= 0 and toast["x"] + toast["width"] <= viewport["width"], boxes
    assert toast["y"] >= 0 and toast["y"] + toast["height"] <= viewport["height"], boxes
    no_browser_problems(page)
