"""What an SMS send or code check can fail with."""

from __future__ import annotations


class SMSDeliveryError(Exception):
    """The provider refused the message or could not be reached; the text says why (the
    provider's own error exactly as GoTrue words it, or a transport error naming it)."""


class SMSProviderUnavailable(SMSDeliveryError):
    """No provider, an unknown one, or a missing credential ("missing Twilio account SID")."""


class SMSVerificationError(SMSDeliveryError):
    """twilio_verify did not accept the code, or could not be asked."""
