"""Secrets encrypted in their column (GOTRUE_SECURITY_DB_ENCRYPTION_*): TOTP factor secrets and
the signing keys of signed refresh tokens.

An encrypted value is GoTrue's JSON {"key_id", "alg": "aes-gcm-hkdf", "data", "nonce"}: AES-256-GCM
under a key derived with HKDF-SHA256 from the configured key (no salt, the row's id as info),
so a value copied into another row does not open there. ``data`` and ``nonce`` are standard
base64, as Go writes bytes in JSON. A value that is not such JSON is plain text (written before
encryption was turned on) and is read as it is.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:  # settings sits above security: its DBEncryption is only a type here
    from ..settings.security import DBEncryption

ALGORITHM = "aes-gcm-hkdf"
_NONCE_BYTES = 12


class CannotDecrypt(Exception):
    """A stored value names a key this server was not given, or does not open under it. The
    message names the key id and the column's row, never the value."""


def seal(config: DBEncryption, row_id: str, plaintext: str) -> str:
    """What the column stores: ``plaintext`` encrypted when encryption is on, else itself."""
    if not config.encrypt:
        return plaintext
    nonce = os.urandom(_NONCE_BYTES)
    data = AESGCM(_row_key(config.key(config.key_id), row_id)).encrypt(
        nonce, plaintext.encode(), None)
    return json.dumps({"key_id": config.key_id, "alg": ALGORITHM,
                       "data": base64.b64encode(data).decode(),
                       "nonce": base64.b64encode(nonce).decode()}, separators=(",", ":"))


def unseal(config: DBEncryption, row_id: str, stored: str) -> str:
    """The plain value of a column ``seal`` wrote (encrypted or not, whatever the setting is
    now: values written before encryption was turned on, or after it was turned off, read)."""
    sealed = _sealed(stored)
    if sealed is None:
        return stored
    key_id, data, nonce = sealed
    key = config.key(key_id)
    if key is None:
        raise CannotDecrypt(f"no decryption key {key_id!r} is configured "
                            "(GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS)")
    try:
        return AESGCM(_row_key(key, row_id)).decrypt(nonce, data, None).decode()
    except (InvalidTag, UnicodeDecodeError, ValueError):
        raise CannotDecrypt(f"the value of row {row_id} does not open under key "
                            f"{key_id!r}") from None


def is_current(config: DBEncryption, stored: str) -> bool:
    """Whether ``stored`` is as ``seal`` would write it now: under the current key when
    encryption is on, plain text when it is off."""
    sealed = _sealed(stored)
    if not config.encrypt:
        return sealed is None
    return sealed is not None and sealed[0] == config.key_id


def _sealed(stored: str) -> tuple[str, bytes, bytes] | None:
    """(key id, ciphertext, nonce) of an encrypted value; None for plain text."""
    if not stored.startswith("{"):
        return None
    try:
        value = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("alg") != ALGORITHM:
        return None
    try:
        key_id, data, nonce = value["key_id"], value["data"], value["nonce"]
        return key_id, base64.b64decode(data, validate=True), base64.b64decode(nonce,
                                                                                validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise CannotDecrypt("an encrypted value is malformed") from None


def _row_key(key: bytes, row_id: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=row_id.encode()).derive(key)
