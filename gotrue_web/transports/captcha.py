"""The siteverify exchange hCaptcha and Cloudflare Turnstile share: a form POST of the secret,
the client's token and its IP, answered with JSON whose ``success`` boolean is the verdict.

Knows the wire format only; which routes need a captcha and what the client is told is
services.captcha's business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .http import FetchError, post_form

# A verdict is a few hundred bytes; anything much larger is not one.
MAX_ANSWER_BYTES = 64 * 1024
# The provider's error codes are echoed to the client: keep a few plain, short ones.
_MAX_CODES = 5
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class CaptchaUnavailable(Exception):
    """The provider could not be asked, or its answer was not a verdict; the message says why
    and never carries the secret or the token."""


@dataclass(frozen=True)
class Verdict:
    success: bool
    error_codes: tuple[str, ...] = ()


def siteverify(url: str, *, secret: str, token: str, remote_ip: str, timeout: float) -> Verdict:
    """Ask the provider at ``url`` whether ``token`` is a solved challenge."""
    fields = {"secret": secret, "response": token}
    if remote_ip:
        fields["remoteip"] = remote_ip
    try:
        text = post_form(url, fields, timeout=timeout, max_bytes=MAX_ANSWER_BYTES)
    except FetchError as exc:
        raise CaptchaUnavailable(str(exc)) from None
    try:
        answer = json.loads(text)
    except ValueError:
        raise CaptchaUnavailable("the answer is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
        raise CaptchaUnavailable("the answer has no success boolean")
    codes = answer.get("error-codes")
    codes = codes if isinstance(codes, list) else []
    return Verdict(answer["success"], tuple(
        code for code in codes if isinstance(code, str) and _ERROR_CODE.fullmatch(code)
    )[:_MAX_CODES])
