"""Twilio Programmable Messaging: SMS and WhatsApp through the Messages resource.

POST {GOTRUE_SMS_TWILIO_URL}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json with HTTP Basic
(account SID, auth token). 200/201 carry the message (its ``status`` may already say failed);
any other status carries Twilio's error object.
"""

from __future__ import annotations

import json
import re

from .errors import SMSDeliveryError
from .wire import Answer, ProviderSender, basic_auth, decode, integer, text

LABEL = "twilio"
# A sender that is a phone number (after its '+' and spaces go) gets the whatsapp: prefix;
# a messaging service SID (MG...) is sent as it is.
_PHONE = re.compile(r"[1-9][0-9]{1,14}")


def twilio_error(answer: Answer, label: str = LABEL) -> SMSDeliveryError:
    """Twilio's error object ({code, message, more_info, status}) as GoTrue words it."""
    document = decode(label, answer)
    integer(label, answer, document, "code")
    integer(label, answer, document, "status")
    message = text(label, answer, document, "message")
    more_info = text(label, answer, document, "more_info")
    return SMSDeliveryError(f"{message} More information: {more_info}")


class Sender(ProviderSender):
    name = "twilio"
    label = LABEL
    supports_whatsapp = True

    def missing(self):
        return ((self.settings.account_sid, "missing Twilio account SID"),
                (self.settings.auth_token, "missing Twilio auth token"),
                (self.settings.message_service_sid,
                 "missing Twilio message service SID or Twilio phone number"))

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        self.require()
        if channel not in ("sms", "whatsapp"):
            self.require_sms_channel(channel, "Twilio")
        sender, receiver = self.settings.message_service_sid, "+" + to.removeprefix("+")
        fields = {"Channel": channel, "Body": body}
        if channel == "whatsapp":
            receiver = "whatsapp:" + receiver
            if _PHONE.fullmatch(sender.removeprefix("+").replace(" ", "")):
                sender = "whatsapp:" + sender
            if self.settings.content_sid:
                if not otp:
                    raise SMSDeliveryError("twilio error: a WhatsApp content template needs "
                                           "the code")
                del fields["Body"]
                fields["ContentSid"] = self.settings.content_sid
                # The template's first variable; Twilio's documented form, space included.
                fields["ContentVariables"] = json.dumps({"1": otp})
        fields.update({"From": sender, "To": receiver})
        answer = self.post(f"/2010-04-01/Accounts/{self.settings.account_sid}/Messages.json",
                           fields, {"Authorization": basic_auth(self.settings.account_sid,
                                                                self.settings.auth_token)})
        if answer.status not in (200, 201):
            raise twilio_error(answer)
        document = decode(LABEL, answer)
        sid = text(LABEL, answer, document, "sid")
        status = text(LABEL, answer, document, "status")
        # Twilio documents error_code as a string; a number is a decode error (as in GoTrue).
        error_code = text(LABEL, answer, document, "error_code")
        error_message = text(LABEL, answer, document, "error_message")
        if status in ("failed", "undelivered"):
            raise SMSDeliveryError(
                f"twilio error: {error_message} {error_code} for message {sid}")
        return sid

