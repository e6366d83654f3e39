"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping parsed messages."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, sink: "SMTPSink"):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        if self.sink.reject_with:
            return self.sink.reject_with
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SMTPSink:
    def __init__(self):
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        # Set to an SMTP reply such as "554 Transaction failed" to refuse messages.
        self.reject_with: str | None = None
        # Seconds a message waits before the server answers it (a slow SMTP server).
        self.delay: float = 0.0
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def restart(self) -> None:
        """Start again on the same port after ``stop`` (an SMTP outage that ends), keeping
        what was received; a stopped controller cannot start twice, so a new one serves."""
        self.controller = Controller(self.controller.handler, hostname="127.0.0.1",
                                     port=self.port)
        self.controller.start()

    def wait_for(self, recipient: str, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:
        """Messages addressed to ``recipient`` once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(recipient)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def to(self, recipient: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if recipient.lower() in str(m["To"]).lower()]


def html_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html", "plain"))
    return part.get_content() if part is not None else ""


def links(message: EmailMessage) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'href="([^"]+)"', html_body(message))]


def code(message: EmailMessage) -> str:
    """The one-time code: the digits the template introduces with "code" (an address such as
    x-0123456789@example.com must not be mistaken for it)."""
    body = html_body(message)
    match = re.search(r"code\b[^0-9<]*(?:<[^>]*>\s*)*(\d{6,10})\b", body) \
        or re.search(r"\b(\d{6,10})\b", body)
    assert match, body
    return match.group(1)
