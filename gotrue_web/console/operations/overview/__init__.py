"""The console's Overview page: charts of sign-ups, sign-ins, active users, failures, mail and
text messages over a day, a week or a month, and what needs an operator's attention.

Fast at a million users: each bar of a chart is one query over an index range (activity.py)
and each attention item a capped count (attention.py). What was computed is kept per process
(``OverviewCache``, held by the view): a past hour or day never changes, so it is counted once
and kept; the current one, and the attention list, are read again after TTL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ....runtime import Runtime
from . import activity, attention, charts
from .ranges import DAY, DEFAULT_RANGE, HOUR, RANGES, Bucket, Range, buckets, unit_length

TTL = timedelta(seconds=60)
# Rows can land in a bucket a little after it ends (a transaction that began before, the mail
# log written after the answer): a bucket is kept only once this much later.
SETTLE = timedelta(minutes=5)
# The sentence under the active users chart counts at most this many sessions.
FACT_CAP = 100_000

__all__ = ["DEFAULT_RANGE", "RANGES", "Overview", "OverviewCache", "overview", "parse_range"]


@dataclass(frozen=True)
class Overview:
    range: Range
    computed_at: datetime
    charts: tuple[charts.Chart, ...]
    attention: tuple[attention.Item, ...]

    @property
    def needs_attention(self) -> int:
        return sum(1 for item in self.attention if item.level != attention.OK)


@dataclass
class OverviewCache:
    """One process's overviews by range (for TTL) and the counts of finished buckets."""

    pages: dict[str, Overview] = field(default_factory=dict)
    # (metric, unit, bucket key) -> counts by series
    finished: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.pages.clear()
            self.finished.clear()


def parse_range(value: str | None) -> Range:
    """The range a query string asks for; anything unknown is the default."""
    return RANGES.get((value or "").strip(), RANGES[DEFAULT_RANGE])


def _series_counts(metric: activity.Metric, wanted: list[Bucket], now: datetime,
                   cache: OverviewCache) -> list[dict[str, int]]:
    """Counts per bucket: finished buckets from the cache, the others counted now."""
    settled = now - SETTLE
    found = []
    for bucket in wanted:
        key = (metric.name, bucket.unit, bucket.key)
        keep = metric.settled and bucket.end <= settled
        counts = cache.finished.get(key) if keep else None
        if counts is None:
            counts = metric.count(bucket.start, bucket.end)
            if keep:
                cache.finished[key] = counts
        found.append(counts)
    return found


def _forget_old(cache: OverviewCache, now: datetime) -> None:
    """Drop finished buckets older than the longest range (keys sort as times do)."""
    oldest = {unit: (now - unit_length(unit) * (longest + 1)).strftime(
        "%Y-%m-%d %H" if unit == HOUR else "%Y-%m-%d")
        for unit, longest in ((HOUR, 24), (DAY, 30))}
    for key in [key for key in cache.finished if key[2] < oldest[key[1]]]:
        del cache.finished[key]


def _facts(chosen: Range, start: datetime, limiter: attention.LimiterState) -> dict:
    sessions, sessions_capped = activity.sessions_used_since(start, FACT_CAP)
    active = (f"{attention.figure(sessions, sessions_capped)} "
              f"{attention.plural(sessions, 'session was', 'sessions were')} started or "
              f"refreshed during {chosen.words}.")
    wrong = attention.wrong_passwords(limiter)
    if wrong is None:
        failed = ("Wrong passwords in the last hour cannot be read now (the rate limiter's "
                  "storage does not answer, or the password throttle is off).")
    else:
        failed = (f"Right now the rate limiter counts {wrong.attempts:,} wrong "
                  f"{attention.plural(wrong.attempts, 'password', 'passwords')} for "
                  f"{wrong.accounts:,} {attention.plural(wrong.accounts, 'account', 'accounts')}"
                  " in the last hour.")
    return {"users": (active,), "failures": (failed,)}


def compute(rt: Runtime, chosen: Range, cache: OverviewCache) -> Overview:
    now = rt.now()
    wanted = buckets(chosen, now)
    limiter = attention.read_limiter(rt)
    facts = _facts(chosen, wanted[0].start, limiter)
    built = []
    for metric in activity.METRICS:
        counts = _series_counts(metric, wanted, now, cache)
        built.append(charts.build(metric.name, chosen, wanted, counts,
                                  facts.get(metric.name, ())))
    _forget_old(cache, now)
    return Overview(chosen, now, tuple(built), tuple(attention.items(rt, now, limiter)))


def overview(rt: Runtime, chosen: Range, cache: OverviewCache) -> Overview:
    """The overview of ``chosen``, at most TTL old (by ``rt.now()``)."""
    now = rt.now()
    with cache.lock:
        kept = cache.pages.get(chosen.name)
        if kept is not None and timedelta(0) <= now - kept.computed_at < TTL:
            return kept
        fresh = compute(rt, chosen, cache)
        cache.pages[chosen.name] = fresh
        return fresh
