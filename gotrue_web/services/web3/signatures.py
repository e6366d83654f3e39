"""Wallet signatures of a sign-in message (spec idp-passkeys-web3.md sections 3.3 rows 5 and 7,
and 3.4), on maintained libraries: ``cryptography`` for ed25519, ``base58`` for Solana
addresses, ``coincurve`` (libsecp256k1) for recovering an Ethereum key and ``pycryptodome`` for
keccak-256 (hashlib's sha3_256 is the NIST padding, not Ethereum's keccak).

Two steps, as GoTrue takes them: the signature's shape is checked before the message is parsed
(SignatureFormatError, a 400 validation_failed), and whether it signs the message for the
address afterwards (a bool; False is OAuth invalid_grant). Whatever a malformed key or
signature makes a library raise is a False here, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import re

import base58
import coincurve
from Crypto.Hash import keccak
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SOLANA_SIGNATURE_BYTES = 64
ETHEREUM_SIGNATURE_HEX = 130
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEX = re.compile(r"[0-9a-fA-F]*")
# What a Ledger signs instead of the bare message: Solana's off-chain message, header version 0
# (signing domain, version, application domain, format, signers, length, then the message).
_LEDGER_SIGNING_DOMAIN = b"\xffsolana offchain"
_LEDGER_MAX_MESSAGE = 0xFFFF


class SignatureFormatError(ValueError):
    """A signature of the wrong shape; str() is GoTrue's message."""


# --- Solana -------------------------------------------------------------------------------------


def decode_solana_signature(signature: str) -> bytes:
    """The 64 bytes of a base64 signature, standard or URL alphabet, padded or not."""
    if len(signature) not in (86, 88):
        raise SignatureFormatError(
            "signature must be 64 bytes encoded as base64 with or without padding")
    url_form = signature.rstrip("=").replace("+", "-").replace("/", "_")
    if not _BASE64URL.fullmatch(url_form):
        raise SignatureFormatError("signature does not contain valid base64 characters")
    try:
        raw = base64.urlsafe_b64decode(url_form + "=" * (-len(url_form) % 4))
    except (binascii.Error, ValueError):
        raise SignatureFormatError(
            "signature does not contain valid base64 characters") from None
    if len(raw) != SOLANA_SIGNATURE_BYTES:
        raise SignatureFormatError(
            "signature must be 64 bytes encoded as base64 with or without padding")
    return raw


def solana_signed(address: str, domain: str, message: str, signature: bytes) -> bool:
    """True when the address's ed25519 key signed the message, bare or in the Ledger's
    off-chain envelope. An address that is not a 32-byte key is False (GoTrue panics)."""
    try:
        public_bytes = base58.b58decode(address)
        key = Ed25519PublicKey.from_public_bytes(public_bytes)
    except ValueError:
        return False
    text = message.encode()
    if _ed25519_verifies(key, signature, text):
        return True
    if len(text) > _LEDGER_MAX_MESSAGE:
        return False
    envelope = (_LEDGER_SIGNING_DOMAIN + b"\x00"  # header version 0
                + domain.encode()[:32].ljust(32, b"\x00")
                + b"\x00"  # message format: restricted ASCII
                + b"\x01"  # one signer
                + public_bytes + len(text).to_bytes(2, "little") + text)
    return _ed25519_verifies(key, signature, envelope)


def _ed25519_verifies(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Ethereum -----------------------------------------------------------------------------------


def check_ethereum_signature(signature: str) -> None:
    """65 bytes in hex (r, s, v), after one optional "0x"."""
    digits = signature[2:] if signature.startswith("0x") else signature
    if len(digits) != ETHEREUM_SIGNATURE_HEX:
        raise SignatureFormatError("signature must be 65 bytes long, encoded as a 130 "
                                   "character-long hexadecimal string")


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def personal_message_hash(message: bytes) -> bytes:
    """EIP-191's hash of a personal_sign message."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def ethereum_signer(message: str, signature: str) -> str | None:
    """The address ("0x" + 40 lower-case hex) whose key made this EIP-191 signature, or None.
    The signature must carry its "0x" (GoTrue decodes it with hexutil)."""
    digits = signature[2:]
    if not signature.startswith("0x") or not _HEX.fullmatch(digits):
        return None
    raw = bytes.fromhex(digits)
    if len(raw) != 65:
        return None
    recovery = raw[64] - 27 if raw[64] >= 27 else raw[64]
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            raw[:64] + bytes([recovery]), personal_message_hash(message.encode()), hasher=None)
    except (ValueError, TypeError):
        return None
    return "0x" + keccak256(public.format(compressed=False)[1:])[-20:].hex()


def ethereum_signed(address: str, message: str, signature: str) -> bool:
    """True when the address (any letter case) signed the message."""
    signer = ethereum_signer(message, signature)
    return signer is not None and signer == address.lower()
