"""Textlocal (India): SMS only. POST {GOTRUE_SMS_TEXTLOCAL_URL}/send with the API key in the
form and no auth header; the HTTP status is ignored, the JSON ``status`` decides."""

from __future__ import annotations

from .errors import SMSDeliveryError
from .wire import ProviderSender, decode, integer, objects, text

LABEL = "textlocal"
# Textlocal's "message does not match an approved template" error.
_TEMPLATE_MISMATCH = 80


class Sender(ProviderSender):
    name = "textlocal"
    label = LABEL

    def missing(self):
        return ((self.settings.api_key, "missing Textlocal API key"),
                (self.settings.sender, "missing Textlocal sender"))

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        self.require()
        self.require_sms_channel(channel, "Textlocal")
        answer = self.post("/send", {
            "apikey": self.settings.api_key, "message": body,
            "numbers": to.removeprefix("+"), "sender": self.settings.sender,
        })
        document = decode(LABEL, answer)
        status = text(LABEL, answer, document, "status")
        errors = objects(LABEL, answer, document, "errors")
        messages = objects(LABEL, answer, document, "messages")
        message_id = text(LABEL, answer, messages[0], "id") if messages else ""
        if status == "success":
            # GoTrue reports no id for Textlocal.
            return ""
        if not errors:
            # GoTrue crashes on an empty list; here it is a refusal like any other.
            raise SMSDeliveryError(f"textlocal error: status {status!r} without an error "
                                   f"(HTTP {answer.status})")
        code = integer(LABEL, answer, errors[0], "code")
        message = text(LABEL, answer, errors[0], "message")
        if code == _TEMPLATE_MISMATCH:
            raise SMSDeliveryError(
                f"textlocal error: {message} (code: {code}) template message: {body}")
        raise SMSDeliveryError(f"textlocal error: {message} (code: {code}) message {message_id}")
