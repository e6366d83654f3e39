"""Mail: the message services hand over, the error a failed delivery raises, and the
protocol every mail transport follows (smtp.SMTPMailer, memory.MemoryMailer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    html: str
    # Which template produced it (confirmation, recovery, ...), for the mail log.
    template: str = ""
    # The mail outbox's Message-ID, the same on every attempt; "" makes a fresh one.
    message_id: str = ""


class MailDeliveryError(Exception):
    """The mail server could not be reached or refused the message; the text says why, fit for
    the mail log (never a password)."""


class MailTransport(Protocol):
    """Delivers OutgoingMail."""

    @property
    def enabled(self) -> bool:
        """Whether messages go anywhere; False means every send is dropped (GoTrue's empty
        GOTRUE_SMTP_HOST)."""

    def send(self, message: OutgoingMail) -> bool:
        """Deliver ``message``: True when delivered, False when dropped because the transport
        is off. Raises MailDeliveryError when delivery was attempted and failed."""
