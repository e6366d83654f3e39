"""The captcha check on sign-up and sign-in routes. Parity: GoTrue internal/api/middleware.go
(verifyCaptcha) and internal/security/captcha.go.

Differences from GoTrue: a missing token and a provider that cannot be asked (down, too slow,
an answer that is not a verdict) are 400 captcha_failed like a rejected token, where GoTrue
answers 500. Neither the secret nor the token is ever logged.
"""

from __future__ import annotations

import logging

from ..errors import ErrorCode, GoTrueError, bad_request
from ..runtime import Runtime
from ..transports.captcha import CaptchaUnavailable, siteverify

log = logging.getLogger(__name__)


def _disallowed(reason: str) -> GoTrueError:
    return bad_request(ErrorCode.CAPTCHA_FAILED,
                       f"captcha protection: request disallowed ({reason})")


def require_solved(rt: Runtime, token: str, remote_ip: str) -> None:
    """400 captcha_failed unless captcha is off or the provider accepts ``token`` from
    ``remote_ip`` (the client's address behind the trusted proxies)."""
    captcha = rt.settings.captcha
    if not captcha.enabled:
        return
    token = token.strip()
    if not token:
        raise _disallowed("no captcha_token found in gotrue_meta_security")
    try:
        verdict = siteverify(captcha.verify_url, secret=captcha.secret, token=token,
                             remote_ip=remote_ip, timeout=captcha.timeout.total_seconds())
    except CaptchaUnavailable as exc:
        log.warning("captcha verification with %s failed: %s", captcha.provider, exc)
        raise _disallowed("captcha verification is unavailable") from None
    if not verdict.success:
        raise _disallowed(", ".join(verdict.error_codes) or "captcha token rejected")
