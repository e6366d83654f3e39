"""Outbound HTTP: GET from, or POST a form to, a third party with a deadline and a size cap.

Every third-party endpoint is reached through a URL from the settings, so tests, staging and
proxies point it elsewhere; nothing here patches or guesses hosts. Template URLs use it today;
webhooks, SMS providers, HIBP and captcha checks are meant to go through it too.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Mapping


class FetchError(Exception):
    """The request failed, timed out, was answered with a non-2xx status, or the answer was
    too large or not text; the message says which, and ``status`` is the answer's HTTP status
    when there was one."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


def get_text(url: str, *, timeout: float, max_bytes: int, accept: str = "*/*",
             headers: Mapping[str, str] | None = None) -> str:
    """GET ``url`` (http or https) with extra ``headers`` and return the UTF-8 body;
    raises FetchError."""
    return _text(get_bytes(url, timeout=timeout, max_bytes=max_bytes, accept=accept,
                           headers=headers))


def get_bytes(url: str, *, timeout: float, max_bytes: int, accept: str = "*/*",
              headers: Mapping[str, str] | None = None) -> bytes:
    """GET ``url`` (http or https) with extra ``headers`` and return the body as it came;
    raises FetchError."""
    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={"Accept": accept, **(headers or {})})
    return _exchange(request, timeout=timeout, max_bytes=max_bytes)


def post_form(url: str, fields: Mapping[str, str], *, timeout: float, max_bytes: int,
              accept: str = "application/json") -> str:
    """POST ``fields`` form-encoded to ``url`` (http or https) and return the UTF-8 body;
    raises FetchError. The fields travel only in the body, never in the URL or a message."""
    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"not an http(s) URL: {url!r}")
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Accept": accept, "Content-Type": "application/x-www-form-urlencoded"})
    return _text(_exchange(request, timeout=timeout, max_bytes=max_bytes))


def _exchange(request: urllib.request.Request, *, timeout: float, max_bytes: int) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error answer holds the connection open until collected
        raise FetchError(f"HTTP Error {exc.code}: {exc.reason}", status=exc.code) from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from exc
    if len(body) > max_bytes:
        raise FetchError(f"answer larger than {max_bytes // 1024} KiB")
    return body


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise FetchError("answer is not UTF-8 text") from None
