"""The verification-attempt hooks: password_verification_attempt (the password grant) and
mfa_verification_attempt (MFA verify), asked after the check with its result (phone-sms.md
section 4.4).

Only a decision of exactly "reject" counts; anything else (or no output) lets the request go on.
A rejection deletes sessions (the password hook: when should_logout_user; MFA: always) and
answers with an error that commits first, so the deletion stays.

Each hook runs in its own transaction, as in GoTrue: a pg-functions hook gets a connection of
its own (services.hooks.invoke with in_transaction=False), so what it writes is kept whatever
the request does and its failure does not roll the request back. The password grant has written
nothing when it asks. MFA verify has already counted the attempt on the challenge row, which
stays locked until the request ends: a function that updates that challenge would wait for it.
"""

from __future__ import annotations

import uuid

from ...errors import ErrorCode, GoTrueError, bad_request, forbidden, internal
from ...runtime import Runtime
from .. import sessions
from . import invoke

PASSWORD = "password_verification_attempt"
MFA = "mfa_verification_attempt"
REJECT = "reject"
PASSWORD_REJECTED = "Further password verification attempts will be rejected."
MFA_REJECTED = "Further MFA verification attempts will be rejected."
# The output fields and their JSON types (Go's struct fields: null is allowed).
_PASSWORD_OUTPUT = {"decision": str, "message": str, "should_logout_user": bool}
_MFA_OUTPUT = {"decision": str, "message": str}


def _rejection(rt: Runtime, name: str, payload: dict, fields: dict, ip: str) -> dict | None:
    """The hook's output when it rejects the attempt, else None."""
    output = invoke(rt, name, payload, ip=ip, in_transaction=False) or {}
    for field, kind in fields.items():
        value = output.get(field)
        if value is not None and not isinstance(value, kind):
            # Go cannot decode the output into its struct.
            raise internal("Error unmarshaling JSON output.")
    return output if output.get("decision") == REJECT else None


def _committed(error: GoTrueError) -> GoTrueError:
    error.commit_first = True
    return error


def check_password_attempt(rt: Runtime, user_id: uuid.UUID, valid: bool, ip: str = "") -> None:
    """Ask password_verification_attempt (when enabled) about a password check of ``user_id``.

    A rejection deletes all the user's sessions when the hook says should_logout_user, then
    raises 400 invalid_credentials with the hook's message."""
    if not rt.settings.hooks.password_verification_attempt.enabled:
        return
    output = _rejection(rt, PASSWORD, {"user_id": str(user_id), "valid": valid},
                        _PASSWORD_OUTPUT, ip)
    if output is None:
        return
    if output.get("should_logout_user"):
        sessions.delete_sessions(user_id)
    raise _committed(bad_request(ErrorCode.INVALID_CREDENTIALS,
                                 output.get("message") or PASSWORD_REJECTED))


def check_mfa_attempt(rt: Runtime, user_id: uuid.UUID, factor_id: uuid.UUID, factor_type: str,
                      valid: bool, ip: str = "") -> None:
    """Ask mfa_verification_attempt (when enabled) about a code check of a factor.

    A rejection deletes all the user's sessions and raises 403 mfa_verification_rejected with
    the hook's message."""
    if not rt.settings.hooks.mfa_verification_attempt.enabled:
        return
    output = _rejection(rt, MFA, {"user_id": str(user_id), "factor_id": str(factor_id),
                                  "factor_type": factor_type, "valid": valid}, _MFA_OUTPUT, ip)
    if output is None:
        return
    sessions.delete_sessions(user_id)
    raise _committed(forbidden(ErrorCode.MFA_VERIFICATION_REJECTED,
                               output.get("message") or MFA_REJECTED))
