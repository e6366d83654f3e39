"""Vonage (Nexmo) SMS API: SMS only. POST {GOTRUE_SMS_VONAGE_URL}/sms/json with the key and
secret in the form; the HTTP status is ignored, each message's ``status`` decides ("0" = sent).
"""

from __future__ import annotations

from .errors import SMSDeliveryError
from .wire import ProviderSender, decode, objects, text

LABEL = "vonage"


class Sender(ProviderSender):
    name = "vonage"
    label = LABEL

    def missing(self):
        return ((self.settings.api_key, "missing Vonage API key"),
                (self.settings.api_secret, "missing Vonage API secret"),
                (self.settings.from_, "missing Vonage 'from' parameter"))

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        self.require()
        self.require_sms_channel(channel, "Vonage")
        fields = {"api_key": self.settings.api_key, "api_secret": self.settings.api_secret,
                  "from": self.settings.from_, "text": body, "to": to.removeprefix("+")}
        if not body.isascii():
            fields["type"] = "unicode"
        answer = self.post("/sms/json", fields)
        document = decode(LABEL, answer)
        messages = objects(LABEL, answer, document, "messages")
        if not messages:
            raise SMSDeliveryError("vonage error: Internal Error")
        status = text(LABEL, answer, messages[0], "status")
        message_id = text(LABEL, answer, messages[0], "message-id")
        if status != "0":
            error_text = text(LABEL, answer, messages[0], "error-text")
            raise SMSDeliveryError(
                f"vonage error: {error_text} (status: {status}) for message {message_id}")
        return message_id
