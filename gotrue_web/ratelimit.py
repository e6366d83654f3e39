"""Request rate limits: one wrapper around the ``limits`` library, used by one guard in the
route table (api.guards.rate_limited).

A RateLimiter holds named buckets, each with its limit, counted in a moving window per key, in
a storage named by URL: ``memory://`` counts in this process only; ``redis://host:port/db``
is shared by every worker and every server. A storage that fails is logged and the request
let through (fail open): an outage of the counter store must not take sign-in down with it.

GoTrue's per-client limits (RATE_LIMIT_VERIFY, _TOKEN_REFRESH, _OTP, each per five minutes)
apply only when GOTRUE_RATE_LIMIT_HEADER names the header that identifies the client, as in
GoTrue; without it no bucket is configured and the guard costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .settings import RateLimitSettings

log = logging.getLogger(__name__)

# GoTrue counts these per five minutes.
_WINDOW_MINUTES = 5


class RateLimiter:
    """Counts hits per (bucket, key) against each bucket's limit."""

    def __init__(self, limits_by_bucket: Mapping[str, RateLimitItem],
                 storage_url: str = "memory://"):
        self.limits = dict(limits_by_bucket)
        try:
            self.storage = storage_from_string(storage_url)
        except ConfigurationError as exc:
            raise ValueError(f"unusable rate-limit storage {storage_url!r}: {exc}") from None
        self.strategy = MovingWindowRateLimiter(self.storage)

    @classmethod
    def from_settings(cls, settings: RateLimitSettings,
                      storage_url: str = "memory://") -> "RateLimiter":
        """GoTrue's per-client buckets, configured only when RATE_LIMIT_HEADER is set."""
        if not settings.header:
            return cls({}, storage_url)
        per_window = {"verify": settings.verify, "token": settings.token_refresh,
                      "otp": settings.otp}
        return cls({bucket: RateLimitItemPerMinute(max(1, round(amount)), _WINDOW_MINUTES)
                    for bucket, amount in per_window.items()}, storage_url)

    def limit_of(self, bucket: str) -> RateLimitItem | None:
        return self.limits.get(bucket)

    def hit(self, bucket: str, key: str) -> float | None:
        """Count one request of ``key`` in ``bucket``: None when it is allowed, else the
        seconds until the next one will be. Unconfigured buckets allow everything."""
        limit = self.limits.get(bucket)
        if limit is None:
            return None
        try:
            if self.strategy.hit(limit, bucket, key):
                return None
            reset_at = self.strategy.get_window_stats(limit, bucket, key).reset_time
        except Exception:  # noqa: BLE001 - any storage failure: fail open, and say so
            log.exception("rate-limit storage failed; letting the request through")
            return None
        return max(0.0, reset_at - time.time())

    def clear(self, bucket: str, key: str) -> None:
        """Forget the counts of ``key`` in ``bucket``."""
        limit = self.limits.get(bucket)
        if limit is not None:
            self.strategy.clear(limit, bucket, key)


def retry_after_seconds(wait: float) -> int:
    """The Retry-After header value for a wait: whole seconds, at least one."""
    return max(1, math.ceil(wait))
