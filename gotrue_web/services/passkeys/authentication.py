"""Signing in with a passkey: POST /passkeys/authentication/options and /verify (spec
idp-passkeys-web3.md sections 2.2 and 2.3), the checks in GoTrue's order.

The options call stores a challenge with no user (discoverable credentials: the browser lets
the user pick any passkey of this relying party). Verify consumes it, finds the user by the
assertion's userHandle and the passkey by its rawId among that user's passkeys, checks the
assertion, then the user's state, and starts an aal1 session with amr "passkey".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request, forbidden
from ...extensions import db
from ...models import User, WebAuthnCredential
from ...runtime import RequestInfo, Runtime
from .. import audit, sessions, users
from ..validation import parse_go_uuid
from . import ceremony, challenges

METHOD = "passkey"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthenticationOptions:
    challenge: challenges.IssuedChallenge
    options: dict


def options(rt: Runtime) -> AuthenticationOptions:
    """The request options of a sign-in (no allowCredentials) and the stored challenge. The
    caller commits."""
    webauthn = rt.settings.webauthn
    ceremony.require_relying_party(webauthn)
    challenge = ceremony.new_challenge()
    built = ceremony.authentication_options(webauthn, challenge=challenge)
    issued = challenges.create(rt, challenge_type=challenges.AUTHENTICATION, user_id=None,
                               session_data={"challenge": challenge, "rpId": webauthn.rp_id,
                                             "userVerification": "preferred"})
    return AuthenticationOptions(issued, built)


def _failed(detail: str) -> ceremony.CeremonyError:
    return ceremony.CeremonyError(ceremony.CeremonyError.FAILED, detail)


def _find_passkey(assertion: ceremony.Assertion) -> tuple[User, WebAuthnCredential]:
    """The user the userHandle names (the ASCII text of their id) and, among that user's
    passkeys only, the one with this rawId, locked for the counter's update."""
    if assertion.user_handle is None:
        raise _failed("no userHandle")
    try:
        user_id = parse_go_uuid(assertion.user_handle.decode("ascii"))
    except UnicodeDecodeError:
        user_id = None
    user = users.get(user_id) if user_id is not None else None
    if user is None:
        raise _failed("userHandle names no user")
    stored = db.session.execute(
        sa.select(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user.id,
               WebAuthnCredential.credential_id == assertion.raw_id)
        .with_for_update()).scalar_one_or_none()
    if stored is None:
        raise _failed("rawId is none of the user's passkeys")
    return user, stored


def _check_user(rt: Runtime, user: User) -> None:
    """After the assertion: the addresses the user has must be confirmed, and no ban."""
    if user.email and not user.is_email_confirmed:
        raise forbidden(ErrorCode.EMAIL_NOT_CONFIRMED, "Email not confirmed")
    if user.phone and not user.is_phone_confirmed:
        raise forbidden(ErrorCode.PHONE_NOT_CONFIRMED, "Phone not confirmed")
    if user.is_banned(rt.now()):
        raise forbidden(ErrorCode.USER_BANNED, "User is banned")


def verify(rt: Runtime, *, challenge_id: str, credential,
           info: RequestInfo) -> sessions.IssuedSession:
    """The session of the user whose passkey signed the challenge. Writes login with the
    passkey's id; the caller commits."""
    parsed_id = challenges.parse_id(challenge_id, credential)
    webauthn = rt.settings.webauthn
    ceremony.require_relying_party(webauthn)
    session_data = challenges.consume(rt, parsed_id, challenge_type=challenges.AUTHENTICATION,
                                      user_id=None)
    try:
        user, stored = _find_passkey(ceremony.read_assertion(credential))
        verified = ceremony.verify_authentication(
            webauthn, credential, challenge=str(session_data.get("challenge") or ""),
            public_key=stored.public_key, sign_count=stored.sign_count,
            backup_eligible=stored.backup_eligible)
    except ceremony.CeremonyError as error:
        rt.metrics.sign_in(METHOD, METHOD, "failure")
        raise challenges.spent(bad_request(ErrorCode.WEBAUTHN_VERIFICATION_FAILED, str(error),
                                           cause=error.detail)) from None
    try:
        _check_user(rt, user)
    except GoTrueError as error:
        raise challenges.spent(error) from None
    return _start(rt, user, stored, verified, info)


def _start(rt: Runtime, user: User, stored: WebAuthnCredential,
           verified: ceremony.VerifiedAssertion, info: RequestInfo) -> sessions.IssuedSession:
    now = rt.now()
    if verified.clone_warning:
        # A counter that did not grow may mean a cloned authenticator: GoTrue only warns, and
        # the stored value is kept (ceremony.verify_authentication).
        log.warning("passkey %s: sign counter did not increase (stored %d)", stored.id,
                    stored.sign_count)
    stored.sign_count = verified.sign_count
    stored.backed_up = verified.backed_up
    stored.last_used_at = now
    stored.updated_at = now
    audit.record("login", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"passkey_id": str(stored.id)})
    issued = sessions.start_session(rt, user, METHOD, info)
    rt.metrics.sign_in(METHOD, METHOD, "success")
    return issued

