"""Fake SMS providers: one loopback recording server per provider, reached through
GOTRUE_SMS_<PROVIDER>_URL (``sms_settings`` gives the overrides for ``make_app``).

Each fake records every request (method, path, headers, raw body) in ``received`` and answers
from its script: ``fake.script(status, body, delay=..., content_type=...)`` queues one answer
(a dict or list body is sent as JSON); with the queue empty it gives the provider's usual
success. ``delay`` stalls before answering (a timeout test); stop() frees stalled handlers;
``headers`` adds answer headers.

    fake = servers(FakeTwilio())
    app = make_app(**sms_settings(fake))               # twilio, AC1 / tok / MG123
    app = make_app(**sms_settings(fake, timeout=0.3))  # + GOTRUE_INTERNAL_HTTP_TIMEOUT=300ms
    sms_settings(closed_port_url(), provider="vonage") # a refused connection
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections import deque
from datetime import timedelta

from gotrue_web.settings.sms import (MessagebirdSettings, TextlocalSettings, TwilioSettings,
                                     TwilioVerifySettings, VonageSettings)

from .loopback_http import LoopbackHTTPServer, QuietHandler


@dataclasses.dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclasses.dataclass(frozen=True)
class Scripted:
    status: int
    body: str
    content_type: str = "application/json"
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class _Handler(QuietHandler):
    fake: "FakeSMSProvider"

    def do_POST(self):
        self._record()

    def do_GET(self):
        self._record()

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.server.fake
        with fake.lock:
            fake.received.append(Received(self.command, self.path, dict(self.headers.items()),
                                          body))
            answer = fake.answers.popleft() if fake.answers else fake.success(self.path)
        if answer.delay:
            # Stall, but give up when the fake stops.
            fake.release.wait(answer.delay)
        data = answer.body.encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)


class FakeSMSProvider(LoopbackHTTPServer):
    """A provider's API: records requests, replays scripted answers (FIFO), else succeeds."""

    provider = ""

    def __init__(self):
        super().__init__(_Handler)
        self.server.fake = self
        self.received: list[Received] = []
        self.answers: deque[Scripted] = deque()

    def script(self, status: int, body: object = "", *, delay: float = 0.0,
               content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> "FakeSMSProvider":
        if not isinstance(body, str):
            body = json.dumps(body)
        with self.lock:
            self.answers.append(Scripted(status, body, content_type, delay,
                                         tuple((headers or {}).items())))
        return self

    def success(self, path: str) -> Scripted:
        raise NotImplementedError

    @property
    def last(self) -> Received:
        assert self.received, "the fake got no request"
        return self.received[-1]


class FakeTwilio(FakeSMSProvider):
    provider = "twilio"

    def success(self, path):
        return Scripted(201, json.dumps({"sid": "SM1", "status": "queued", "error_code": None}))


class FakeTwilioVerify(FakeSMSProvider):
    provider = "twilio_verify"

    def success(self, path):
        if path.endswith("/VerificationCheck"):
            return Scripted(200, json.dumps({"sid": "VE1", "status": "approved",
                                             "valid": True}))
        return Scripted(201, json.dumps({"sid": "VE1", "status": "pending"}))


class FakeMessagebird(FakeSMSProvider):
    provider = "messagebird"

    def success(self, path):
        return Scripted(201, json.dumps({"id": "m1", "recipients": {"totalSentCount": 1}}))


class FakeTextlocal(FakeSMSProvider):
    provider = "textlocal"

    def success(self, path):
        return Scripted(200, json.dumps({"status": "success", "messages": [{"id": "1"}]}))


class FakeVonage(FakeSMSProvider):
    provider = "vonage"

    def success(self, path):
        return Scripted(200, json.dumps({"messages": [{"status": "0", "message-id": "v1"}]}))


# The credentials sms_settings configures, as the spec's examples use them.
CREDENTIALS = {
    "twilio": TwilioSettings(account_sid="AC1", auth_token="tok", message_service_sid="MG123"),
    "twilio_verify": TwilioVerifySettings(account_sid="AC1", auth_token="tok",
                                          message_service_sid="VA1"),
    "messagebird": MessagebirdSettings(access_key="KEY", originator="Acme"),
    "textlocal": TextlocalSettings(api_key="KEY", sender="Acme"),
    "vonage": VonageSettings(api_key="K", api_secret="S", from_="Acme"),
}


def sms_settings(fake: FakeSMSProvider | str, provider: str = "", *,
                 timeout: float | None = None, **credentials) -> dict:
    """``make_app`` overrides that send through ``provider`` (the fake's own by default) at
    ``fake`` (a fake or a URL), with CREDENTIALS changed by ``credentials`` (e.g.
    ``content_sid="HX1"``, ``auth_token=""``) and, given ``timeout`` in seconds,
    GOTRUE_INTERNAL_HTTP_TIMEOUT."""
    provider = provider or fake.provider
    url = fake if isinstance(fake, str) else fake.url
    group = dataclasses.replace(CREDENTIALS[provider], url=url, **credentials)
    overrides = {"sms.provider": provider, f"sms.{provider}": group}
    if timeout is not None:
        overrides["external.http_timeout"] = timedelta(seconds=timeout)
    return overrides


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sender_for(fake: FakeSMSProvider | str, provider: str = "", *, timeout: float = 5,
               **credentials):
    """The transport sender ``sms_settings`` would configure, without an app."""
    from gotrue_web.settings import Settings
    from gotrue_web.transports import sms

    overrides = sms_settings(fake, provider, **credentials)
    settings = Settings().replace(**overrides)
    return sms.build(settings.sms, timeout=timedelta(seconds=timeout))


__all__ = ["CREDENTIALS", "FakeMessagebird", "FakeSMSProvider", "FakeTextlocal", "FakeTwilio",
           "FakeTwilioVerify", "FakeVonage", "Received", "closed_port_url", "sender_for",
           "sms_settings"]
