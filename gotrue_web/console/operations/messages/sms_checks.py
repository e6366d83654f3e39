"""The SMS template as operators see it, and the test text they send to check the provider.

GOTRUE_SMS_TEMPLATE stays a setting (read at start-up, as in GoTrue): the console shows it
with a preview rendered by the transport's own ``render_message``, says which provider is in
use and whether it can send, and sends a test through ``services.phone.delivery.deliver`` with
kind "test", which texts it through rt.sms and writes the sms_log row (in its own
transaction, so a refused send is logged too). The audit entry, "sms_test_sent", names the
number masked: the full number is in the SMS log.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....errors import ErrorCode, bad_request
from ....runtime import Runtime
from ....services import audit
from ....services.phone import delivery
from ....services.validation import normalize_phone
from ....transports import sms as sms_transport
from ....services.phone.masking import digits_of, mask_phone

TEST_KIND = "test"
# The shape of a number an operator may type: digits with '+', spaces, dashes, dots, brackets.
_TYPED_NUMBER = frozenset("+0123456789 -.()")
SAMPLE_DIGITS = "1234567890"

# What the page says about each provider beside its name.
PROVIDER_NOTES = {
    "twilio": "Twilio Programmable Messaging (SMS and WhatsApp).",
    "twilio_verify": "Twilio Verify chooses and texts its own code: the template is not used, "
                     "and a test sends a Verify code.",
    "messagebird": "MessageBird (SMS only).",
    "textlocal": "Textlocal (SMS only).",
    "vonage": "Vonage (SMS only).",
}


@dataclass(frozen=True)
class TemplateReport:
    template: str
    sample_code: str
    # The text a user would get (None when the template does not render; ``problem`` says why).
    preview: str | None
    problem: str
    provider: str
    provider_note: str
    # Whether the sender can text at all, and why not.
    ready: bool
    reason: str
    channels: tuple[str, ...]


def sample_code(rt: Runtime) -> str:
    """A code of the configured length (GOTRUE_SMS_OTP_LENGTH), for the preview."""
    length = rt.settings.sms.otp_length
    return (SAMPLE_DIGITS * (length // len(SAMPLE_DIGITS) + 1))[:length]


def render(rt: Runtime, code: str) -> str:
    """GOTRUE_SMS_TEMPLATE with ``code``; ValueError (the transport's words) when the template
    uses something other than the code."""
    return sms_transport.render_message(rt.settings.sms.template, code)


def channels(rt: Runtime) -> tuple[str, ...]:
    """The channels a test may use: WhatsApp only through a provider that has it."""
    if rt.sms.supports_whatsapp:
        return tuple(sms_transport.CHANNELS)
    return ("sms",)


def _readiness(rt: Runtime) -> tuple[bool, str]:
    if not rt.settings.sms.provider:
        return False, "No SMS provider is configured (GOTRUE_SMS_PROVIDER)."
    if not rt.sms.available:
        reason = rt.sms.reason or "the provider cannot be used"
        return False, reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
    return True, ""


def report(rt: Runtime) -> TemplateReport:
    code = sample_code(rt)
    try:
        preview, problem = render(rt, code), ""
    except ValueError as exc:
        preview, problem = None, str(exc)
    ready, reason = _readiness(rt)
    provider = rt.settings.sms.provider
    return TemplateReport(
        template=rt.settings.sms.template, sample_code=code, preview=preview, problem=problem,
        provider=provider, provider_note=PROVIDER_NOTES.get(provider, ""), ready=ready,
        reason=reason, channels=channels(rt))


@dataclass(frozen=True)
class SMSTestResult:
    to: str
    channel: str
    provider: str
    message_id: str


def typed_number(raw: str) -> str:
    """The E.164 digits of a number as an operator types it: '+', spaces, dashes, dots and
    brackets are dropped (a test send is not an API call; the sign-up rules are the API's).
    400 validation_failed for anything else."""
    text = (raw or "").strip()
    if not text:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Type the number to send the test to.")
    if len(text) > 64 or not set(text) <= _TYPED_NUMBER:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Invalid phone number format (E.164 required)")
    return normalize_phone(digits_of(text))


def send_test(rt: Runtime, raw_number: str, channel: str, actor: audit.Actor, *,
              ip: str = "") -> SMSTestResult:
    """Text the template with a sample code to ``raw_number`` through the configured provider.

    400 validation_failed for a malformed number or a channel the provider lacks; ValueError
    when the template does not render. deliver() writes the sms_log row (sent or failed) in
    its own transaction; the audit entry "sms_test_sent" carries the outcome. Raises
    SMSDeliveryError (after the audit entry: the caller commits) when the provider refuses.
    """
    number = typed_number(raw_number)
    channel = channel or "sms"
    if channel not in channels(rt):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"The channel {channel!r} is not available with this provider: "
                          "WhatsApp needs twilio or twilio_verify.")
    body = render(rt, sample_code(rt))
    provider = rt.settings.sms.provider
    traits = {"to": mask_phone(number), "channel": channel, "provider": provider}
    try:
        message_id = delivery.deliver(rt, to=number, body=body, channel=channel, kind=TEST_KIND)
    except sms_transport.SMSDeliveryError as exc:
        audit.record("sms_test_sent", actor, now=rt.now(), ip=ip,
                     traits={**traits, "status": "failed", "error": str(exc)})
        raise
    audit.record("sms_test_sent", actor, now=rt.now(), ip=ip,
                 traits={**traits, "status": "sent", "message_id": message_id or ""})
    return SMSTestResult(to=number, channel=channel, provider=provider,
                         message_id=message_id or "")
