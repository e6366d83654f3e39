"""The stored form of a custom provider's client_secret: AES-256-GCM under a key HKDF derives
from GOTRUE_JWT_SECRET, so a database read alone gives no usable secret.

Format: ``v1:`` + base64url(12-byte nonce + ciphertext and tag). Changing GOTRUE_JWT_SECRET
makes the stored secrets unreadable: the providers must then be given their secrets again
(PUT /admin/custom-providers/<identifier> with client_secret).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v1:"
# Binds a ciphertext to this column: it cannot be replayed where another secret is expected.
_ASSOCIATED = b"custom_oauth_providers.client_secret"


class UnreadableSecret(Exception):
    """The stored value was not sealed with the current key (or was tampered with)."""


def _key(jwt_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"gotrue-web custom oauth client secret").derive(jwt_secret.encode())


def seal(jwt_secret: str, plain: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(jwt_secret)).encrypt(nonce, plain.encode(), _ASSOCIATED)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(jwt_secret: str, stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise UnreadableSecret("unknown format")
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX):].encode())
        return AESGCM(_key(jwt_secret)).decrypt(raw[:12], raw[12:], _ASSOCIATED).decode()
    except (InvalidTag, ValueError) as exc:
        raise UnreadableSecret("cannot decrypt") from exc
