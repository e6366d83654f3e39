"""One-time codes, link secrets and refresh tokens: generation, their forms at rest, and
constant-time matching. No Flask, no database.

Wire format (GoTrue's): a link carries 56 lowercase hex characters, ``pkce_``-prefixed for a PKCE
flow; a code is ``MAILER_OTP_LENGTH`` digits; a refresh token is 12 characters of lowercase
base32. At rest nothing is stored that a database read could turn back into a working value:

- a link's token is 224 random bits, stored as its SHA-256 (``link_hash``);
- a code is stored as an HMAC keyed by a key derived from GOTRUE_JWT_SECRET (``code_digest``), so
  trying the 10^6 codes offline needs the key;
- a refresh token is stored as its SHA-256 (``refresh_token_hash``).

The ``pkce_`` marker is kept on the stored forms so that a PKCE flow is recognised from its row.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PKCE_PREFIX = "pkce_"
# 28 bytes: 56 hex characters, the length of GoTrue's SHA-224 token hash.
LINK_SECRET_BYTES = 28


def generate_otp(length: int) -> str:
    """Uniformly random decimal digits."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def token_hash(address: str, otp: str) -> str:
    """GoTrue's token hash: lowercase hex SHA-224 of the normalised address followed by the code.

    No longer a link token nor stored as such (it reverses in a second): it is what
    ``code_digest`` keys, and what links issued before gotrue-web's migration 0006 carry.
    """
    return hashlib.sha224((address + otp).encode()).hexdigest()


def _split_pkce(token: str) -> tuple[str, str]:
    if token.startswith(PKCE_PREFIX):
        return PKCE_PREFIX, token[len(PKCE_PREFIX):]
    return "", token


def new_link_secret() -> str:
    """A link's own random secret, shaped like GoTrue's token hash (56 lowercase hex)."""
    return secrets.token_hex(LINK_SECRET_BYTES)


def link_hash(token: str) -> str:
    """What one_time_tokens.token_hash stores for a link token: SHA-256 hex of it, keeping the
    ``pkce_`` marker in front. Only a hash: a database read gives no working link."""
    marker, secret = _split_pkce(token)
    return marker + hashlib.sha256(secret.encode()).hexdigest()


def pkce_link_token(redeem_token: str) -> str:
    """The token a PKCE flow's emailed link carries, derived one way from the flow's
    ``redeem_token`` (the TokenHash of templates and POST /verify's token_hash).

    GET /verify accepts both and answers with ``?code=``; POST /verify gives a session only for
    the redeem token, so a leaked link (history, logs, a proxy) cannot skip the code verifier.
    """
    _, secret = _split_pkce(redeem_token)
    return PKCE_PREFIX + hashlib.sha224(f"gotrue-web pkce link:{secret}".encode()).hexdigest()


def stored_link_forms(presented: str) -> dict[str, bool]:
    """The one_time_tokens.token_hash values a presented link token may match, each with
    whether that match may be redeemed without a PKCE code verifier.

    A plain flow's token matches its hash; a PKCE flow's link token matches the ``pkce_`` form
    (verifier needed); a PKCE flow's redeem token matches through its derived link token. As in
    GoTrue, the ``pkce_`` marker may be left off.
    """
    marker, secret = _split_pkce(presented)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    forms = {PKCE_PREFIX + digest: False, link_hash(pkce_link_token(secret)): True}
    if not marker:
        forms[digest] = True
    return forms


@functools.lru_cache(maxsize=8)
def code_key(jwt_secret: str) -> bytes:
    """The key of ``code_digest``, derived from GOTRUE_JWT_SECRET with HKDF (RFC 5869) so that it
    is independent of the JWT signatures and reveals nothing about the secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"gotrue-web one-time code digest").derive(jwt_secret.encode())


def code_digest(key: bytes, address: str, otp: str) -> str:
    """What the users column stores for a code: HMAC-SHA256 (hex) of GoTrue's token hash.

    Keying GoTrue's hash (rather than the code) lets migration 0006 convert the values stored
    before it without knowing the codes.
    """
    return hmac.new(key, token_hash(address, otp).encode(), hashlib.sha256).hexdigest()


def matches(stored: str | None, candidate: str) -> bool:
    """Constant-time comparison of a stored value (possibly ``pkce_``-prefixed) with a digest."""
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


def refresh_token_hash(token: str) -> str:
    """What refresh_tokens.token (and a child's parent) stores: SHA-256 hex of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_salt() -> str:
    """The random salt a child refresh token is derived from its parent with."""
    return secrets.token_hex(16)


def child_refresh_token(parent: str, salt: str) -> str:
    """The refresh token that replaces ``parent``: 12 base32 characters of HMAC(parent, salt).

    Only the hashes are stored, yet a client that lost the answer to its refresh (or a second
    tab refreshing at the same moment) must get the same child again: presenting the parent
    with the child row's salt gives it back. The salt alone (a database read) does not, and
    neither does the parent alone (a token stolen before it was rotated).
    """
    digest = hmac.new(parent.encode(), salt.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:LEGACY_REFRESH_TOKEN_LENGTH]


def random_password() -> str:
    """A password nobody knows, for users created without one (64 characters)."""
    return secrets.token_urlsafe(48)[:64]
