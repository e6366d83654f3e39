"""The WebAuthn MFA factor (spec idp-passkeys-web3.md section 2.4): a security key or platform
authenticator as a second factor, next to TOTP and phone factors.

Enrolment (factors.enroll) only makes the unverified factor. Its first challenge asks the
browser to create a credential ("create"); verifying that answer stores the credential on the
factor and verifies it. A verified factor's challenges ask for an assertion ("request") by any
of the user's verified WebAuthn factors, as GoTrue does; the one that answers has its sign
counter updated. The relying party is always the server's WEBAUTHN_* settings: the rpId and
rpOrigins a client sends are ignored.

The credential is kept as JSON in mfa_factors.web_authn_credential (bytes as unpadded
base64url); the ceremony state between challenge and verify in
mfa_challenges.web_authn_session_data. A check that fails is a 500 and changes nothing, as in
GoTrue; the challenge stays usable until it expires.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...errors import ErrorCode, GoTrueError, bad_request, internal, unprocessable
from ...extensions import db
from ...models import Challenge, Factor, FactorStatus, FactorType, Session, User
from ...runtime import RequestInfo, Runtime
from ...serializers import timestamp
from .. import sessions
from ..passkeys import ceremony
from . import challenges

CREATE, REQUEST = "create", "request"
CREATE_FAILED = "Failed to validate WebAuthn MFA registration"
REQUEST_FAILED = "Failed to validate WebAuthn MFA response"


def create_challenge(rt: Runtime, user: User, factor: Factor,
                     info: RequestInfo) -> tuple[Challenge, dict]:
    """POST /factors/{id}/challenge for a WebAuthn factor: the challenge row and the answer's
    "webauthn" object ({type, credential_options: {publicKey}}). The caller commits."""
    challenges.check_verify_enabled(rt, factor)
    relying_party = rt.settings.webauthn
    ceremony.require_relying_party(relying_party)
    challenge = challenges.create(rt, user, factor, info)
    random_challenge = ceremony.new_challenge()
    verified_ids = [credential_id(other) for other in verified_factors(user)]
    if factor.is_verified:
        ceremony_type = REQUEST
        options = ceremony.authentication_options(relying_party, challenge=random_challenge,
                                                  allow=verified_ids)
    else:
        ceremony_type = CREATE
        options = ceremony.mfa_creation_options(relying_party, challenge=random_challenge,
                                                user_id=user.id, email=user.email or "",
                                                exclude=verified_ids)
    challenge.web_authn_session_data = {
        "type": ceremony_type,
        "challenge": random_challenge,
        "rp_id": relying_party.rp_id,
        "user_handle": ceremony.user_handle(user.id),
        "credential_ids": [ceremony.b64url(value) for value in verified_ids],
    }
    return challenge, {"type": ceremony_type, "credential_options": {"publicKey": options}}


def verify(rt: Runtime, user: User, session: Session | None, factor: Factor, info: RequestInfo,
           *, challenge_id: str, params: dict | None) -> sessions.IssuedSession:
    """POST /factors/{id}/verify for a WebAuthn factor ({challenge_id, webauthn: {type,
    credential_response}}): on success the session is aal2 (challenges.complete). The caller
    commits. Writes verification_attempted."""
    if not rt.settings.mfa.webauthn_verify_enabled:
        # GoTrue's code here is the enrolment one; its message is the verification one.
        raise unprocessable(ErrorCode.MFA_WEBAUTHN_ENROLL_NOT_ENABLED,
                            "MFA verification is disabled for WebAuthn")
    ceremony_type, response = _read_params(params)
    challenges.require_session(session)
    relying_party = rt.settings.webauthn
    ceremony.require_relying_party(relying_party)
    now = rt.now()
    challenge = challenges.open_challenge(rt, factor, challenge_id, info, now)
    state = challenge.web_authn_session_data or {}
    expected = REQUEST if factor.is_verified else CREATE
    if ceremony_type != expected or state.get("type") != expected:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"WebAuthn type must be {expected} for this factor and challenge")
    if expected == CREATE:
        answered = _register(user, factor, relying_party, response, state)
    else:
        answered = _authenticate(user, relying_party, response, state)
    challenges.claim(challenge, now)
    answered.last_webauthn_challenge_data = {
        "challenge_id": str(challenge.id), "type": expected,
        "credential_id": answered.web_authn_credential["credential_id"],
        "verified_at": timestamp(now)}
    return challenges.complete(rt, user, session, answered, challenge, info, now)


def _read_params(params: dict | None) -> tuple[str, object]:
    if params is None:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "WebAuthn config required")
    ceremony_type = params.get("type")
    if ceremony_type not in (CREATE, REQUEST):
        raise bad_request(ErrorCode.VALIDATION_FAILED, "WebAuthn type must be create or request")
    response = params.get("credential_response")
    if response is None:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "credential_response required")
    return ceremony_type, response


def _invalid_response(error: ceremony.CeremonyError) -> GoTrueError:
    return bad_request(ErrorCode.VALIDATION_FAILED, "Invalid credential_response",
                       cause=error.detail)


def _failure(error: ceremony.CeremonyError, message: str) -> GoTrueError:
    """Unparsable input is the client's mistake (400); a check that fails is GoTrue's 500."""
    if str(error) == ceremony.CeremonyError.INVALID:
        return _invalid_response(error)
    return internal(message, cause=error.detail)


def _register(user: User, factor: Factor, relying_party, response, state: dict) -> Factor:
    """The "create" answer: the new credential becomes the factor's (it is verified by
    challenges.complete)."""
    try:
        registered = ceremony.verify_registration(relying_party, response,
                                                  challenge=state.get("challenge", ""))
    except ceremony.CeremonyError as error:
        raise _failure(error, CREATE_FAILED) from None
    # The excluded credentials: a key already registered as a verified factor is not a second
    # factor of its own (the browser refuses it; a hand-made answer is refused here).
    if any(credential_id(other) == registered.credential_id for other in verified_factors(user)):
        raise internal(CREATE_FAILED, cause="credential already registered as a factor")
    factor.web_authn_credential = {
        "credential_id": ceremony.b64url(registered.credential_id),
        "public_key": ceremony.b64url(registered.public_key),
        "attestation_type": registered.attestation_type,
        "transports": list(registered.transports),
        "backup_eligible": registered.backup_eligible,
        "backed_up": registered.backed_up,
        "sign_count": registered.sign_count,
        "clone_warning": False,
    }
    factor.web_authn_aaguid = registered.aaguid
    return factor


def _authenticate(user: User, relying_party, response, state: dict) -> Factor:
    """The "request" answer: an assertion by one of the credentials the challenge allowed (any
    of the user's verified WebAuthn factors). Returns that factor, its counter updated."""
    try:
        assertion = ceremony.read_assertion(response)
    except ceremony.CeremonyError as error:
        raise _invalid_response(error) from None
    allowed = set(state.get("credential_ids") or ())
    answered = next((other for other in verified_factors(user)
                     if credential_id(other) == assertion.raw_id
                     and ceremony.b64url(assertion.raw_id) in allowed), None)
    if answered is None:
        raise internal(REQUEST_FAILED, cause="credential is not one of the allowed factors")
    if assertion.user_handle is not None and (
            assertion.user_handle != ceremony.b64url_decode(state.get("user_handle", ""))):
        raise internal(REQUEST_FAILED, cause="userHandle is not the user's")
    stored = answered.web_authn_credential
    try:
        public_key = ceremony.b64url_decode(str(stored.get("public_key") or ""))
        verified = ceremony.verify_authentication(
            relying_party, response, challenge=state.get("challenge", ""),
            public_key=public_key, sign_count=int(stored.get("sign_count") or 0),
            backup_eligible=bool(stored.get("backup_eligible")))
    except ceremony.CeremonyError as error:
        raise _failure(error, REQUEST_FAILED) from None
    except ValueError as error:  # a stored key that is not base64url
        raise internal(REQUEST_FAILED, cause=error) from None
    # A new dict: the JSON column notices a replaced value, not an edited one.
    answered.web_authn_credential = {**stored, "sign_count": verified.sign_count,
                                     "backed_up": verified.backed_up,
                                     "clone_warning": verified.clone_warning}
    return answered


def verified_factors(user: User) -> list[Factor]:
    """The user's verified WebAuthn factors that hold a readable credential, oldest first."""
    found = db.session.execute(
        sa.select(Factor).where(Factor.user_id == user.id,
                                Factor.factor_type == FactorType.webauthn,
                                Factor.status == FactorStatus.verified)
        .order_by(Factor.created_at, Factor.id)).scalars()
    return [factor for factor in found if credential_id(factor) is not None]


def credential_id(factor: Factor) -> bytes | None:
    """The factor's credential id, or None when it has no (readable) credential."""
    stored = factor.web_authn_credential
    if not isinstance(stored, dict) or not isinstance(stored.get("credential_id"), str):
        return None
    try:
        return ceremony.b64url_decode(stored["credential_id"])
    except ValueError:
        return None
