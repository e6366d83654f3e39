"""Go to: the users the command palette offers for what the operator typed.

console.js's palette (Ctrl+K) asks for the fragment (htmx's HX-Request header) and lists its
links beside the console's pages; without JavaScript, the nav's "Go to" link opens the same
search as a page. It reads the users list's own search, so an email, the start of one, a
phone number, a whole id or its first 8 characters find the same users there and here.
"""

from __future__ import annotations

from flask import request

from ..runtime import current_runtime
from .htmx import render_page_or_fragment
from .operations import user_search
from .operations.user_search import InvalidSearch, PageRequest, UserFilters

PAGE = "console/palette/index.html"
RESULTS = "console/palette/_users.html"
# A palette offers a handful; the users list is one Enter away for more.
SHOWN = 8


def palette():
    rt = current_runtime()
    query = request.args.get("q", "").strip()
    rows, error = [], None
    if query:
        try:
            filters = UserFilters.from_args({"q": query})
            page = user_search.find_page(filters, PageRequest(per_page=SHOWN), rt.now(),
                                         rt.settings.sessions)
            rows, error = page.rows, page.notice
        except InvalidSearch as invalid:
            error = str(invalid)
    return render_page_or_fragment(PAGE, RESULTS, query=query, rows=rows, error=error,
                                   shown=SHOWN, section="palette")
