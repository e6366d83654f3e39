"""One-time codes and link tokens: generation, GoTrue's hashing and constant-time matching.

Wire format: a link's token is the lowercase hex SHA-224 of the normalised address followed by
the code; ``pkce_`` marks tokens of a PKCE flow. Also the PKCE verifier check and the refresh
token and random password formats. No Flask, no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PKCE_PREFIX = "pkce_"


def generate_otp(length: int) -> str:
    """Uniformly random decimal digits."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def token_hash(address: str, otp: str) -> str:
    """Lowercase hex SHA-224 of the normalised address followed by the code (56 characters)."""
    return hashlib.sha224((address + otp).encode()).hexdigest()


def matches(stored: str | None, candidate: str) -> bool:
    """Constant-time comparison of a stored token (possibly ``pkce_``-prefixed) with a hash."""
    if not stored or not candidate:
        return False
    plain = stored[len(PKCE_PREFIX):] if stored.startswith(PKCE_PREFIX) else stored
    return hmac.compare_digest(plain.encode(), candidate.encode()) or hmac.compare_digest(
        stored.encode(), candidate.encode())


def pkce_verifier_matches(method: str, challenge: str, verifier: str) -> bool:
    """RFC 7636: ``verifier`` hashed by ``method`` ("s256" or "plain") equals ``challenge``."""
    if method == "s256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed.encode(), challenge.encode())


_REFRESH_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
LEGACY_REFRESH_TOKEN_LENGTH = 12


def new_refresh_token() -> str:
    """12 random characters of lowercase base32, GoTrue's legacy refresh-token format."""
    return "".join(secrets.choice(_REFRESH_TOKEN_ALPHABET)
                   for _ in range(LEGACY_REFRESH_TOKEN_LENGTH))


def random_password() -> str:
    """A password nobody knows, for users created without one (64 characters)."""
    return secrets.token_urlsafe(48)[:64]
