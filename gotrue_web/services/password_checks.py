"""The one check every new password passes, and the weakness report of the password grant.

GoTrue's rules (length, required characters) come from security.passwords; on top of them a
password is "pwned" when it is on the shipped list of the most common passwords
(GOTRUE_PASSWORD_COMMON_LIST_ENABLED, ours, on by default) or, with GOTRUE_PASSWORD_HIBP_ENABLED,
when the Pwned Passwords range API has seen it in a breach. Every path that sets a password
(signup, PUT /user, admin and console updates, generate_link signups) calls
``check_new_password``; the password grant calls ``login_weakness``, which never refuses.
"""

from __future__ import annotations

import logging

from ..errors import WeakPasswordError, internal
from ..runtime import Runtime
from ..security import common_passwords, passwords
from ..transports import pwned_passwords

log = logging.getLogger("gotrue_web.passwords")

PWNED_MESSAGE = "Password is known to be weak and easy to guess, please choose a different one."
HIBP_UNAVAILABLE = "Unable to perform password strength check with HaveIBeenPwned.org."


class _RangeAPIDown(Exception):
    """The range API could not answer and the settings say to refuse (fail closed)."""


def check_new_password(rt: Runtime, password: str) -> None:
    """400 validation_failed over 72 bytes; 422 weak_password with every reason that applies
    (length, characters, pwned). When the range API fails: with HIBP_FAIL_CLOSED a password not
    refused for another reason gets 500 unexpected_failure (as GoTrue), else it passes."""
    passwords.check_length_limit(password)
    fail_closed = rt.settings.password.hibp_fail_closed
    try:
        error = _weakness(rt, password, fail_closed=fail_closed)
    except _RangeAPIDown:
        raise internal(HIBP_UNAVAILABLE) from None
    if error is not None:
        raise error


def login_weakness(rt: Runtime, password: str) -> WeakPasswordError | None:
    """The password grant's ``weak_password`` report: the same reasons, never a refusal.

    Called only after the password matched. A range API failure leaves "pwned" out whatever
    HIBP_FAIL_CLOSED says, because a report must not stop a sign-in.
    """
    return _weakness(rt, password, fail_closed=False)


def _weakness(rt: Runtime, password: str, *, fail_closed: bool) -> WeakPasswordError | None:
    rules = rt.settings.password
    found = passwords.weakness(password, rules)
    reasons = list(found.reasons) if found else []
    messages = [found.message] if found else []
    try:
        pwned = _is_pwned(rt, password)
    except pwned_passwords.RangeAPIUnavailable:
        # A password refused anyway is refused for what we know; only a password that would
        # otherwise pass is held back by an unanswered question.
        if fail_closed and not reasons:
            raise _RangeAPIDown() from None
        pwned = False
    if pwned:
        reasons.append("pwned")
        messages.append(PWNED_MESSAGE)
    if not reasons:
        return None
    return WeakPasswordError(" ".join(messages), reasons)


def _is_pwned(rt: Runtime, password: str) -> bool:
    """Common list first (a set lookup); the range API only for what the list does not know."""
    if common_passwords.is_common(password, rt.common_passwords):
        return True
    rules = rt.settings.password
    if not rules.hibp_enabled:
        return False
    try:
        return pwned_passwords.is_pwned(
            rules.hibp_url, password, timeout=rules.hibp_timeout.total_seconds(),
            user_agent=rules.hibp_user_agent,
            known=rt.known_pwned if rules.hibp_bloom_enabled else None)
    except pwned_passwords.RangeAPIUnavailable as exc:
        # The reason only: never the password, its hash or the hash prefix.
        log.warning("Pwned Passwords range API unavailable (%s); %s", exc,
                    "refusing new passwords" if rules.hibp_fail_closed
                    else "pwned passwords are being allowed")
        raise
