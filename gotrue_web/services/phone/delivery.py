"""Sending one text message (SMS or WhatsApp) and logging it in sms_log.

Every message the server texts leaves through ``deliver``: the phone codes (codes.send_code,
the MFA challenge), and the console's test send. With the send_sms hook on, the codes go to the
hook instead (send_by_hook); the console's test send still tests the provider. Each attempt,
sent or failed, gets one sms_log row. As with the mail log (services/mail/log.py), the rows are
kept aside during the request and written after its transaction has ended, in a transaction of
their own: a failed send rolls the flow back, and its row must survive that. (Writing it at once
on a second connection would wait on SQLite for the very write lock the flow's transaction
holds.) The factory registers ``write_pending`` as an app-context teardown; a caller outside a
request may call it once its own transaction is over.

The message text is never logged: it carries the code.
"""

from __future__ import annotations

import logging
import uuid


from ...errors import GoTrueError
from ...models import SMSLogEntry, User
from ...runtime import Runtime
from ...serializers import user_json
from ...transports.sms import SMSDeliveryError
from .. import hooks
from ..deferred_rows import DeferredRows
from .masking import mask_phone

log = logging.getLogger(__name__)

SENT, FAILED, TEST_OTP = "sent", "failed", "test_otp"
STATUSES = (SENT, FAILED, TEST_OTP)
# What a message was for (sms_log.kind).
KINDS = ("confirmation", "phone_change", "reauthentication", "mfa", "test")
# The message id a configured test code answers with (nothing was sent).
TEST_OTP_MESSAGE_ID = "test-otp"
# The auth hook that replaces the provider, and the provider its sms_log rows name.
HOOK, HOOK_PROVIDER = "send_sms", "hook"

# This request's rows, waiting for its transaction to end.
_rows = DeferredRows("pending_sms_log", "sms log entries")


def provider_name(rt: Runtime) -> str:
    """The provider messages go through: the sender's name, else the configured one."""
    return getattr(rt.sms, "name", "") or rt.settings.sms.provider or ""


def deliver(rt: Runtime, *, to: str, body: str, channel: str, kind: str,
            user_id: uuid.UUID | None = None, otp: str = "", user: User | None = None,
            ip: str = "") -> str:
    """Send ``body`` to the normalised number ``to`` by ``channel`` through ``rt.sms`` and log
    the attempt; returns the provider's message id ("" when the provider gives none).

    ``otp`` is the code the body carries, for senders that send it apart (a Twilio WhatsApp
    content template). Raises the sender's SMSDeliveryError (SMSProviderUnavailable among
    them) after logging it as failed; the caller decides what the client is told.

    A code for ``user`` goes to the send_sms hook instead when it is on (see send_by_hook).
    """
    if user is not None and hooks.enabled(rt, HOOK):
        return send_by_hook(rt, user, to=to, otp=otp, channel=channel, kind=kind, ip=ip)
    try:
        message_id = rt.sms.send(to, body, channel, otp=otp) or ""
    except SMSDeliveryError as error:
        record(rt, to=to, channel=channel, kind=kind, status=FAILED, error=str(error),
               user_id=user_id)
        log.warning("sms to %s by %s through %s failed: %s", mask_phone(to), channel,
                    provider_name(rt) or "no provider", error)
        raise
    record(rt, to=to, channel=channel, kind=kind, status=SENT, message_id=message_id,
           user_id=user_id)
    return message_id


def send_by_hook(rt: Runtime, user: User, *, to: str, otp: str, channel: str, kind: str,
                 ip: str = "") -> str:
    """The send_sms hook texts the code (spec phone-sms.md 4.4): the event is
    ``{user, sms:{otp, phone}}``, plus ``sms_type:"mfa"`` for an MFA challenge, with the
    normalised number (digits, no ``+``) as GoTrue sends it. No provider is involved, so none
    need be configured. The sms_log row names the provider "hook" and has no message id.

    The hook's error is raised as GoTrue maps it (spec 4.2), after logging it as failed: phone
    codes pass it through inside the caller's transaction, the MFA challenge (which GoTrue
    calls outside any transaction) turns any error into 500 "error invoking hook".
    """
    sms = {"otp": otp, "sms_type": "mfa", "phone": to} if kind == "mfa" else \
        {"otp": otp, "phone": to}
    try:
        hooks.invoke(rt, HOOK, {"user": user_json(user), "sms": sms}, ip=ip,
                     in_transaction=kind != "mfa")
    except GoTrueError as error:
        record(rt, to=to, channel=channel, kind=kind, status=FAILED, error=error.message,
               user_id=user.id, provider=HOOK_PROVIDER)
        log.warning("sms to %s through the send_sms hook failed: %s", mask_phone(to),
                    error.message)
        raise
    record(rt, to=to, channel=channel, kind=kind, status=SENT, user_id=user.id,
           provider=HOOK_PROVIDER)
    return ""


def record_test_otp(rt: Runtime, *, to: str, channel: str, kind: str,
                    user_id: uuid.UUID | None = None) -> str:
    """Log a configured test code (SMS_TEST_OTP) that stood in for a message; nothing is sent.
    Returns the message id such answers carry."""
    record(rt, to=to, channel=channel, kind=kind, status=TEST_OTP,
           message_id=TEST_OTP_MESSAGE_ID, user_id=user_id)
    return TEST_OTP_MESSAGE_ID


def record(rt: Runtime, *, to: str, channel: str, kind: str, status: str,
           message_id: str | None = None, error: str | None = None,
           user_id: uuid.UUID | None = None, provider: str | None = None) -> None:
    """Keep an sms_log row aside; write_pending stores it once the transaction is over. Every
    message is recorded here, so the metrics count it here too."""
    rt.metrics.sms(kind, channel, status)
    entry = SMSLogEntry(
        id=uuid.uuid4(), created_at=rt.now(), kind=kind[:32], recipient=to[:32],
        channel=(channel or "sms")[:16], provider=(provider or provider_name(rt))[:32],
        status=status,
        message_id=(message_id or None) and message_id[:255],
        error=error[:2000] if error else None, user_id=user_id,
    )
    _rows.add(entry)


def pending() -> list[SMSLogEntry]:
    """Rows of this request not written yet."""
    return _rows.pending()


def write_pending(_exception=None) -> None:
    """Teardown: persist this request's rows in their own transaction."""
    _rows.write()
