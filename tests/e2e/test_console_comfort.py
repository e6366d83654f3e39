"""Keyboard and comfort in the console, in a real headless Chromium (issue 15).

- "/" focuses the page's search box, unless a field has the focus;
- the command palette (Ctrl+K, Cmd+K, or the nav's "Go to…" link): pages by name, users by
  email, the start of one, or id, arrow keys and Enter, Escape, focus kept in and given back;
- j / k move a visible row focus over a list, Enter and o open the row, "?" lists the keys;
- the theme menu (system / light / dark) survives a reload, is applied before the first paint
  and "system" follows the emulated colour scheme; both dark lists of the stylesheet agree;
- times in the browser's zone (Playwright's timezone_id) with the UTC text as the title;
- copy buttons put the id on the clipboard, or select it where there is no clipboard API;
- without JavaScript the pages keep the UTC text and the "Go to" page, with no copy buttons.

The accessibility checks in both themes are in test_console_accessibility.py.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from ..factories import make_user
from .conftest import ACTION_TIMEOUT_MS, REPORT_CSP_VIOLATIONS, BrowserProblems
from .test_console_e2e import no_browser_problems

pytestmark = pytest.mark.live

CREATED = datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
PEOPLE = ("ada.lovelace@example.com", "grace.hopper@example.com", "alan.turing@example.com")
# Where signing in lands: the users list, or the overview page once there is one.
LANDING = re.compile(r"/console/(users|overview)$")
PALETTE_INPUT = "Page name, user email or user id"


def sign_in(page: Page, operator) -> None:
    email, password = operator
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(LANDING)
    # Every test starts from the users list.
    if not page.url.endswith("/console/users"):
        page.goto("/console/users")
    settled(page)


@pytest.fixture
def people(app) -> dict[str, uuid.UUID]:
    """Three users, the newest first in the list (it sorts by creation, newest first)."""
    return {email: make_user(app, email, password="user-password-123",
                             created_at=CREATED - timedelta(hours=index))
            for index, email in enumerate(PEOPLE)}


@pytest.fixture
def open_context(browser, live_server):
    """``open_context(**options)``: a page in a browser context of its own (time zone, colour
    scheme, permissions, JavaScript off...), watched for problems like the ``page`` fixture's."""
    contexts = []

    def start(**options) -> Page:
        context = browser.new_context(base_url=live_server.url,
                                      viewport=options.pop("viewport", {"width": 1360,
                                                                        "height": 900}),
                                      **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(REPORT_CSP_VIOLATIONS)
        page.on("dialog", lambda dialog: dialog.accept())
        page.problems = BrowserProblems()
        page.problems.watch(page, live_server.url)
        return page

    yield start
    for context in contexts:
        context.close()


def settled(page: Page) -> None:
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")


def focused_id(page: Page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


# --- "/" -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "box"), [
    ("/console/users", "#user-search"), ("/console/sessions", "#session-user"),
    ("/console/audit", "#actor"), ("/console/mail", "#recipient"), ("/console/sms", "#number"),
])
def test_slash_focuses_the_search_box_of_the_page(page, operator, path, box):
    sign_in(page, operator)
    page.goto(path)
    settled(page)
    page.keyboard.press("/")
    expect(page.locator(box)).to_be_focused()
    # Typing in a field keeps "/" for the field.
    page.keyboard.type("a/b")
    expect(page.locator(box)).to_have_value("a/b")
    expect(page.locator(box)).to_be_focused()
    no_browser_problems(page)


def test_slash_is_left_alone_while_typing_in_any_field(page, operator):
    sign_in(page, operator)
    page.goto("/console/invites")
    field = page.locator("main textarea, main input[type=email], main input[type=text]").first
    field.click()
    page.keyboard.type("x/y")
    expect(field).to_be_focused()
    expect(field).to_have_value(re.compile(r"x/y$"))
    no_browser_problems(page)


# --- the command palette -------------------------------------------------------------------------


def palette_options(page: Page):
    return page.locator("#palette-options [role=option]")


def selected_option(page: Page):
    return page.locator("#palette-options [role=option][aria-selected=true]")


def expect_palette_open(page: Page) -> None:
    dialog = page.get_by_role("dialog", name="Go to")
    expect(dialog).to_be_visible()
    combobox = dialog.get_by_role("combobox", name=PALETTE_INPUT)
    expect(combobox).to_be_focused()
    # The chosen option is announced through aria-activedescendant on the focused input.
    active = combobox.get_attribute("aria-activedescendant")
    assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"


def test_palette_jumps_to_a_page_by_name(page, operator, people):
    sign_in(page, operator)
    search = page.locator("#user-search")
    search.focus()
    page.keyboard.press("Control+k")
    expect_palette_open(page)
    # Every page of the navigation is offered before anything is typed.
    nav_pages = page.locator("nav.sidebar a.nav").all_inner_texts()
    offered = palette_options(page).locator(".name").all_inner_texts()
    assert set(nav_pages) <= set(offered), (nav_pages, offered)

    page.keyboard.type("audit")
    expect(selected_option(page)).to_contain_text("Audit log")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/audit$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Audit")
    no_browser_problems(page)


def test_palette_arrow_keys_choose_and_escape_gives_the_focus_back(page, operator):
    sign_in(page, operator)
    search = page.locator("#user-search")
    search.focus()
    page.keyboard.press("Meta+k")  # Cmd+K on a Mac
    expect_palette_open(page)
    page.keyboard.type("log")
    expect(palette_options(page)).to_have_count(3)  # mail, audit and SMS logs
    names = palette_options(page).locator(".name")
    chosen = selected_option(page).locator(".name")
    expect(chosen).to_have_text(names.nth(0).inner_text())
    page.keyboard.press("ArrowDown")
    expect(chosen).to_have_text(names.nth(1).inner_text())
    combobox = page.get_by_role("combobox", name=PALETTE_INPUT)
    assert combobox.get_attribute("aria-activedescendant") == \
        selected_option(page).get_attribute("id")
    page.keyboard.press("ArrowUp")
    expect(chosen).to_have_text(names.nth(0).inner_text())
    page.keyboard.press("ArrowUp")  # wraps round to the last one
    expect(chosen).to_have_text(names.nth(2).inner_text())
    # Tab stays in the dialog.
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.getElementById('palette').contains("
                         "document.activeElement)")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Go to")).to_be_hidden()
    expect(search).to_be_focused()
    # And Ctrl+K again opens it afresh, then closes it.
    page.keyboard.press("Control+k")
    expect(page.get_by_role("combobox", name=PALETTE_INPUT)).to_have_value("")
    page.keyboard.press("Control+k")
    expect(page.get_by_role("dialog", name="Go to")).to_be_hidden()
    no_browser_problems(page)


@pytest.mark.parametrize("by", ["email", "start of the email", "id"])
def test_palette_jumps_to_a_user(page, operator, people, by, screenshot):
    sign_in(page, operator)
    grace = people["grace.hopper@example.com"]
    typed = {"email": "grace.hopper@example.com", "start of the email": "grace.h",
             "id": str(grace)}[by]
    page.keyboard.press("Control+k")
    expect_palette_open(page)
    page.keyboard.type(typed)
    option = palette_options(page).filter(has_text="grace.hopper@example.com")
    expect(option).to_have_count(1)
    expect(option).to_contain_text(str(grace))
    expect(selected_option(page)).to_contain_text("grace.hopper@example.com")
    expect(page.locator("#palette-status")).to_have_text(re.compile(r"\d+ destinations?"))
    if by == "start of the email":
        screenshot(page, "command-palette")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/users/{grace}$"))
    no_browser_problems(page)


def test_enter_before_the_users_arrive_waits_for_them(page, operator, people):
    sign_in(page, operator)
    alan = people["alan.turing@example.com"]
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name=PALETTE_INPUT).fill(str(alan))
    page.keyboard.press("Enter")  # sent at once, while the look-up is still running
    expect(page).to_have_url(re.compile(rf"/console/users/{alan}$"))
    no_browser_problems(page)


def test_the_go_to_link_opens_the_palette_for_touch_and_mouse(open_context, operator, people):
    page = open_context(viewport={"width": 390, "height": 844}, has_touch=True)
    sign_in(page, operator)
    link = page.get_by_role("link", name="Go to…")
    expect(link).to_be_visible()
    link.tap()
    expect_palette_open(page)
    box = page.locator("#palette").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    page.keyboard.type("ada")
    option = palette_options(page).filter(has_text="ada.lovelace@example.com")
    option.tap()
    expect(page).to_have_url(re.compile(rf"/console/users/{people['ada.lovelace@example.com']}$"))
    # Measured once the page has settled: a loaded CI machine once measured the page mid-load
    # (446 px); an overflow that stays still fails after the wait.
    page.wait_for_load_state("load")
    page.wait_for_function("() => document.documentElement.scrollWidth <= 390", timeout=5000)
    no_browser_problems(page)


# --- j / k, Enter and o, "?" ---------------------------------------------------------------------


def current_row(page: Page):
    return page.locator("table.data tbody tr.row-current")


def test_j_and_k_move_over_the_users_list_and_enter_opens_the_row(page, operator, people):
    sign_in(page, operator)
    page.goto("/console/users")
    settled(page)
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(3)
    # Arrow keys scroll the page as always: they choose no row.
    page.keyboard.press("ArrowDown")
    expect(current_row(page)).to_have_count(0)

    page.keyboard.press("j")
    expect(current_row(page)).to_contain_text(PEOPLE[0])
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last row
    expect(current_row(page)).to_contain_text(PEOPLE[2])
    page.keyboard.press("k")
    expect(current_row(page)).to_contain_text(PEOPLE[1])
    expect(current_row(page)).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/users/{people[PEOPLE[1]]}$"))

    page.go_back()
    settled(page)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(current_row(page)).to_contain_text(PEOPLE[1])
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(rf"/console/users/{people[PEOPLE[1]]}$"))
    no_browser_problems(page)


def test_row_checkboxes_still_work_with_j_and_k(page, operator, people):
    """Where the users list has selection checkboxes (bulk actions), j/k leave them alone and x
    ticks the current row's."""
    sign_in(page, operator)
    page.goto("/console/users")
    settled(page)
    boxes = page.locator("table.users tbody tr input[type=checkbox]")
    if not boxes.count():
        pytest.skip("the users list has no row checkboxes in this tree")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(boxes.nth(0)).to_be_checked()
    boxes.nth(1).click()
    expect(boxes.nth(1)).to_be_checked()
    # j goes on from the row that has the focus (the clicked checkbox's).
    page.keyboard.press("j")
    expect(current_row(page)).to_contain_text(PEOPLE[2])
    expect(boxes.nth(0)).to_be_checked()
    expect(boxes.nth(1)).to_be_checked()
    no_browser_problems(page)


def test_question_mark_lists_the_shortcuts(page, operator):
    sign_in(page, operator)
    page.locator("main h1").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for key in ("/", "j", "o", "?", "Esc"):
        expect(dialog.locator("kbd").filter(has_text=re.compile(rf"^{re.escape(key)}$")).first
               ).to_be_visible()
    assert page.evaluate("() => document.getElementById('shortcuts').contains("
                         "document.activeElement)")
    # Letter keys do nothing while it is open.
    page.keyboard.press("j")
    expect(current_row(page)).to_have_count(0)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # The nav's button opens it too, and Close gives the focus back to the button.
    button = page.get_by_role("button", name="Shortcuts")
    button.click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    no_browser_problems(page)


# --- theme ---------------------------------------------------------------------------------------


CANVAS = "() => getComputedStyle(document.documentElement).backgroundColor"
# The <body> exists only after <head>'s scripts ran: the theme it sees is the first painted.
THEME_AT_FIRST_PAINT = """
new MutationObserver((changes, observer) => {
  if (document.body) {
    window.themeAtBody = document.documentElement.getAttribute("data-theme");
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""
LIGHT_CANVAS, DARK_CANVAS = "rgb(245, 247, 250)", "rgb(18, 23, 29)"


def test_theme_follows_the_system_and_the_choice_survives_a_reload(open_context, operator,
                                                                   people, screenshot):
    page = open_context(color_scheme="dark")
    page.add_init_script(THEME_AT_FIRST_PAINT)
    sign_in(page, operator)
    theme = page.get_by_label("Theme")
    expect(theme).to_have_value("system")
    assert page.evaluate(CANVAS) == DARK_CANVAS
    page.emulate_media(color_scheme="light")
    assert page.evaluate(CANVAS) == LIGHT_CANVAS

    theme.select_option("dark")
    assert page.evaluate(CANVAS) == DARK_CANVAS
    page.reload()
    expect(page.get_by_label("Theme")).to_have_value("dark")
    assert page.evaluate("() => window.themeAtBody") == "dark"
    assert page.evaluate(CANVAS) == DARK_CANVAS
    screenshot(page, "users-dark")
    # A boosted navigation (htmx swaps the body) keeps it, and the menu says so.
    page.locator("nav.sidebar a.nav", has_text="Audit log").click()
    expect(page).to_have_url(re.compile(r"/console/audit$"))
    expect(page.get_by_label("Theme")).to_have_value("dark")
    assert page.evaluate(CANVAS) == DARK_CANVAS

    page.emulate_media(color_scheme="dark")
    page.get_by_label("Theme").select_option("light")
    assert page.evaluate(CANVAS) == LIGHT_CANVAS
    page.reload()
    assert page.evaluate("() => window.themeAtBody") == "light"
    assert page.evaluate(CANVAS) == LIGHT_CANVAS

    page.get_by_label("Theme").select_option("system")
    assert page.evaluate(CANVAS) == DARK_CANVAS
    page.reload()
    assert page.evaluate("() => window.themeAtBody") is None
    expect(page.get_by_label("Theme")).to_have_value("system")
    assert page.evaluate("() => localStorage.getItem('console-theme')") is None
    no_browser_problems(page)


# Every custom property of the explicit dark list, as the page computes it.
DARK_VALUES = """() => {
  const names = [];
  for (const sheet of document.styleSheets) {
    for (const rule of sheet.cssRules) {
      if (rule.selectorText === ':root[data-theme="dark"]') {
        for (const name of rule.style) if (name.startsWith("--")) names.push(name);
      }
    }
  }
  const style = getComputedStyle(document.documentElement);
  return Object.fromEntries(names.map((name) => [name, style.getPropertyValue(name).trim()]));
}"""


def test_the_systems_dark_and_the_chosen_dark_are_the_same_colours(open_context, operator):
    page = open_context(color_scheme="dark")
    sign_in(page, operator)
    by_system = page.evaluate(DARK_VALUES)
    assert len(by_system) >= 20, by_system
    page.emulate_media(color_scheme="light")
    page.get_by_label("Theme").select_option("dark")
    assert page.evaluate(DARK_VALUES) == by_system
    no_browser_problems(page)


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_times_show_in_the_browsers_zone_with_utc_on_hover(open_context, operator, people,
                                                          zone):
    page = open_context(timezone_id=zone)
    sign_in(page, operator)
    ada = people["ada.lovelace@example.com"]
    local = CREATED.astimezone(ZoneInfo(zone))
    page.goto(f"/console/users/{ada}")
    created = page.locator("#profile dt:has-text('Created') + dd time")
    expect(created).to_have_attribute("datetime", "2026-02-03T04:05:06Z")
    expect(created).to_have_attribute("title", "2026-02-03 04:05:06 UTC")
    expect(created).to_have_text(re.compile(
        "^" + re.escape(local.strftime("%Y-%m-%d %H:%M:%S")) + r"\s(GMT[+-]\d+|E[SD]T)$"))
    expect(page.locator("#profile time[title$='UTC']")).not_to_have_count(0)

    # The list shows minutes; after an htmx swap (a search) the new rows are converted too.
    page.goto("/console/users")
    row = page.locator("table.users tbody tr").filter(has_text="ada.lovelace@example.com")
    expect(row.locator("time").first).to_have_text(re.compile(
        "^" + re.escape(local.strftime("%Y-%m-%d %H:%M")) + r"\s"))
    page.locator("#user-search").fill("ada")
    expect(page.locator("table.users tbody tr")).to_have_count(1)
    settled(page)
    expect(page.locator("table.users tbody tr time").first).to_have_attribute(
        "title", "2026-02-03 04:05 UTC")
    expect(page.locator("table.users tbody tr time").first).to_have_text(re.compile(
        "^" + re.escape(local.strftime("%Y-%m-%d %H:%M")) + r"\s"))
    no_browser_problems(page)


def test_without_javascript_times_stay_in_utc_and_go_to_is_a_page(open_context, operator,
                                                                  people):
    page = open_context(java_script_enabled=False, timezone_id="Asia/Tokyo")
    sign_in(page, operator)
    ada = people["ada.lovelace@example.com"]
    page.goto(f"/console/users/{ada}")
    expect(page.locator("#profile dt:has-text('Created') + dd time")).to_have_text(
        "2026-02-03 04:05:06\u00a0UTC")
    # Copy buttons need the script; the theme menu too. Neither is shown.
    expect(page.locator("button.copy")).not_to_have_count(0)
    expect(page.locator("button.copy").first).to_be_hidden()
    expect(page.locator(".sidebar .comfort")).to_be_hidden()
    page.get_by_role("link", name="Go to…").click()
    expect(page).to_have_url(re.compile(r"/console/palette$"))
    page.get_by_label("User", exact=True).fill("grace")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="grace.hopper@example.com").click()
    expect(page).to_have_url(re.compile(rf"/console/users/{people['grace.hopper@example.com']}$"))


# --- copy buttons --------------------------------------------------------------------------------


def test_a_copy_button_puts_the_id_on_the_clipboard(open_context, live_server, operator,
                                                    people):
    page = open_context(permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, operator)
    ada = people["ada.lovelace@example.com"]
    page.goto(f"/console/users/{ada}")
    page.get_by_role("button", name="Copy the user id").click()
    # Its name says so for a moment, and a live region announces it.
    expect(page.locator("#profile button.copy")).to_have_text(re.compile(r"^Copied"))
    expect(page.locator("#live-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == str(ada)

    # From the list too, where only the start of the id is shown.
    page.goto("/console/users")
    page.get_by_role("button", name="Copy the id of grace.hopper@example.com").click()
    expect(page.locator("#live-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == str(
        people["grace.hopper@example.com"])
    no_browser_problems(page)


NO_CLIPBOARD = "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined});"


def test_without_the_clipboard_api_the_id_is_selected_to_copy(open_context, operator, people):
    page = open_context()
    page.add_init_script(NO_CLIPBOARD)
    sign_in(page, operator)
    ada = people["ada.lovelace@example.com"]
    page.goto(f"/console/users/{ada}")
    page.get_by_role("button", name="Copy the user id").click()
    field = page.locator("#profile input.copy-fallback")
    expect(field).to_have_value(str(ada))
    expect(field).to_be_focused()
    selected = page.evaluate("() => [document.activeElement.selectionStart,"
                             " document.activeElement.selectionEnd]")
    assert selected == [0, len(str(ada))]
    expect(page.locator("#live-status")).to_have_text(re.compile(r"Copied|Press Control C"))
    no_browser_problems(page)
