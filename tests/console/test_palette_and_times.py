"""The command palette's user search (GET /console/palette), and what every page renders for
console.js without depending on it: times as <time datetime="...Z"> with UTC text, copy
buttons hidden until the script shows them, the palette and shortcut dialogs, and the theme
script in <head>. The browser side is tests/e2e/test_console_comfort.py."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from .. import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
CREATED = datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
USER_LINK = re.compile(r'href="/console/users/([0-9a-f-]{36})" data-palette-user')


@pytest.fixture(autouse=True)
def fixed_clock(app):
    factories.freeze_clock(app, NOW)


@pytest.fixture
def people(app) -> dict[str, uuid.UUID]:
    return {email: factories.make_user(app, email, created_at=CREATED + timedelta(minutes=i))
            for i, email in enumerate(("ada.lovelace@example.com", "adam.smith@example.com",
                                       "grace.hopper@example.com"))}


def found(response) -> list[uuid.UUID]:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [uuid.UUID(match) for match in USER_LINK.findall(response.get_data(as_text=True))]


def test_the_palette_finds_users_by_email_its_start_and_id(console, people):
    ada, adam = people["ada.lovelace@example.com"], people["adam.smith@example.com"]
    by_email = console.get("/console/palette?q=ada.lovelace@example.com", htmx=True)
    assert found(by_email) == [ada]
    assert sorted(found(console.get("/console/palette?q=ada", htmx=True))) == sorted([ada, adam])
    assert found(console.get(f"/console/palette?q={ada}", htmx=True)) == [ada]
    # The short id the users list shows finds the user too.
    assert found(console.get(f"/console/palette?q={str(adam)[:8]}", htmx=True)) == [adam]
    # The fragment alone: console.js reads its links, with the label and the id.
    body = by_email.get_data(as_text=True)
    assert "<html" not in body and 'data-label="ada.lovelace@example.com"' in body
    assert f'data-detail="{ada}"' in body
    assert "HX-Request" in by_email.headers["Vary"]


def test_the_palette_says_when_nothing_matches_or_the_search_is_refused(console, people):
    nobody = console.get("/console/palette?q=nobody-by-this-name", htmx=True)
    assert found(nobody) == []
    assert "data-palette-empty" in nobody.get_data(as_text=True)
    refused = console.get("/console/palette?q=" + "a" * 300, htmx=True)
    assert refused.status_code == 200
    assert "data-palette-error" in refused.get_data(as_text=True)
    assert found(refused) == []


def test_without_javascript_the_go_to_page_searches_users(console, people):
    page = console.get("/console/palette?q=grace")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Go to</h1>" in body
    assert found(page) == [people["grace.hopper@example.com"]]
    assert 'value="grace"' in body
    empty = console.get("/console/palette")
    assert empty.status_code == 200 and "Type something to look for." in empty.get_data(True)


def test_the_palette_needs_a_signed_in_operator(anonymous_console, people):
    response = anonymous_console.get("/console/palette?q=ada", htmx=True)
    assert response.status_code in (302, 303, 401)
    assert b"ada.lovelace" not in response.data


def test_times_are_utc_in_the_markup_for_the_script_to_localize(console, people):
    ada = people["ada.lovelace@example.com"]
    body = console.get(f"/console/users/{ada}").get_data(as_text=True)
    # The user page's "Created": seconds, UTC, the ISO moment with its zone.
    assert ('<time class="moment" datetime="2026-02-03T04:05:06Z" data-precision="seconds">'
            '2026-02-03 04:05:06\u00a0UTC</time>') in body
    listed = console.get("/console/users").get_data(as_text=True)
    assert ('<time class="moment" datetime="2026-02-03T04:05:06Z" data-precision="minutes">'
            '2026-02-03 04:05\u00a0UTC</time>') in listed


def test_ids_have_copy_buttons_that_wait_for_the_script(console, people):
    ada = people["ada.lovelace@example.com"]
    body = console.get(f"/console/users/{ada}").get_data(as_text=True)
    assert (f'<button type="button" class="copy" data-copy="{ada}" data-needs-js hidden>'
            '<span class="copy-label">Copy</span><span class="sr-only"> the user id</span>'
            '</button>') in body
    listed = console.get("/console/users").get_data(as_text=True)
    assert f'data-copy="{ada}"' in listed
    assert "the id of ada.lovelace@example.com" in listed


def test_every_page_carries_the_dialogs_the_theme_script_and_the_palette_link(console):
    body = console.get("/console/users").get_data(as_text=True)
    head = body.split("</head>")[0]
    # Not deferred: it runs before the first paint.
    assert re.search(r'<script src="/static/console-theme.js"></script>', head)
    assert '<dialog id="palette"' in body and '<dialog id="shortcuts"' in body
    assert 'role="combobox"' in body and 'role="listbox"' in body
    assert re.search(r'<a class="palette-open" href="/console/palette" data-palette-open', body)
    # No inline script or style: the console's CSP allows neither.
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)
    assert " style=" not in body and "<style" not in body
