"""SMS and WhatsApp: the protocol an SMS provider implements, its errors, and ``build``, which
gives the sender GOTRUE_SMS_PROVIDER names (twilio, twilio_verify, messagebird, textlocal,
vonage; one module each beside this one).

Like GoTrue, the credentials are checked on each send: a missing one, an unknown provider or
none at all raise SMSProviderUnavailable (the flows answer 500 "Unable to get SMS provider").
Anything else that goes wrong (the provider's refusal, a timeout, an answer that cannot be
read) raises SMSDeliveryError with a text naming the provider; the provider's own error texts
are worded exactly as GoTrue words them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from ...settings import SMSSettings
from .errors import SMSDeliveryError, SMSProviderUnavailable, SMSVerificationError
from .template import render_message

CHANNELS = ("sms", "whatsapp")
# GoTrue's per-request limit when GOTRUE_INTERNAL_HTTP_TIMEOUT is not set.
DEFAULT_TIMEOUT = timedelta(seconds=10)

__all__ = [
    "CHANNELS", "DEFAULT_TIMEOUT", "SMSDeliveryError", "SMSProviderUnavailable", "SMSSender",
    "SMSVerificationError", "UnavailableSMS", "build", "render_message",
]


class SMSSender(Protocol):
    # The provider's name as GOTRUE_SMS_PROVIDER gives it ("" when none is configured).
    name: str
    # twilio_verify: Twilio picks, texts and checks the code (``check``); the others text ours.
    delegates_codes: bool
    # Whether the "whatsapp" channel can be used (twilio and twilio_verify).
    supports_whatsapp: bool

    @property
    def available(self) -> bool:
        """Whether the provider is known and its credentials are all set."""

    @property
    def reason(self) -> str:
        """Why not, when ``available`` is False ("" otherwise)."""

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        """Send ``body`` to the E.164 digits ``to`` (no '+'); returns the provider's message
        id. ``otp`` is the code itself (a Twilio WhatsApp content template carries it instead
        of ``body``). Raises SMSProviderUnavailable or SMSDeliveryError."""

    def check(self, to: str, code: str) -> None:
        """twilio_verify only: whether Twilio accepts ``code`` for ``to``. Raises
        SMSVerificationError (refused), SMSProviderUnavailable (not configured)."""


class UnavailableSMS:
    """The sender when no provider can be used; ``reason`` says why, and each send raises
    SMSProviderUnavailable with it."""

    available = False
    delegates_codes = False
    supports_whatsapp = False

    def __init__(self, reason: str, name: str = ""):
        self.reason = reason
        self.name = name

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        raise SMSProviderUnavailable(self.reason)

    def check(self, to: str, code: str) -> None:
        raise SMSProviderUnavailable(self.reason)


def build(settings: SMSSettings, timeout: timedelta | None = None) -> SMSSender:
    """The sender GOTRUE_SMS_PROVIDER asks for; ``timeout`` bounds each request
    (GOTRUE_INTERNAL_HTTP_TIMEOUT, 10 seconds when None or zero)."""
    from . import messagebird, textlocal, twilio, twilio_verify, vonage

    seconds = (timeout or DEFAULT_TIMEOUT).total_seconds()
    if not settings.provider:
        return UnavailableSMS("no SMS provider is configured")
    modules = {"twilio": twilio, "twilio_verify": twilio_verify, "messagebird": messagebird,
               "textlocal": textlocal, "vonage": vonage}
    module = modules.get(settings.provider)
    if module is None:
        # GoTrue's wording.
        return UnavailableSMS(f"sms Provider {settings.provider} could not be found",
                              settings.provider)
    return module.Sender(getattr(settings, settings.provider), timeout=seconds)
