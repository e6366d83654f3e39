"""Request ids: taken from the header the proxy sets (GOTRUE_API_REQUEST_ID_HEADER) or made
here, kept for the log records written while the request runs, and echoed on the response."""

from __future__ import annotations

import os
from contextvars import ContextVar

# The response header that carries the id when GOTRUE_API_REQUEST_ID_HEADER is unset.
DEFAULT_ECHO_HEADER = "X-Request-Id"
# Longer or unprintable ids from the client are replaced: they end up in every log line.
MAX_LENGTH = 128
# The request's id in the WSGI environ, for code that wants to quote it.
ENVIRON_KEY = "gotrue_web.request_id"

current_request_id: ContextVar[str | None] = ContextVar("gotrue_request_id", default=None)

# A random hex digit -> the digit that carries RFC 4122's variant bits (10xx) instead.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_request_id() -> str:
    """A random UUID (version 4) as text, as GoTrue makes them; about twice as fast as
    ``str(uuid.uuid4())``, which matters on a path that runs for every request."""
    digits = os.urandom(16).hex()
    return (f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
            f"{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}")


def environ_key(header: str) -> str:
    """Where WSGI puts a request header: ``X-Request-Id`` is ``HTTP_X_REQUEST_ID``."""
    return "HTTP_" + header.upper().replace("-", "_")


def usable(value: str) -> bool:
    """An id from the client that may go into logs and back into a response header."""
    return 0 < len(value) <= MAX_LENGTH and value.isascii() and value.isprintable()
