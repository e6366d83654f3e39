"""Reading the mail log and audit log pages: their rows (``<tr id="<prefix>-<uuid>">``) and
pager links."""

from __future__ import annotations

import html
import re
import uuid


def row_ids(prefix: str, page: str) -> list[uuid.UUID]:
    """The entries a page shows, in order."""
    return [uuid.UUID(found)
            for found in re.findall(rf'<tr id="{prefix}-([0-9a-f-]{{36}})"', page)]


def row_html(prefix: str, page: str, entry_id) -> str:
    start = page.index(f'<tr id="{prefix}-{entry_id}"')
    return page[start:page.index("</tr>", start)]


def pager_link(page: str, rel: str) -> str | None:
    match = re.search(rf'href="([^"]+)" rel="{rel}"', page)
    return html.unescape(match.group(1)) if match else None


def walk(console, prefix: str, first: str, rel: str) -> list[list[uuid.UUID]]:
    """Follow the ``rel`` pager links from ``first``: the entry ids of each page."""
    pages, url = [], first
    while url:
        response = console.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        pages.append(row_ids(prefix, page))
        url = pager_link(page, rel)
        assert len(pages) < 50, "paging does not end"
    return pages
