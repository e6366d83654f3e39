"""SMS and WhatsApp: the protocol an SMS provider implements, and the sender in use when none
is available.

GOTRUE_SMS_PROVIDER names the provider (twilio, twilio_verify, messagebird, textlocal,
vonage); each is meant to be one module beside this one implementing SMSSender, built by
``build``. None is implemented yet, so ``build`` returns an UnavailableSMS that refuses every
message, and the phone flows answer 422 sms_send_failed before they write anything.
"""

from __future__ import annotations

from typing import Protocol

from ..settings import SMSSettings

CHANNELS = ("sms", "whatsapp")


class SMSDeliveryError(Exception):
    """The provider refused the message or could not be reached; the text says why."""


class SMSSender(Protocol):
    @property
    def available(self) -> bool:
        """Whether messages can be sent at all."""

    @property
    def reason(self) -> str:
        """Why not, when ``available`` is False ("" otherwise)."""

    def send(self, to: str, body: str, channel: str = "sms") -> str:
        """Send ``body`` to the E.164 digits ``to``; returns the provider's message id.
        Raises SMSDeliveryError."""


class UnavailableSMS:
    """The sender when no provider can be used; ``reason`` says why."""

    available = False

    def __init__(self, reason: str):
        # Why nothing can be sent, as the phone flows' 422 message ends.
        self.reason = reason

    def send(self, to: str, body: str, channel: str = "sms") -> str:
        raise SMSDeliveryError(self.reason)


def build(settings: SMSSettings) -> SMSSender:
    """The sender GOTRUE_SMS_PROVIDER asks for."""
    if not settings.provider:
        return UnavailableSMS("no SMS provider is configured")
    return UnavailableSMS(f"the SMS provider {settings.provider!r} is not available in this "
                          "server yet")
