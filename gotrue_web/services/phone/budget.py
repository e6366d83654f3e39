"""GOTRUE_RATE_LIMIT_SMS_SENT: the global budget of texted codes.

GoTrue keeps one counter per server process; here it lives in the rate-limit storage every
worker shares (bucket ``sms_sent`` in ratelimit), so the budget is the server's, whatever the
number of workers. It fails closed: while the storage cannot count, nothing is texted. Test
codes (SMS_TEST_OTP) and SMS_AUTOCONFIRM are not counted (codes.send_code).
"""

from __future__ import annotations

from ...errors import ErrorCode, too_many_requests
from ...ratelimit import retry_after_seconds
from ...runtime import Runtime
from ...settings.rate_limit import sent_budget

BUCKET, KEY = "sms_sent", "global"
MESSAGE = "SMS rate limit exceeded"


def charge_sms(rt: Runtime) -> None:
    """Take one message from the budget; 429 over_sms_send_rate_limit when it is spent."""
    allowed, _ = sent_budget(rt.settings.rate_limit.sms_sent)
    if allowed <= 0:
        raise too_many_requests(ErrorCode.OVER_SMS_SEND_RATE_LIMIT, MESSAGE)
    wait = rt.limiter.hit(BUCKET, KEY)
    if wait is not None:
        raise too_many_requests(ErrorCode.OVER_SMS_SEND_RATE_LIMIT, MESSAGE,
                                retry_after=retry_after_seconds(wait))
