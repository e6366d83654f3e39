"""Registering a passkey: POST /passkeys/registration/options and /verify (spec
idp-passkeys-web3.md section 2.2), the checks in GoTrue's order.

The options call stores a registration challenge for the caller; verify consumes it, checks the
authenticator's answer (ceremony.verify_registration) and stores the new credential under the
user's row lock, where the per-user maximum and the credential id's uniqueness are checked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request, conflict, unprocessable
from ...extensions import db
from ...models import Session, User, WebAuthnCredential
from ...runtime import RequestInfo, Runtime
from .. import audit
from ..mail.links import lock_user
from . import ceremony, challenges
from .manage import count_passkeys, require_aal


@dataclass(frozen=True)
class RegistrationOptions:
    challenge: challenges.IssuedChallenge
    options: dict


def _too_many() -> GoTrueError:
    return unprocessable(ErrorCode.TOO_MANY_PASSKEYS, "Maximum number of passkeys reached")


def check_may_register(user: User, session: Session | None) -> None:
    """Steps 1 and 2 of both calls: SSO users cannot, and MFA users need an aal2 session."""
    if user.is_sso_user:
        raise unprocessable(ErrorCode.VALIDATION_FAILED, "SSO users cannot register passkeys")
    require_aal(user, session)


def _names(user: User) -> tuple[str, str]:
    """WebAuthn's user.name (email, else phone) and displayName (user_metadata.name, else the
    name)."""
    name = user.email or user.phone or ""
    display_name = (user.raw_user_meta_data or {}).get("name")
    return name, display_name if isinstance(display_name, str) and display_name else name


def _credential_ids(user_id: uuid.UUID) -> list[bytes]:
    return list(db.session.execute(
        sa.select(WebAuthnCredential.credential_id).where(WebAuthnCredential.user_id == user_id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)).scalars())


def options(rt: Runtime, user: User, session: Session | None) -> RegistrationOptions:
    """The creation options for a new passkey of ``user`` (its passkeys excluded) and the
    stored challenge. The caller commits."""
    check_may_register(user, session)
    existing = _credential_ids(user.id)
    if len(existing) >= rt.settings.passkeys.max_passkeys_per_user:
        raise _too_many()
    webauthn = rt.settings.webauthn
    ceremony.require_relying_party(webauthn)
    challenge = ceremony.new_challenge()
    name, display_name = _names(user)
    built = ceremony.passkey_registration_options(
        webauthn, challenge=challenge, user_id=user.id, user_name=name,
        display_name=display_name, exclude=existing)
    issued = challenges.create(rt, challenge_type=challenges.REGISTRATION, user_id=user.id,
                               session_data={
                                   "challenge": challenge,
                                   "rpId": webauthn.rp_id,
                                   "user_id": built["user"]["id"],
                                   "userVerification": "preferred",
                                   "credParams": built["pubKeyCredParams"],
                               })
    return RegistrationOptions(issued, built)


def verify(rt: Runtime, user: User, session: Session | None, *, challenge_id: str, credential,
           info: RequestInfo) -> WebAuthnCredential:
    """Store the passkey the authenticator created for the caller's challenge. Writes
    passkey_created; the caller commits."""
    check_may_register(user, session)
    parsed_id = challenges.parse_id(challenge_id, credential)
    webauthn = rt.settings.webauthn
    ceremony.require_relying_party(webauthn)
    session_data = challenges.consume(rt, parsed_id, challenge_type=challenges.REGISTRATION,
                                      user_id=user.id)
    try:
        registered = ceremony.verify_registration(
            webauthn, credential, challenge=str(session_data.get("challenge") or ""))
    except ceremony.CeremonyError as error:
        raise challenges.spent(bad_request(ErrorCode.WEBAUTHN_VERIFICATION_FAILED, str(error),
                                           cause=error.detail)) from None
    return _store(rt, user, registered, info)


def _store(rt: Runtime, user: User, registered: ceremony.RegisteredCredential,
           info: RequestInfo) -> WebAuthnCredential:
    # Under the user's row lock: two verify calls of one user cannot both pass the maximum.
    _lock(user)
    if count_passkeys(user.id) >= rt.settings.passkeys.max_passkeys_per_user:
        raise challenges.spent(_too_many())
    taken = db.session.execute(
        sa.select(WebAuthnCredential.id)
        .where(WebAuthnCredential.credential_id == registered.credential_id)).first()
    if taken is not None:
        raise challenges.spent(_credential_exists())
    now = rt.now()
    credential = WebAuthnCredential(
        id=uuid.uuid4(), user_id=user.id, credential_id=registered.credential_id,
        public_key=registered.public_key, attestation_type=registered.attestation_type,
        aaguid=registered.aaguid, sign_count=registered.sign_count,
        transports=list(registered.transports), backup_eligible=registered.backup_eligible,
        backed_up=registered.backed_up,
        friendly_name=ceremony.authenticator_name(registered.aaguid),
        created_at=now, updated_at=now, last_used_at=None)
    try:
        # A concurrent registration of the same credential by another user wins the index.
        with db.session.begin_nested():
            db.session.add(credential)
    except sa.exc.IntegrityError:
        raise challenges.spent(_credential_exists()) from None
    audit.record("passkey_created", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"passkey_id": str(credential.id)})
    return credential


def _lock(user: User) -> None:
    try:
        lock_user(user)
    except GoTrueError as error:
        if error.status != 429:
            raise
        # Another request holds the user's row past the lock wait.
        raise challenges.spent(conflict(
            ErrorCode.CONFLICT, "Too many concurrent requests for this user, try again",
            cause=error)) from None


def _credential_exists() -> GoTrueError:
    return unprocessable(ErrorCode.WEBAUTHN_CREDENTIAL_EXISTS,
                         "This credential is already registered")
