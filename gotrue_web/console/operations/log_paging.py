"""Paging and filter helpers for the console's logs (mail log, audit log). Read only.

Pages are newest first over (created_at, id), with keyset cursors in both directions ("older"
and "newer" links), so any page costs one indexed range query. Cursors are keyset.encode's.
Also: the time-range bounds the filter forms send, a substring match that behaves the same
on SQLite, PostgreSQL and MariaDB, and which users a page's entries may link to.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from ...extensions import db
from ...models import User
from ...services.validation import has_control_characters
from . import keyset

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_FILTER_LENGTH = 255
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Page:
    items: list = field(default_factory=list)
    # Cursors for the "older" and "newer" links; None when there is nothing that way.
    older: str | None = None
    newer: str | None = None


def page_size(value: str | int | None) -> int:
    """A requested page size clamped to 1..MAX_PAGE_SIZE (the default for junk)."""
    try:
        size = int(value) if value not in (None, "") else DEFAULT_PAGE_SIZE
    except (TypeError, ValueError):
        size = DEFAULT_PAGE_SIZE
    return min(max(size, 1), MAX_PAGE_SIZE)


def fetch(query: sa.Select, created_at, id_column, *, limit: int, before: str | None = None,
          after: str | None = None) -> Page:
    """One page of ``query`` (a select of ORM rows with ``created_at`` and ``id``), newest
    first: the rows older than cursor ``before``, or else the rows just newer than ``after``.
    A malformed cursor reads as none (the newest page)."""
    older_than, newer_than = keyset.decode(before), None
    if older_than is None:
        newer_than = keyset.decode(after)
    if older_than is not None:
        moment, row_id = older_than
        query = query.where(sa.or_(created_at < moment,
                                   sa.and_(created_at == moment, id_column < row_id)))
    if newer_than is not None:
        moment, row_id = newer_than
        query = query.where(sa.or_(created_at > moment,
                                   sa.and_(created_at == moment, id_column > row_id)))
        query = query.order_by(created_at.asc(), id_column.asc())
    else:
        query = query.order_by(created_at.desc(), id_column.desc())
    rows = list(db.session.execute(query.limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    if newer_than is not None:
        rows.reverse()
    page = Page(items=rows)
    if not rows:
        # Past either end: offer the way back.
        page.newer = keyset.encode(*older_than) if older_than else None
        page.older = keyset.encode(*newer_than) if newer_than else None
        return page
    has_older = more if newer_than is None else True
    has_newer = more if newer_than is not None else older_than is not None
    page.older = keyset.encode(rows[-1].created_at, rows[-1].id) if has_older else None
    page.newer = keyset.encode(rows[0].created_at, rows[0].id) if has_newer else None
    return page


def parse_time(value: str | None, *, end_of_day: bool = False) -> datetime | None:
    """A time-range bound from a form: "2030-01-02", "2030-01-02T03:04[:05]" (UTC unless it
    carries an offset) or empty (None). A bare date as an upper bound means the end of that
    day (the end of time for 9999-12-31). Raises ValueError, with a message for the operator,
    for anything else or a moment outside the years 1 to 9999 in UTC."""
    text = (value or "").strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date or a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the years 1 to 9999 in UTC") from None
    if end_of_day and _DATE.fullmatch(text):
        try:
            moment += timedelta(days=1)
        except OverflowError:
            moment = datetime.max.replace(tzinfo=timezone.utc)
    return moment


def filter_text(value: str | None) -> str:
    """A text filter as typed: trimmed and cut to MAX_FILTER_LENGTH. Raises ValueError for
    control characters, which no stored address or action holds (and PostgreSQL refuses
    NUL in a query outright)."""
    text = (value or "").strip()[:MAX_FILTER_LENGTH]
    if has_control_characters(text):
        raise ValueError("control characters cannot be searched for")
    return text


def contains(expression, text: str):
    """Case-insensitive substring match; LIKE wildcards in ``text`` match themselves."""
    escaped = text.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
    return sa.func.lower(expression).like(f"%{escaped}%", escape="/")


def existing_users(ids: Iterable[uuid.UUID | None]) -> set[uuid.UUID]:
    """Which of ``ids`` still name a user: log entries outlive their users (deleted, or
    rolled back with the request that failed to email them), and a link to a missing user
    only leads to a 404."""
    wanted = {user_id for user_id in ids if user_id is not None}
    if not wanted:
        return set()
    return set(db.session.execute(sa.select(User.id).where(User.id.in_(wanted))).scalars())
