"""The overview's time ranges and their buckets: the last 24 hours by hour, the last 7 or 30
days by day, in UTC. The last bucket is the current hour or day, still filling.

A bucket's ``key`` names it in the cache of finished buckets (console.operations.overview).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

HOUR, DAY = "hour", "day"


@dataclass(frozen=True)
class Range:
    name: str
    label: str
    # "the last 24 hours": the words a sentence uses for the range.
    words: str
    unit: str
    buckets: int


RANGES = {r.name: r for r in (
    Range("day", "Day", "the last 24 hours", HOUR, 24),
    Range("week", "Week", "the last 7 days", DAY, 7),
    Range("month", "Month", "the last 30 days", DAY, 30),
)}
DEFAULT_RANGE = "week"


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    unit: str

    @property
    def key(self) -> str:
        """"YYYY-MM-DD HH" or "YYYY-MM-DD": sorts as the buckets do."""
        return self.start.strftime("%Y-%m-%d %H" if self.unit == HOUR else "%Y-%m-%d")

    @property
    def label(self) -> str:
        """Short, for an axis: "14:00" or "Mon 30"."""
        if self.unit == HOUR:
            return self.start.strftime("%H:00")
        return f"{self.start:%a} {self.start.day}"

    @property
    def long_label(self) -> str:
        """For the table and tooltips: "30 Nov 14:00–15:00" or "Mon 30 Nov"."""
        if self.unit == HOUR:
            return f"{self.start.day} {self.start:%b %H:00}–{self.end:%H:00}"
        return f"{self.start:%a} {self.start.day} {self.start:%b}"


def unit_length(unit: str) -> timedelta:
    return timedelta(hours=1) if unit == HOUR else timedelta(days=1)


def buckets(chosen: Range, now: datetime) -> list[Bucket]:
    """The range's buckets, oldest first; the last one holds ``now``."""
    now = now.astimezone(timezone.utc)
    if chosen.unit == HOUR:
        current = now.replace(minute=0, second=0, microsecond=0)
    else:
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
    step = unit_length(chosen.unit)
    starts = [current - step * back for back in range(chosen.buckets - 1, -1, -1)]
    return [Bucket(start, start + step, chosen.unit) for start in starts]
