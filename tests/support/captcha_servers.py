"""A loopback HTTP server standing in for hCaptcha's or Turnstile's siteverify endpoint.

It records every form posted to it and answers with ``answer`` (a dict sent as JSON, or a
(status, text) pair for broken answers). ``delay`` makes it sleep before answering (a provider
too slow for the timeout). Start it with the ``servers`` fixture.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

from .loopback_http import LoopbackHTTPServer, QuietHandler

HCAPTCHA_PATH = "/siteverify"
TURNSTILE_PATH = "/turnstile/v0/siteverify"


class CaptchaServer(LoopbackHTTPServer):
    """Accepts the token ``good_token`` and rejects any other with ``invalid-input-response``,
    unless ``answer`` is set to a fixed answer."""

    def __init__(self, good_token: str = "solved-captcha", delay: float = 0.0):
        self.good_token = good_token
        self.delay = delay
        self.answer: dict | tuple[int, str] | None = None
        self.posts: list[dict] = []
        server_self = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                with server_self.lock:
                    server_self.posts.append({
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type", ""),
                        "form": {name: values[-1] for name, values in form.items()},
                    })
                if server_self.delay:
                    server_self.release.wait(server_self.delay)
                status, text = server_self.reply(form.get("response", [""])[-1])
                self.answer(status, text, "application/json")

        super().__init__(Handler)

    def reply(self, token: str) -> tuple[int, str]:
        if isinstance(self.answer, tuple):
            return self.answer
        if self.answer is not None:
            return 200, json.dumps(self.answer)
        if token == self.good_token:
            return 200, json.dumps({"success": True, "challenge_ts": _now(),
                                    "hostname": "app.example.com"})
        return 200, json.dumps({"success": False, "error-codes": ["invalid-input-response"]})

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.posts)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
