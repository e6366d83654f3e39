"""Browser fixtures: Debian's Chromium driven by Playwright against the app on a real port.

Playwright never downloads a browser here: it launches /usr/bin/chromium (the Debian package
.ci/run installs). A missing Chromium fails these tests; it does not skip them.

Screenshots go to artifacts/screenshots/ (git-ignored). Two of them illustrate the README from
docs/screenshots/; refresh those with ``UPDATE_DOCS_SCREENSHOTS=1 bin/test tests/e2e``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from gotrue_web.console.operations import operators
from gotrue_web.extensions import db

from ..conftest import ApiClient, api_for
from ..console.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Long enough for a loaded CI machine; a healthy page answers in well under a second.
ACTION_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(apt-get install -y chromium; .ci/run does it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        yield browser
        browser.close()


@pytest.fixture
def app(make_mail_app):
    """The console app of the browser tests: mail goes to the SMTP sink."""
    return make_mail_app(**{"mailer.autoconfirm": True, "site_url": "http://localhost:3000"})


@pytest.fixture
def operator(app):
    with app.app_context():
        operators.create(app.extensions["gotrue"], OPERATOR_EMAIL, OPERATOR_PASSWORD)
        db.session.commit()
    return OPERATOR_EMAIL, OPERATOR_PASSWORD


@pytest.fixture
def admin_api(app, service_role_token) -> ApiClient:
    """The admin API, to set up users the way an application would."""
    return api_for(app, service_role_token)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


class BrowserProblems:
    """What the page reported that a person would not see: CSP violations, script errors,
    failed requests to our server. Each test ends by asserting there were none."""

    def __init__(self):
        self.items: list[str] = []

    def watch(self, page, origin: str) -> None:
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.items.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self._failed(request, origin))
        page.on("response", lambda response: self._response(response, origin))

    def _console(self, message) -> None:
        # 4xx answers are part of the flows (a refused sign-in is a 401, a form error a 422);
        # they show up as "Failed to load resource". Everything else is a fault (CSP, scripts).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.items.append(f"console: {message.text} at {message.location}")

    def _response(self, response, origin: str) -> None:
        if response.url.startswith(origin) and response.status >= 500:
            self.items.append(f"server error: {response.status} {response.request.method} "
                              f"{response.url}")

    def _failed(self, request, origin: str) -> None:
        # A navigation that replaces an in-flight request aborts it; that is not a fault.
        if request.url.startswith(origin) and request.failure != "net::ERR_ABORTED":
            self.items.append(f"request failed: {request.method} {request.url} "
                              f"({request.failure})")


# Chromium's own CSP message does not say which element broke the policy; this does.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const target = event.target && event.target.outerHTML
    ? event.target.outerHTML.slice(0, 300) : String(event.target);
  console.error(`CSP violation (${event.violatedDirective}) by ${target}`);
});
"""


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context (no cookies) on the live server; confirm dialogs are accepted,
    and a failing test leaves a screenshot behind."""
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": 1360, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on("dialog", lambda dialog: dialog.accept())
    problems = BrowserProblems()
    problems.watch(page, live_server.url)
    page.problems = problems
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        page.screenshot(path=str(SCREENSHOTS / f"failed-{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def screenshot():
    """Save a full-page screenshot as artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return shoot


DOCS_COPIES = ("users.png", "template-editor.png", "bulk-actions.png", "overview.png")


def pytest_sessionfinish(session, exitstatus):
    """Refresh the README's screenshots when asked to, from a passing run."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") != "1" or exitstatus != 0:
        return
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in DOCS_COPIES:
        source = SCREENSHOTS / name
        if source.exists():
            shutil.copyfile(source, DOCS_SCREENSHOTS / name)
