"""Cursors for keyset pagination over (timestamp, id): opaque, URL-safe and exact.

A cursor is the microseconds since the epoch and the hex id of the last row shown; the next
page starts strictly after that row in (timestamp desc, id desc) order.
"""

from __future__ import annotations

import uuid
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
