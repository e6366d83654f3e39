"""Per-client and per-address email budgets, beyond GoTrue's global RATE_LIMIT_EMAIL_SENT.

GoTrue counts every email against one global budget, so a single client could spend it and
stop every sign-up and recovery for an hour. Here each email also counts against the address
it goes to and the client whose request caused it (ratelimit.requesting_client; console
actions have none). Both fail closed: while the counters cannot be read, nothing is sent.
"""

from __future__ import annotations

from ..errors import ErrorCode, too_many_requests
from ..ratelimit import requesting_client, retry_after_seconds
from ..runtime import Runtime


def charge_email(rt: Runtime, recipient: str) -> None:
    """Count one email to ``recipient``; 429 over_email_send_rate_limit when a budget is spent."""
    for bucket, key in (("email_address", recipient.strip().lower()),
                        ("email_client", requesting_client())):
        if not key:
            continue
        wait = rt.limiter.hit(bucket, key)
        if wait is not None:
            raise too_many_requests(ErrorCode.OVER_EMAIL_SEND_RATE_LIMIT,
                                    "email rate limit exceeded",
                                    retry_after=retry_after_seconds(wait))
