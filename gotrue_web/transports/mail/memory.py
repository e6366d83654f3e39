"""A mail transport that keeps every message in memory instead of delivering it.

For development and tests that read what would have been sent (the code in a confirmation,
the link in an invitation) without an SMTP server. Nothing leaves the process.
"""

from __future__ import annotations

import threading

from . import OutgoingMail


class MemoryMailer:
    """Collects messages in ``sent``, oldest first; thread-safe."""

    enabled = True

    def __init__(self):
        self._lock = threading.Lock()
        self._sent: list[OutgoingMail] = []

    def send(self, message: OutgoingMail) -> bool:
        with self._lock:
            self._sent.append(message)
        return True

    @property
    def sent(self) -> list[OutgoingMail]:
        with self._lock:
            return list(self._sent)

    def to(self, address: str) -> list[OutgoingMail]:
        """The messages sent to ``address`` (any case), oldest first."""
        wanted = address.lower()
        return [message for message in self.sent if message.to.lower() == wanted]
