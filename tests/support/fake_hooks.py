"""A loopback receiver standing in for an auth hook's (or the legacy webhook's) endpoint.

It records every request (path, headers, raw body) and answers from a script of replies, then
with ``default``. A reply can stall (``delay`` seconds, cut short when the server stops), carry
headers (Retry-After) and any status, media type and body. ``verify(secret)`` checks a
request's Standard Webhooks signature with the maintained ``standardwebhooks`` package, as a
real receiver would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from standardwebhooks.webhooks import Webhook

from .loopback_http import LoopbackHTTPServer, QuietHandler

# Standard Webhooks' test secret (spec phone-sms.md 4.2) and a second one for rotation tests.
SECRET = "v1,whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
OTHER_SECRET = "v1,whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHMhIQ=="


@dataclass
class Reply:
    status: int = 200
    body: str = "{}"
    content_type: str | None = "application/json"
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class FakeHookReceiver(LoopbackHTTPServer):
    def __init__(self, default: Reply | None = None):
        self.replies: list[Reply] = []
        self.received: list[Received] = []
        self.default = default or Reply(204, "", None)
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                if reply.delay:
                    receiver.release.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    if reply.content_type:
                        self.send_header("Content-Type", reply.content_type)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    data = reply.body.encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        super().__init__(Handler)

    def uri(self, path: str = "/hook") -> str:
        return self.url + path

    def script(self, *replies: Reply) -> "FakeHookReceiver":
        with self.lock:
            self.replies.extend(replies)
        return self

    def answer_json(self, value, status: int = 200) -> "FakeHookReceiver":
        """Answer every later request with ``value`` as JSON."""
        self.default = Reply(status, json.dumps(value))
        return self

    def events(self) -> list[dict]:
        with self.lock:
            return [request.json for request in self.received]

    @staticmethod
    def verify(request: Received, secret: str = SECRET):
        """The parsed body if ``request`` carries a valid signature for ``secret`` (raises
        standardwebhooks' WebhookVerificationError otherwise).

        With several secrets GoTrue joins the signatures with ", ", so every entry but the last
        ends in a comma; as the spec asks of verifiers (phone-sms.md 4.2), the entries are split
        on spaces and a trailing comma is dropped before standardwebhooks checks them."""
        headers = {name.lower(): value for name, value in request.headers.items()}
        signature = headers.get("webhook-signature", "")
        headers["webhook-signature"] = " ".join(part.rstrip(",") for part in signature.split(" "))
        return Webhook(secret.removeprefix("v1,")).verify(request.body, headers)


def closed_port_uri() -> str:
    """A loopback URI nothing listens on (connections are refused)."""
    server = LoopbackHTTPServer(QuietHandler)
    url = server.url
    server.server.server_close()
    return url + "/hook"
