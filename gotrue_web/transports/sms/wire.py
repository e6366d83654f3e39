"""What every SMS provider's exchange shares: one form POST with a deadline, and reading the
JSON answer the way Go's decoder reads it into a struct (a wrong type is a decode error).

The body is encoded as Go's url.Values.Encode() does it: keys sorted, space as '+', everything
but letters, digits and ``-_.~`` percent-encoded (``urlencode`` of the sorted items is the same
byte for byte). Transport failures become SMSDeliveryError naming the provider; no secret goes
into a message.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlencode

import requests

from .errors import SMSDeliveryError, SMSProviderUnavailable, SMSVerificationError

FORM = "application/x-www-form-urlencoded"
# Providers answer a few hundred bytes; anything much larger is not an answer.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def encode_form(fields: Mapping[str, str]) -> bytes:
    return urlencode(sorted(fields.items())).encode("ascii")


def post_form(label: str, url: str, fields: Mapping[str, str], *, timeout: float,
              headers: Mapping[str, str] | None = None) -> Answer:
    """POST ``fields`` to ``url``; the answer whatever its status. ``label`` names the
    provider in errors."""
    sent = {"Content-Type": FORM, **(headers or {})}
    try:
        with requests.post(url, data=encode_form(fields), headers=sent, timeout=timeout,
                           allow_redirects=False, stream=True) as response:
            body = b""
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise SMSDeliveryError(f"{label} error: the answer is larger than "
                                           f"{MAX_ANSWER_BYTES // 1024} KiB")
            status = response.status_code
    except requests.Timeout:
        raise SMSDeliveryError(f"{label} error: no answer within {timeout:g} seconds") from None
    except requests.ConnectionError as exc:
        if "timed out" in str(exc).lower():
            raise SMSDeliveryError(
                f"{label} error: no answer within {timeout:g} seconds") from None
        raise SMSDeliveryError(f"{label} error: could not connect to the provider") from None
    except (requests.RequestException, ValueError) as exc:
        raise SMSDeliveryError(f"{label} error: the request failed "
                               f"({type(exc).__name__})") from None
    return Answer(status, body.decode("utf-8", errors="replace"))


class DecodeError(SMSDeliveryError):
    """The answer is not the JSON the provider documents."""


def decode(label: str, answer: Answer) -> dict:
    """The answer's JSON object; DecodeError when it is not JSON or not an object."""
    try:
        document = json.loads(answer.text)
    except ValueError:
        raise DecodeError(f"{label} error: could not read the answer "
                          f"(HTTP {answer.status}, not JSON)") from None
    if not isinstance(document, dict):
        raise DecodeError(f"{label} error: could not read the answer "
                          f"(HTTP {answer.status}, not a JSON object)")
    return document


def text(label: str, answer: Answer, document: dict, key: str) -> str:
    """A string field as Go reads it: absent or null is "", another type a decode error."""
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{label} error: could not read the answer "
                          f"(HTTP {answer.status}, {key} is not a string)")
    return value


def integer(label: str, answer: Answer, document: dict, key: str) -> int:
    """An integer field as Go reads it: absent or null is 0, another type a decode error."""
    value = document.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"{label} error: could not read the answer "
                          f"(HTTP {answer.status}, {key} is not an integer)")
    return value


def objects(label: str, answer: Answer, document: dict, key: str) -> list[dict]:
    """A list of objects as Go reads it: absent or null is empty."""
    value = document.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DecodeError(f"{label} error: could not read the answer "
                          f"(HTTP {answer.status}, {key} is not a list of objects)")
    return value


class ProviderSender:
    """What the five senders share: the settings, the deadline, and the credential check
    GoTrue runs before each send (``missing`` pairs each needed value with its message)."""

    name = ""
    label = ""
    delegates_codes = False
    supports_whatsapp = False

    def __init__(self, settings, *, timeout: float):
        self.settings = settings
        self.timeout = timeout

    def missing(self) -> tuple[tuple[str, str], ...]:
        raise NotImplementedError

    @property
    def reason(self) -> str:
        return next((message for value, message in self.missing() if not value), "")

    @property
    def available(self) -> bool:
        return not self.reason

    def require(self) -> None:
        """SMSProviderUnavailable when a credential is missing."""
        if self.reason:
            raise SMSProviderUnavailable(self.reason)

    def require_sms_channel(self, channel: str, provider: str) -> None:
        if channel != "sms":
            raise SMSDeliveryError(f'channel type "{channel}" is not supported for {provider}')

    def check(self, to: str, code: str) -> None:
        raise SMSVerificationError(f"{self.label} does not check codes")

    def post(self, path: str, fields, headers=None) -> Answer:
        return post_form(self.label, self.settings.url + path, fields, timeout=self.timeout,
                         headers=headers)
