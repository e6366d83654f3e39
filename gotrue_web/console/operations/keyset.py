"""Cursors for keyset pagination over (timestamp, id): opaque, URL-safe and exact.

A cursor is the microseconds since the epoch and the hex id of the last row shown; the next
page starts strictly after that row in (timestamp desc, id desc) order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def encode(moment: datetime | None, row_id: uuid.UUID) -> str:
    moment = moment or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return f"{(moment - _EPOCH) // _MICROSECOND}.{row_id.hex}"


def decode(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (timestamp, id) a cursor names; None for a missing or malformed one."""
    if not cursor:
        return None
    micros, _, hex_id = cursor.partition(".")
    try:
        return _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=hex_id)
    except (ValueError, OverflowError):
        return None


def after(timestamp_column, id_column, cursor: str | None):
    """The WHERE clause for rows after ``cursor`` in (timestamp desc, id desc) order, or None."""
    position = decode(cursor)
    if position is None:
        return None
    moment, row_id = position
    return sa.or_(timestamp_column < moment,
                  sa.and_(timestamp_column == moment, id_column < row_id))


@dataclass
class Slice:
    """One page of a keyset-paged view, with the cursors of its neighbours."""

    rows: list
    next_cursor: object = None
    prev_cursor: object = None
    # Past the end: "previous" is the page that ends at the cursor, reached as the page after
    # this row (None with an empty prev_cursor too: the first page).
    back_after: object = None
    # False when the page starts somewhere after the first row of the view.
    is_first: bool = True


def slice_page(read: Callable[[object, bool, int], list], cursor_of: Callable[[object], object],
               limit: int, *, before=None, after=None) -> Slice:
    """The page of ``limit`` rows after the cursor ``after`` (the first page without one), or
    the one ending before ``before``.

    ``read(cursor, forward, count)`` returns up to ``count`` rows after the cursor in page order
    (``forward``) or before it, nearest first; ``cursor_of(row)`` is the cursor of a row.
    """
    if before is not None:
        rows = read(before, False, limit + 1)
        if len(rows) > limit:
            rows = list(reversed(rows[:limit]))
            return Slice(rows, cursor_of(rows[-1]), cursor_of(rows[0]), is_first=False)
        # Fewer rows than a page before the cursor: that is the first page; show it whole.
        after = None
    rows = read(after, True, limit + 1)
    page = Slice(rows[:limit], is_first=after is None)
    if len(rows) > limit:
        page.next_cursor = cursor_of(page.rows[-1])
    if after is not None and page.rows:
        page.prev_cursor = cursor_of(page.rows[0])
    elif after is not None:
        # Past the end (rows deleted meanwhile): "previous" shows the page ending at the cursor.
        earlier = read(after, False, limit)
        if len(earlier) == limit:
            page.back_after = cursor_of(earlier[-1])
    return page
