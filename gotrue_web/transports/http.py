"""Outbound HTTP: one way to GET from a third party with a deadline and a size cap.

Every third-party endpoint is reached through a URL from the settings, so tests, staging and
proxies point it elsewhere; nothing here patches or guesses hosts. Template URLs use it today;
webhooks, SMS providers, HIBP and captcha checks are meant to go through it too.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request


class FetchError(Exception):
    """The request failed, timed out, was answered with a non-2xx status, or the answer was
    too large or not text; the message says which."""


def get_text(url: str, *, timeout: float, max_bytes: int, accept: str = "*/*") -> str:
    """GET ``url`` (http or https) and return the UTF-8 body; raises FetchError."""
    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP Error {exc.code}: {exc.reason}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from exc
    if len(body) > max_bytes:
        raise FetchError(f"answer larger than {max_bytes // 1024} KiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise FetchError("answer is not UTF-8 text") from None
