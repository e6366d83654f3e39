"""MessageBird: SMS only. POST {GOTRUE_SMS_MESSAGEBIRD_URL}/messages with
``Authorization: AccessKey <key>``; 400/401/403/422 carry ``errors``, any other status (5xx
included) is read as the message object."""

from __future__ import annotations

from .errors import SMSDeliveryError
from .wire import DecodeError, ProviderSender, decode, integer, objects, text

LABEL = "messagebird"
_ERROR_STATUSES = (400, 401, 403, 422)


class Sender(ProviderSender):
    name = "messagebird"
    label = LABEL

    def missing(self):
        return ((self.settings.access_key, "missing Messagebird access key"),
                (self.settings.originator, "missing Messagebird originator"))

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        self.require()
        self.require_sms_channel(channel, "Messagebird")
        answer = self.post("/messages", {
            "body": body, "datacoding": "unicode", "originator": self.settings.originator,
            "recipients": to.removeprefix("+"), "type": "sms",
        }, {"Authorization": f"AccessKey {self.settings.access_key}"})
        document = decode(LABEL, answer)
        if answer.status in _ERROR_STATUSES:
            errors = objects(LABEL, answer, document, "errors")
            if not errors:
                # GoTrue crashes on an empty list; here it is a refusal like any other.
                raise SMSDeliveryError(f"messagebird error: HTTP {answer.status} without "
                                       "an error description")
            integer(LABEL, answer, errors[0], "code")
            raise SMSDeliveryError(text(LABEL, answer, errors[0], "description"))
        message_id = text(LABEL, answer, document, "id")
        recipients = document.get("recipients")
        if recipients is not None and not isinstance(recipients, dict):
            raise DecodeError(f"messagebird error: could not read the answer "
                              f"(HTTP {answer.status}, recipients is not an object)")
        count = integer(LABEL, answer, recipients or {}, "totalSentCount")
        if count == 0:
            raise SMSDeliveryError("messagebird error: total sent count is 0")
        return message_id
