"""What the mail log and the audit log pages share: the time range filter and the pager."""

from __future__ import annotations

from datetime import datetime

from flask import request, url_for

from ..operations import log_paging


def time_range(raw: dict[str, str], problems: list[str]) -> dict[str, datetime | None]:
    """The From / To filters parsed (To includes its whole day); problems go to ``problems``."""
    times = {}
    for name, label in (("since", "From"), ("until", "To")):
        try:
            times[name] = log_paging.parse_time(raw[name], end_of_day=name == "until")
        except ValueError as problem:
            problems.append(f"{label}: {problem}.")
            times[name] = None
    return times


def page_size() -> int:
    return log_paging.page_size(request.args.get("limit"))


def pager(endpoint: str, raw: dict[str, str], limit: int, page: log_paging.Page) -> dict:
    """Links to the newest, newer and older pages with the same filters, and whether any
    filter is set (the pages offer "Clear" then)."""
    kept = {name: value for name, value in raw.items() if value}
    filtered = bool(kept)
    if limit != log_paging.DEFAULT_PAGE_SIZE:
        kept["limit"] = limit
    return {
        "filtered": filtered,
        "older_url": url_for(endpoint, **kept, before=page.older) if page.older else None,
        "newer_url": url_for(endpoint, **kept, after=page.newer) if page.newer else None,
        "newest_url": url_for(endpoint, **kept),
        "clear_url": url_for(endpoint),
    }
