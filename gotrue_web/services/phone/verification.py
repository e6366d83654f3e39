"""Checking a texted code: POST /verify (types sms and phone_change) and the reauthentication
nonce of a phone user in PUT /user.

Parity: GoTrue internal/api/verify.go (smsVerify) and user.go (verifyReauthentication), spec
phone-sms §1.2, §2.3 and §2.5. A code is accepted by, in this order:

1. a test code (SMS_TEST_OTP for the number, while SMS_TEST_OTP_VALID_UNTIL is not past);
   /verify only, never the nonce;
2. twilio_verify, when it sent the code: Twilio chose that code, so only Twilio can check it
   (decision D2: with the send-sms hook the code is ours and is checked here instead);
3. the stored keyed digest (security.codes, the phone digits as the address, exactly as the
   send stores it) within SMS_OTP_EXP of the ``*_sent_at`` column.

Wrong stored codes count against the one_time_tokens row like emailed codes do: five and the
code is forgotten (one_time_tokens.count_failed_attempt). Twilio Verify keeps its own count.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from ...errors import ErrorCode, forbidden, internal, unprocessable
from ...models import OneTimeTokenType, User
from ...models.one_time_token import USER_COLUMNS
from ...runtime import Runtime
from ...transports.sms import SMSDeliveryError, SMSProviderUnavailable, SMSVerificationError
from .. import hooks, one_time_tokens
from .delivery import HOOK

log = logging.getLogger(__name__)

CODE_INVALID = "Token has expired or is invalid"
NONCE_INVALID = "Nonce has expired or is invalid"


def test_code_matches(rt: Runtime, phone: str, code: str) -> bool:
    """Whether ``code`` is the SMS_TEST_OTP of ``phone`` and test codes are still allowed."""
    expected = rt.settings.sms.test_code(phone, rt.now())
    if not expected or not code:
        return False
    return hmac.compare_digest(expected.encode(), code.encode())


def delegated(rt: Runtime) -> bool:
    """Whether the provider chose and holds the codes (twilio_verify).

    D2: with the send_sms hook on, every code was made here and sent by the hook, so it is
    checked locally (POST /verify, the reauthentication nonce, MFA phone verify).
    """
    if hooks.enabled(rt, HOOK):
        return False
    return bool(getattr(rt.sms, "delegates_codes", False))


def provider_accepts(rt: Runtime, phone: str, code: str) -> bool:
    """Twilio Verify's VerificationCheck for ``phone``; any failure (a wrong or expired code,
    an error answer, a timeout) is a refusal. The code itself is never logged.

    500 "Unable to get SMS provider" when a credential is missing, as for a send: that is the
    server's configuration, not a wrong code.
    """
    try:
        rt.sms.check(phone, code)
    except SMSProviderUnavailable as exc:
        raise internal("Unable to get SMS provider", cause=exc) from None
    except (SMSVerificationError, SMSDeliveryError) as exc:
        log.info("twilio_verify refused a code check: %s", exc)
        return False
    return True


def stored_code_matches(rt: Runtime, user: User, token_type: OneTimeTokenType, phone: str,
                        code: str) -> bool:
    """Whether ``code`` sent to ``phone`` is the one the user's column holds (expiry aside)."""
    column = USER_COLUMNS[token_type][0]
    return one_time_tokens.code_matches(rt, getattr(user, column), phone, code)


def stored_code_fresh(rt: Runtime, user: User, token_type: OneTimeTokenType) -> bool:
    """Valid while now <= sent_at + SMS_OTP_EXP."""
    sent_at = getattr(user, USER_COLUMNS[token_type][1])
    return sent_at is not None and \
        rt.now() <= sent_at + timedelta(seconds=rt.settings.sms.otp_exp)


def check_nonce(rt: Runtime, user: User, nonce: str) -> None:
    """The reauthentication nonce of a user without email, texted to ``user.phone``.

    twilio_verify: 403 otp_expired when Twilio refuses (its token column is left as is).
    Otherwise 422 reauthentication_not_valid "Nonce has expired or is invalid" for a wrong,
    expired or missing code; a wrong one counts against the code and the count is committed.
    """
    phone = user.phone or ""
    if delegated(rt):
        if not provider_accepts(rt, phone, nonce):
            raise forbidden(ErrorCode.OTP_EXPIRED, CODE_INVALID)
        return
    token_type = OneTimeTokenType.reauthentication_token
    if stored_code_matches(rt, user, token_type, phone, nonce):
        if stored_code_fresh(rt, user, token_type):
            return
        raise unprocessable(ErrorCode.REAUTHENTICATION_NOT_VALID, NONCE_INVALID)
    one_time_tokens.count_failed_attempt(user, (token_type,), rt.now())
    error = unprocessable(ErrorCode.REAUTHENTICATION_NOT_VALID, NONCE_INVALID)
    error.commit_first = True
    raise error
