"""Sending one text message (SMS or WhatsApp) and logging it in sms_log.

Every message the server texts leaves through ``deliver``: the phone codes (codes.send_code),
and the console's test send. Each attempt, sent or failed, gets one sms_log row. As with the mail
log (services/mail/log.py), the rows are kept aside during the request and written after its
transaction has ended, in a transaction of their own: a failed send rolls the flow back, and its
row must survive that. (Writing it at once on a second connection would wait on SQLite for the
very write lock the flow's transaction holds.) The factory registers ``write_pending`` as an
app-context teardown; a caller outside a request may call it once its own transaction is over.

The message text is never logged: it carries the code.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

import sqlalchemy as sa

from ...extensions import db
from ...models import SMSLogEntry
from ...runtime import Runtime
from ...transports.sms import SMSDeliveryError
from .masking import mask_phone

log = logging.getLogger(__name__)

SENT, FAILED, TEST_OTP = "sent", "failed", "test_otp"
STATUSES = (SENT, FAILED, TEST_OTP)
# What a message was for (sms_log.kind).
KINDS = ("confirmation", "phone_change", "reauthentication", "mfa", "test")
# The message id a configured test code answers with (nothing was sent).
TEST_OTP_MESSAGE_ID = "test-otp"

# This request's rows, waiting for its transaction to end (one list per thread or context).
_pending: ContextVar[list[SMSLogEntry] | None] = ContextVar("pending_sms_log", default=None)


def provider_name(rt: Runtime) -> str:
    """The provider messages go through: the sender's name, else the configured one."""
    return getattr(rt.sms, "name", "") or rt.settings.sms.provider or ""


def deliver(rt: Runtime, *, to: str, body: str, channel: str, kind: str,
            user_id: uuid.UUID | None = None, otp: str = "") -> str:
    """Send ``body`` to the normalised number ``to`` by ``channel`` through ``rt.sms`` and log
    the attempt; returns the provider's message id ("" when the provider gives none).

    ``otp`` is the code the body carries, for senders that send it apart (a Twilio WhatsApp
    content template). Raises the sender's SMSDeliveryError (SMSProviderUnavailable among
    them) after logging it as failed; the caller decides what the client is told.
    """
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


def record_test_otp(rt: Runtime, *, to: str, channel: str, kind: str,
                    user_id: uuid.UUID | None = None) -> str:
    """Log a configured test code (SMS_TEST_OTP) that stood in for a message; nothing is sent.
    Returns the message id such answers carry."""
    record(rt, to=to, channel=channel, kind=kind, status=TEST_OTP,
           message_id=TEST_OTP_MESSAGE_ID, user_id=user_id)
    return TEST_OTP_MESSAGE_ID


def record(rt: Runtime, *, to: str, channel: str, kind: str, status: str,
           message_id: str | None = None, error: str | None = None,
           user_id: uuid.UUID | None = None) -> None:
    """Keep an sms_log row aside; write_pending stores it once the transaction is over."""
    entry = SMSLogEntry(
        id=uuid.uuid4(), created_at=rt.now(), kind=kind[:32], recipient=to[:32],
        channel=(channel or "sms")[:16], provider=provider_name(rt)[:32], status=status,
        message_id=(message_id or None) and message_id[:255],
        error=error[:2000] if error else None, user_id=user_id,
    )
    entries = _pending.get()
    if entries is None:
        entries = []
        _pending.set(entries)
    entries.append(entry)


def pending() -> list[SMSLogEntry]:
    """Rows of this request not written yet."""
    return list(_pending.get() or ())


def write_pending(_exception=None) -> None:
    """Teardown: persist this request's rows in their own transaction."""
    entries = _pending.get()
    _pending.set(None)
    if not entries:
        return
    try:
        db.session.rollback()
        db.session.add_all(entries)
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        log.exception("could not write %d sms log entries", len(entries))


