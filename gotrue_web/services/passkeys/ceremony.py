"""WebAuthn ceremonies for passkeys and the WebAuthn MFA factor (spec idp-passkeys-web3.md
sections 2.2 to 2.5): the options JSON the browser's ``navigator.credentials.create()`` and
``.get()`` take, and the verification of what they answer. Pure: no database, no clock.

Options are built by hand in GoTrue's key order (py_webauthn's builders differ in defaults).
Verification runs in two steps, so the error tells which went wrong:

- parsing the W3C ``toJSON()`` dict (base64url, padding optional; clientDataJSON; the CBOR
  attestation object; authenticator data): a failure is ``CeremonyError.INVALID``;
- the checks (py_webauthn's, plus GoTrue's backup-flag and counter rules): a failure is
  ``CeremonyError.FAILED``.

No other exception leaves this module for bad client input.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ...errors import internal
from ...settings.passkeys.webauthn import WebAuthnSettings

# Offered in this order, as GoTrue does (ES256, ES384, ES512, RS256/384/512, PS256/384/512,
# EdDSA).
ALGORITHMS: tuple[int, ...] = (-7, -35, -36, -257, -258, -259, -37, -38, -39, -8)
# py_webauthn 3.0.1 has no ES384 (-35): it cannot decode such a key, so a credential created
# with it fails verification here although GoTrue would accept it. Browsers and platform
# authenticators use ES256 in practice.
TIMEOUT_MS = 300000
CHALLENGE_BYTES = 32
CREATE, GET = "webauthn.create", "webauthn.get"
AAGUIDS_FILE = Path(__file__).with_name("aaguids.json")
DEFAULT_NAME = "Passkey"
MFA_EXCLUDE_TRANSPORTS = ("usb", "nfc")

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@functools.cache
def _py_webauthn() -> SimpleNamespace:
    """py_webauthn, imported on the first ceremony: with pyOpenSSL it costs each worker about
    10 MB, which a server without passkeys or WebAuthn factors should not pay."""
    from webauthn import verify_authentication_response, verify_registration_response
    from webauthn.helpers import parse_attestation_object, parse_authenticator_data
    from webauthn.helpers.cose import COSEAlgorithmIdentifier
    from webauthn.helpers.structs import (
        AuthenticationCredential,
        AuthenticatorAssertionResponse,
        AuthenticatorAttestationResponse,
        CredentialDeviceType,
        PublicKeyCredentialType,
        RegistrationCredential,
    )
    return SimpleNamespace(
        verify_authentication_response=verify_authentication_response,
        verify_registration_response=verify_registration_response,
        parse_attestation_object=parse_attestation_object,
        parse_authenticator_data=parse_authenticator_data,
        AuthenticationCredential=AuthenticationCredential,
        AuthenticatorAssertionResponse=AuthenticatorAssertionResponse,
        AuthenticatorAttestationResponse=AuthenticatorAttestationResponse,
        CredentialDeviceType=CredentialDeviceType,
        PublicKeyCredentialType=PublicKeyCredentialType,
        RegistrationCredential=RegistrationCredential,
        verifiable_algorithms=[COSEAlgorithmIdentifier(alg) for alg in ALGORITHMS
                               if alg in COSEAlgorithmIdentifier._value2member_map_],
    )


class CeremonyError(Exception):
    INVALID = "Invalid credential response"
    FAILED = "Credential verification failed"

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        # Which check it was, for logs and tests; never shown to the client.
        self.detail = detail or message

    def __str__(self) -> str:
        return self.message


def _invalid(detail: str) -> CeremonyError:
    return CeremonyError(CeremonyError.INVALID, detail)


def _failed(detail: str) -> CeremonyError:
    return CeremonyError(CeremonyError.FAILED, detail)


# -- encoding -----------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional): ValueError on any other character or length."""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def new_challenge() -> str:
    return b64url(secrets.token_bytes(CHALLENGE_BYTES))


def user_handle(user_id: uuid.UUID) -> str:
    """The WebAuthn user id: the user's UUID as ASCII text, base64url-encoded."""
    return b64url(str(user_id).encode("ascii"))


def require_relying_party(webauthn: WebAuthnSettings) -> None:
    if not webauthn.configured:
        raise internal("Failed to initialize WebAuthn")


# -- options ------------------------------------------------------------------------------

def _creation_options(webauthn: WebAuthnSettings, *, challenge: str, user_id: uuid.UUID,
                      user_name: str, display_name: str,
                      exclude: list[dict[str, Any]]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "rp": {"name": webauthn.rp_display_name, "id": webauthn.rp_id},
        "user": {"name": user_name, "displayName": display_name, "id": user_handle(user_id)},
        "challenge": challenge,
        "pubKeyCredParams": [{"type": "public-key", "alg": alg} for alg in ALGORITHMS],
        "timeout": TIMEOUT_MS,
    }
    if exclude:
        options["excludeCredentials"] = exclude
    return options


def passkey_registration_options(webauthn: WebAuthnSettings, *, challenge: str,
                                 user_id: uuid.UUID, user_name: str, display_name: str,
                                 exclude: Sequence[bytes]) -> dict[str, Any]:
    options = _creation_options(
        webauthn, challenge=challenge, user_id=user_id, user_name=user_name,
        display_name=display_name,
        exclude=[{"type": "public-key", "id": b64url(credential_id)}
                 for credential_id in exclude])
    options["authenticatorSelection"] = {"residentKey": "required",
                                         "userVerification": "preferred"}
    options["attestation"] = "none"
    return options


def mfa_creation_options(webauthn: WebAuthnSettings, *, challenge: str, user_id: uuid.UUID,
                         email: str, exclude: Sequence[bytes]) -> dict[str, Any]:
    return _creation_options(
        webauthn, challenge=challenge, user_id=user_id, user_name=email, display_name=email,
        exclude=[{"type": "public-key", "id": b64url(credential_id),
                  "transports": list(MFA_EXCLUDE_TRANSPORTS)} for credential_id in exclude])


def authentication_options(webauthn: WebAuthnSettings, *, challenge: str,
                           allow: Sequence[bytes] = ()) -> dict[str, Any]:
    options: dict[str, Any] = {"challenge": challenge, "timeout": TIMEOUT_MS,
                               "rpId": webauthn.rp_id}
    if allow:
        options["allowCredentials"] = [{"type": "public-key", "id": b64url(credential_id)}
                                       for credential_id in allow]
    options["userVerification"] = "preferred"
    return options


# -- parsing ------------------------------------------------------------------------------

def _decode_field(container: dict, name: str) -> bytes:
    value = container.get(name)
    if not isinstance(value, str):
        raise _invalid(f"{name} is missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise _invalid(f"{name} is not base64url") from None


def _parse_envelope(credential: Any) -> tuple[bytes, bytes, dict]:
    """The credential's rawId, id (decoded) and response object."""
    if not isinstance(credential, dict):
        raise _invalid("credential is not an object")
    raw_id = _decode_field(credential, "rawId")
    id_bytes = _decode_field(credential, "id")
    if not raw_id:
        raise _invalid("rawId is empty")
    if credential.get("type") != "public-key":
        raise _invalid("type is not public-key")
    response = credential.get("response")
    if not isinstance(response, dict):
        raise _invalid("response is missing or not an object")
    return raw_id, id_bytes, response


def _check_id(raw_id: bytes, id_bytes: bytes) -> None:
    if id_bytes != raw_id:
        raise _failed("id and rawId differ")


def _parse_client_data(response: dict) -> tuple[bytes, dict]:
    client_data_json = _decode_field(response, "clientDataJSON")
    try:
        client_data = json.loads(client_data_json)
    except ValueError:
        raise _invalid("clientDataJSON is not JSON") from None
    if not isinstance(client_data, dict):
        raise _invalid("clientDataJSON is not an object")
    for key in ("type", "challenge", "origin"):
        if not isinstance(client_data.get(key), str):
            raise _invalid(f"clientDataJSON {key} is missing or not a string")
    return client_data_json, client_data


def _check_client_data(client_data: dict, webauthn: WebAuthnSettings, *, ceremony: str,
                       challenge: str) -> None:
    # py_webauthn checks these too; checking them first names the failure exactly, and the
    # challenge is compared as text, as GoTrue does.
    if client_data["type"] != ceremony:
        raise _failed(f"clientDataJSON type is not {ceremony}")
    if not secrets.compare_digest(client_data["challenge"].encode(), challenge.encode()):
        raise _failed("challenge mismatch")
    if client_data["origin"] not in webauthn.rp_origins:
        raise _failed("origin not allowed")


def _transports(response: dict) -> list[str]:
    transports = response.get("transports")
    if transports is None:
        return []
    if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
        raise _invalid("transports is not a list of strings")
    return list(transports)


def _check_rp_id(rp_id_hash: bytes, webauthn: WebAuthnSettings) -> None:
    if rp_id_hash != hashlib.sha256(webauthn.rp_id.encode("utf-8")).digest():
        raise _failed("rpIdHash mismatch")


# -- registration -------------------------------------------------------------------------

@dataclass(frozen=True)
class RegisteredCredential:
    credential_id: bytes
    public_key: bytes  # COSE_Key
    sign_count: int
    aaguid: uuid.UUID | None
    attestation_type: str
    transports: list[str]
    backup_eligible: bool
    backed_up: bool


def verify_registration(webauthn: WebAuthnSettings, credential: Any, *,
                        challenge: str) -> RegisteredCredential:
    raw_id, id_bytes, response = _parse_envelope(credential)
    client_data_json, client_data = _parse_client_data(response)
    attestation_bytes = _decode_field(response, "attestationObject")
    transports = _transports(response)
    try:
        attestation = _py_webauthn().parse_attestation_object(attestation_bytes)
    except Exception:
        raise _invalid("attestationObject is malformed") from None
    if not isinstance(attestation.fmt, str):
        raise _invalid("attestation fmt is not a string")

    _check_id(raw_id, id_bytes)
    _check_client_data(client_data, webauthn, ceremony=CREATE, challenge=challenge)
    auth_data = attestation.auth_data
    _check_rp_id(auth_data.rp_id_hash, webauthn)
    if not auth_data.flags.up:
        raise _failed("user not present")
    attested = auth_data.attested_credential_data
    if attested is None:
        raise _failed("no attested credential data")
    if attested.credential_id != raw_id:
        raise _failed("rawId is not the attested credential id")
    if auth_data.flags.bs and not auth_data.flags.be:
        raise _failed("backed up without backup eligibility")
    lib = _py_webauthn()
    try:
        verified = lib.verify_registration_response(
            credential=lib.RegistrationCredential(
                id=b64url(raw_id), raw_id=raw_id, type=lib.PublicKeyCredentialType.PUBLIC_KEY,
                response=lib.AuthenticatorAttestationResponse(
                    client_data_json=client_data_json, attestation_object=attestation_bytes)),
            expected_challenge=b64url_decode(challenge),
            expected_rp_id=webauthn.rp_id,
            expected_origin=list(webauthn.rp_origins),
            require_user_verification=False,
            supported_pub_key_algs=lib.verifiable_algorithms,
        )
    except Exception as exc:
        raise _failed(f"registration rejected: {exc}") from None

    aaguid = uuid.UUID(verified.aaguid) if verified.aaguid else None
    return RegisteredCredential(
        credential_id=raw_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=aaguid,
        attestation_type=str(getattr(verified.fmt, "value", verified.fmt)),
        transports=transports,
        backup_eligible=verified.credential_device_type == lib.CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


# -- authentication -----------------------------------------------------------------------

@dataclass(frozen=True)
class Assertion:
    raw_id: bytes
    user_handle: bytes | None


@dataclass(frozen=True)
class _ParsedAssertion:
    assertion: Assertion
    id_bytes: bytes
    client_data_json: bytes
    client_data: dict
    authenticator_data: bytes
    signature: bytes
    auth_data: Any


def _parse_assertion(credential: Any) -> _ParsedAssertion:
    raw_id, id_bytes, response = _parse_envelope(credential)
    handle = response.get("userHandle")
    if handle is None or handle == "":
        user_handle_bytes = None
    else:
        user_handle_bytes = _decode_field(response, "userHandle")
    client_data_json, client_data = _parse_client_data(response)
    authenticator_data = _decode_field(response, "authenticatorData")
    signature = _decode_field(response, "signature")
    try:
        auth_data = _py_webauthn().parse_authenticator_data(authenticator_data)
    except Exception:
        raise _invalid("authenticatorData is malformed") from None
    return _ParsedAssertion(Assertion(raw_id=raw_id, user_handle=user_handle_bytes), id_bytes,
                            client_data_json, client_data, authenticator_data, signature,
                            auth_data)


def read_assertion(credential: Any) -> Assertion:
    """The credential id and user handle of an assertion, to find the stored passkey. The
    whole assertion is parsed first, as GoTrue does: an unparsable one is INVALID whoever it
    names (verify_authentication then runs the checks)."""
    return _parse_assertion(credential).assertion


@dataclass(frozen=True)
class VerifiedAssertion:
    sign_count: int  # the value to store: the stored one is kept on a clone warning
    backed_up: bool
    clone_warning: bool


def verify_authentication(webauthn: WebAuthnSettings, credential: Any, *, challenge: str,
                          public_key: bytes, sign_count: int,
                          backup_eligible: bool) -> VerifiedAssertion:
    parsed = _parse_assertion(credential)
    assertion, auth_data = parsed.assertion, parsed.auth_data
    _check_id(assertion.raw_id, parsed.id_bytes)
    _check_client_data(parsed.client_data, webauthn, ceremony=GET, challenge=challenge)
    _check_rp_id(auth_data.rp_id_hash, webauthn)
    if not auth_data.flags.up:
        raise _failed("user not present")
    if auth_data.flags.be != backup_eligible:
        raise _failed("backup eligibility differs from the stored credential")
    if auth_data.flags.bs and not auth_data.flags.be:
        raise _failed("backed up without backup eligibility")

    # GoTrue only warns when the counter did not grow (a cloned authenticator?); py_webauthn
    # refuses, so it is given 0, which it never refuses, in that case.
    new_count = auth_data.sign_count
    clone_warning = new_count <= sign_count and not (new_count == 0 and sign_count == 0)
    lib = _py_webauthn()
    try:
        verified = lib.verify_authentication_response(
            credential=lib.AuthenticationCredential(
                id=b64url(assertion.raw_id), raw_id=assertion.raw_id,
                type=lib.PublicKeyCredentialType.PUBLIC_KEY,
                response=lib.AuthenticatorAssertionResponse(
                    client_data_json=parsed.client_data_json,
                    authenticator_data=parsed.authenticator_data, signature=parsed.signature,
                    user_handle=assertion.user_handle)),
            expected_challenge=b64url_decode(challenge),
            expected_rp_id=webauthn.rp_id,
            expected_origin=list(webauthn.rp_origins),
            credential_public_key=public_key,
            credential_current_sign_count=0 if clone_warning else sign_count,
            require_user_verification=False,
        )
    except Exception as exc:
        raise _failed(f"assertion rejected: {exc}") from None
    return VerifiedAssertion(sign_count=sign_count if clone_warning else new_count,
                             backed_up=verified.credential_backed_up,
                             clone_warning=clone_warning)


# -- names --------------------------------------------------------------------------------

@functools.cache
def _aaguid_names() -> dict[str, str]:
    with AAGUIDS_FILE.open(encoding="utf-8") as file:
        return {key.lower(): name for key, name in json.load(file).items()}


def authenticator_name(aaguid: uuid.UUID | None) -> str:
    """The authenticator's model name for a new passkey's friendly_name, else "Passkey"."""
    if aaguid is None:
        return DEFAULT_NAME
    return _aaguid_names().get(str(aaguid), DEFAULT_NAME)
