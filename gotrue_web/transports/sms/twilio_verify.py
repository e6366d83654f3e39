"""Twilio Verify: Twilio chooses, texts and checks the code; the message text is not used.

Start: POST {GOTRUE_SMS_TWILIO_VERIFY_URL}/v2/Services/{SERVICE_SID}/Verifications.
Check: POST …/v2/Services/{SERVICE_SID}/VerificationCheck. Both with HTTP Basic (account SID,
auth token) from the GOTRUE_SMS_TWILIO_VERIFY_* variables; other statuses than 200/201 carry
Twilio's error object.
"""

from __future__ import annotations

from .errors import SMSDeliveryError, SMSVerificationError
from .twilio import twilio_error
from .wire import ProviderSender, basic_auth, decode, text

LABEL = "twilio verify"


class Sender(ProviderSender):
    name = "twilio_verify"
    label = LABEL
    delegates_codes = True
    supports_whatsapp = True

    def missing(self):
        return ((self.settings.account_sid, "missing Twilio account SID"),
                (self.settings.auth_token, "missing Twilio auth token"),
                (self.settings.message_service_sid,
                 "missing Twilio message service SID or Twilio phone number"))

    def _post(self, resource: str, fields: dict):
        return self.post(f"/v2/Services/{self.settings.message_service_sid}/{resource}", fields,
                         {"Authorization": basic_auth(self.settings.account_sid,
                                                      self.settings.auth_token)})

    def send(self, to: str, body: str, channel: str = "sms", *, otp: str = "") -> str:
        """Start a verification; Twilio texts its own code (``body`` and ``otp`` unused)."""
        self.require()
        if channel not in ("sms", "whatsapp"):
            self.require_sms_channel(channel, "Twilio Verify")
        answer = self._post("Verifications",
                            {"Channel": channel, "To": "+" + to.removeprefix("+")})
        if answer.status not in (200, 201):
            raise twilio_error(answer, LABEL)
        return text(LABEL, answer, decode(LABEL, answer), "sid")

    def check(self, to: str, code: str) -> None:
        """Pass only if Twilio says approved and valid; SMSVerificationError otherwise."""
        self.require()
        try:
            answer = self._post("VerificationCheck",
                                {"Code": code, "To": "+" + to.removeprefix("+")})
            if answer.status not in (200, 201):
                raise twilio_error(answer, LABEL)
            document = decode(LABEL, answer)
            status = text(LABEL, answer, document, "status")
            error_message = text(LABEL, answer, document, "error_message")
            valid = document.get("valid")
        except SMSVerificationError:
            raise
        except SMSDeliveryError as exc:
            raise SMSVerificationError(str(exc)) from None
        if status != "approved" or valid is not True:
            raise SMSVerificationError(
                f"twilio verification error: {error_message} {status}")
