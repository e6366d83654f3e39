"""A loopback stand-in for the Pwned Passwords range API (GET /range/<5 hex digits>).

The test names breached passwords in plain text; the server keeps only their SHA-1 and answers
as the real API does with ``Add-Padding: true``: the 35-digit suffixes that share the prefix,
with their counts, among decoy lines whose count is 0. Every request is recorded whole (request
line and headers), so a test can prove what left the server under test.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from .loopback_http import LoopbackHTTPServer, QuietHandler

PADDING_LINES = 20


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()


@dataclass(frozen=True)
class RangeRequest:
    path: str
    headers: dict[str, str]
    raw: str


class RangeAPIServer(LoopbackHTTPServer):
    """``breached`` maps passwords to how often they were seen (0 lists them as padding).

    ``answer`` picks the behaviour: "range" (the real thing), "error" (HTTP 503), "garbage" (a
    200 that is not a range list), "empty" (a 200 with no lines) or "stall" (waits until
    ``release`` is set, for timeouts).
    """

    def __init__(self, breached: dict[str, int] | None = None, answer: str = "range"):
        self.hashes = {sha1_hex(password): seen for password, seen in (breached or {}).items()}
        self.answer = answer
        self.requests: list[RangeRequest] = []
        server_self = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                raw = self.requestline + "\r\n" + str(self.headers)
                with server_self.lock:
                    server_self.requests.append(
                        RangeRequest(self.path, dict(self.headers.items()), raw))
                if server_self.answer == "stall":
                    server_self.release.wait(timeout=30)
                self.answer(*server_self._answer(self.path), "text/plain")

        super().__init__(Handler)

    def _answer(self, path: str) -> tuple[int, str]:
        if self.answer == "error":
            return 503, "Service Unavailable"
        if self.answer == "garbage":
            return 200, "<html><body>Sign in to the proxy</body></html>"
        if self.answer == "empty":
            return 200, ""
        # A proxy may serve the API under a path of its own: /hibp/range/ABCDE.
        _, marker, prefix = path.rpartition("/range/")
        if not marker or len(prefix) != 5:
            return 400, "The hash prefix was not in a valid format"
        prefix = prefix.upper()
        lines = [f"{digest[5:]}:{seen}" for digest, seen in self.hashes.items()
                 if digest.startswith(prefix)]
        lines += [f"{secrets.token_hex(18)[:35].upper()}:0" for _ in range(PADDING_LINES)]
        return 200, "\r\n".join(sorted(lines))

    @property
    def paths(self) -> list[str]:
        with self.lock:
            return [request.path for request in self.requests]
