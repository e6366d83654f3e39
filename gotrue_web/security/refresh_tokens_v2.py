"""GoTrue's second refresh-token format (SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2).

A token names its session and a counter, signed with a key of the session's own:
base64url (no padding) of 0x00 | the 16 bytes of the session id | the counter as an unsigned
varint | the first 16 bytes of HMAC-SHA256(session key, everything before) | the first 4 bytes
of SHA-256(everything before). Nothing per token is stored: the session keeps the key
(``sessions.refresh_token_hmac_key``) and its current counter (``refresh_token_counter``), and
a token is valid when its signature checks out under that key; how its counter compares with
the session's decides the rest (services.hot_paths.refresh_v2).

Unlike the classic tokens, of which only hashes are stored, whoever reads a session's key from
the database can make that session's tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

VERSION = 0
_KEY_BYTES = 32
_SIGNATURE_BYTES = 16
_CHECKSUM_BYTES = 4
# The counter is a bigint column.
_MAX_COUNTER = 2**63 - 1
_SHORTEST = 1 + 16 + 1 + _SIGNATURE_BYTES + _CHECKSUM_BYTES


@dataclass(frozen=True)
class ParsedToken:
    session_id: uuid.UUID
    counter: int
    signed: bytes  # version, session id and counter: what the signature covers
    signature: bytes


def new_session_key() -> str:
    """A session's signing key as the column stores it: 32 random bytes, base64url."""
    return _b64encode(secrets.token_bytes(_KEY_BYTES))


def encode(session_id: uuid.UUID, counter: int, key: str) -> str:
    """The token of ``session_id`` at ``counter``, signed with the session's ``key``."""
    signed = bytes([VERSION]) + session_id.bytes + _uvarint(counter)
    raw = signed + _signature(key, signed)
    return _b64encode(raw + hashlib.sha256(raw).digest()[:_CHECKSUM_BYTES])


def parse(token: str) -> ParsedToken | None:
    """The token's parts when it has this format (its checksum included), else None: a
    classic token (12 characters) or anything mistyped or made up. The signature is not
    checked here: that needs the session's key (signed_by)."""
    if len(token) < 4 * _SHORTEST // 3 or not token.isascii():
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    # One spelling per token: base64 with stray low bits decodes to the same bytes.
    if len(raw) < _SHORTEST or raw[0] != VERSION or _b64encode(raw) != token:
        return None
    body, checksum = raw[:-_CHECKSUM_BYTES], raw[-_CHECKSUM_BYTES:]
    if not hmac.compare_digest(hashlib.sha256(body).digest()[:_CHECKSUM_BYTES], checksum):
        return None
    signed, signature = body[:-_SIGNATURE_BYTES], body[-_SIGNATURE_BYTES:]
    counter = _read_uvarint(signed[17:])
    if counter is None:
        return None
    return ParsedToken(uuid.UUID(bytes=signed[1:17]), counter, signed, signature)


def signed_by(parsed: ParsedToken, key: str | None) -> bool:
    """Whether the session's ``key`` made this token (a constant-time comparison)."""
    if not key:
        return False
    return hmac.compare_digest(_signature(key, parsed.signed), parsed.signature)


def _signature(key: str, signed: bytes) -> bytes:
    return hmac.new(_key_bytes(key), signed, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _key_bytes(key: str) -> bytes:
    # Written base64url; standard base64 and padding are read as well.
    text = key.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _uvarint(number: int) -> bytes:
    """Seven bits per byte, low bits first, the high bit set on all but the last byte."""
    if not 0 <= number <= _MAX_COUNTER:
        raise ValueError("refresh token counter out of range")
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _read_uvarint(data: bytes) -> int | None:
    """The counter when ``data`` is exactly its shortest varint encoding, else None."""
    number = 0
    for position, byte in enumerate(data):
        number |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            if position != len(data) - 1 or number > _MAX_COUNTER:
                return None
            return number if _uvarint(number) == data else None
    return None
