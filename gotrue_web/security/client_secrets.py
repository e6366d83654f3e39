"""OAuth client secrets of this server's authorization server: made, stored and checked.

A secret is base64url (no padding) of 32 random bytes, shown once (on create and regenerate);
only base64url (no padding) of its SHA-256 is stored, and presented secrets are compared with
that hash in constant time (spec idp-passkeys-web3.md section 1.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_client_secret() -> str:
    return _b64url(secrets.token_bytes(32))


def client_secret_hash(secret: str) -> str:
    return _b64url(hashlib.sha256(secret.encode("utf-8")).digest())


def client_secret_matches(presented: str, stored_hash: str | None) -> bool:
    if not stored_hash:
        return False
    return hmac.compare_digest(client_secret_hash(presented).encode("ascii"),
                               stored_hash.encode("ascii"))
