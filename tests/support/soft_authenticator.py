"""A software WebAuthn authenticator for tests: it answers a relying party's creation and
request options with the dicts a browser's ``PublicKeyCredential.toJSON()`` gives (base64url
fields, no padding). Attestation format "none"; keys ES256 (-7), RS256 (-257) or EdDSA (-8).

Every knob a check depends on (origin, rp id, challenge, clientData type, the UP/UV/BE/BS flags,
the sign counter, the user handle, the AAGUID, the algorithm (on create), the signature (on get))
can be set for the authenticator or overridden per call, so tests can produce each failure on
purpose."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

ES256, RS256, EDDSA = -7, -257, -8

FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key(algorithm: int):
    if algorithm == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported algorithm {algorithm}")


def cose_public_key(private_key, algorithm: int) -> bytes:
    """The credential public key as a COSE_Key (RFC 9053), CBOR-encoded."""
    public_key = private_key.public_key()
    if algorithm == ES256:
        numbers = public_key.public_numbers()
        return cbor2.dumps({1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
    if algorithm == RS256:
        numbers = public_key.public_numbers()
        exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return cbor2.dumps({1: 3, 3: RS256, -1: numbers.n.to_bytes(256, "big"), -2: exponent})
    raw = public_key.public_bytes_raw()
    return cbor2.dumps({1: 1, 3: EDDSA, -1: 6, -2: raw})


def sign(private_key, algorithm: int, data: bytes) -> bytes:
    if algorithm == ES256:
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    if algorithm == RS256:
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return private_key.sign(data)


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: Any
    algorithm: int
    user_handle: bytes | None
    rp_id: str
    sign_count: int = 0

    @property
    def public_key(self) -> bytes:
        return cose_public_key(self.private_key, self.algorithm)


class SoftAuthenticator:
    def __init__(self, *, rp_id: str = "localhost", origin: str = "http://localhost:5173",
                 aaguid: bytes = bytes(16), algorithm: int = ES256,
                 backup_eligible: bool = False, backed_up: bool = False,
                 user_present: bool = True, user_verified: bool = True,
                 transports: tuple[str, ...] = ("usb",)):
        self.rp_id = rp_id
        self.origin = origin
        self.aaguid = aaguid
        self.algorithm = algorithm
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.user_present = user_present
        self.user_verified = user_verified
        self.transports = transports
        self.credentials: dict[bytes, SoftCredential] = {}
        self.last_credential_id: bytes | None = None

    # -- pieces ---------------------------------------------------------------------------

    def _knob(self, overrides: dict, name: str):
        return overrides[name] if name in overrides else getattr(self, name)

    def _flags(self, overrides: dict, *, attested: bool) -> int:
        flags = 0
        for knob, bit in (("user_present", FLAG_UP), ("user_verified", FLAG_UV),
                          ("backup_eligible", FLAG_BE), ("backed_up", FLAG_BS)):
            if self._knob(overrides, knob):
                flags |= bit
        return flags | (FLAG_AT if attested else 0)

    def _client_data(self, overrides: dict, ceremony_type: str, challenge: str) -> bytes:
        client_data = {
            "type": overrides.get("type", ceremony_type),
            "challenge": overrides.get("challenge", challenge),
            "origin": self._knob(overrides, "origin"),
            "crossOrigin": False,
        }
        return json.dumps(client_data, separators=(",", ":")).encode("utf-8")

    @staticmethod
    def _authenticator_data(rp_id: str, flags: int, sign_count: int,
                            attested: bytes = b"") -> bytes:
        return (hashlib.sha256(rp_id.encode("utf-8")).digest() + bytes([flags])
                + struct.pack(">I", sign_count) + attested)

    # -- ceremonies -----------------------------------------------------------------------

    def create(self, options: dict, **overrides) -> dict:
        """A registration response (toJSON()) to creation ``options`` (the passkey "options" or
        the MFA "publicKey" object). The new credential is kept for later ``get`` calls."""
        algorithm = overrides.get("algorithm", self.algorithm)
        rp_id = (options.get("rp") or {}).get("id") or self.rp_id
        user_id = (options.get("user") or {}).get("id")
        user_handle = overrides.get(
            "user_handle", b64url_decode(user_id) if isinstance(user_id, str) else None)
        credential_id = overrides.get("credential_id", os.urandom(32))
        private_key = new_private_key(algorithm)
        credential = SoftCredential(credential_id, private_key, algorithm, user_handle, rp_id)
        sign_count = overrides.get("sign_count", 0)
        credential.sign_count = sign_count
        self.credentials[credential_id] = credential
        self.last_credential_id = credential_id

        aaguid = overrides.get("aaguid", self.aaguid)
        attested = (aaguid + struct.pack(">H", len(credential_id)) + credential_id
                    + cose_public_key(private_key, algorithm))
        auth_data = self._authenticator_data(overrides.get("rp_id", rp_id),
                                             self._flags(overrides, attested=True),
                                             sign_count, attested)
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(overrides, "webauthn.create", options["challenge"])
        response = {
            "clientDataJSON": b64url(client_data),
            "attestationObject": b64url(attestation_object),
            "transports": list(overrides.get("transports", self.transports)),
            "publicKeyAlgorithm": algorithm,
            "publicKey": b64url(cose_public_key(private_key, algorithm)),
            "authenticatorData": b64url(auth_data),
        }
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
        }

    def get(self, options: dict, *, credential_id: bytes | None = None, **overrides) -> dict:
        """An assertion response (toJSON()) to request ``options`` for ``credential_id``
        (default: the last created credential). The sign counter goes up by one unless
        ``sign_count`` forces a value."""
        credential = self.credentials[credential_id or self.last_credential_id]
        if "sign_count" in overrides:
            credential.sign_count = overrides["sign_count"]
        else:
            credential.sign_count += 1
        rp_id = options.get("rpId") or credential.rp_id
        auth_data = self._authenticator_data(overrides.get("rp_id", rp_id),
                                             self._flags(overrides, attested=False),
                                             credential.sign_count)
        client_data = self._client_data(overrides, "webauthn.get", options["challenge"])
        signature = overrides.get("signature") or sign(
            credential.private_key, credential.algorithm,
            auth_data + hashlib.sha256(client_data).digest())
        user_handle = overrides.get("user_handle", credential.user_handle)
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if user_handle is not None:
            response["userHandle"] = b64url(user_handle)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
        }
