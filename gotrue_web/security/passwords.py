"""Password hashing, verification of imported hashes, and GoTrue's strength rules.

New hashes are bcrypt (``$2a$``, cost 10). Login also accepts hashes imported from elsewhere:
Argon2 (argon2i / argon2id PHC strings) and Firebase's modified scrypt. Those are not re-hashed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import ErrorCode, WeakPasswordError, bad_request

if TYPE_CHECKING:
    from ..settings import PasswordSettings

MAX_PASSWORD_BYTES = 72

# Bounds on imported hash parameters, so a crafted hash cannot make a login cost minutes.
_ARGON2_MAX_MEMORY_KIB = 1024 * 1024
_ARGON2_MAX_TIME = 20
_ARGON2_MAX_PARALLELISM = 16
_FBSCRYPT_MAX_LOG_N = 20
_FBSCRYPT_MAX_R = 32
_FBSCRYPT_MAX_P = 16
_FBSCRYPT_MAX_MEMORY = 1024 * 1024 * 1024

_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_ARGON2 = re.compile(
    r"\$(argon2i|argon2id)\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,10})"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)
_FBSCRYPT = re.compile(r"\$fbscrypt\$v=1,([^$]*)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsupportedHashError(ValueError):
    """The stored value is not a hash format this server can verify."""


def password_bytes(password: str) -> bytes:
    """UTF-8 of the password; lone surrogates (invalid UTF-16 in JSON) become U+FFFD as in Go."""
    return _LONE_SURROGATE.sub("\ufffd", password).encode()


def check_hash_format(encoded: str) -> None:
    """Raise UnsupportedHashError unless ``encoded`` is a hash login can verify."""
    if not isinstance(encoded, str):
        raise UnsupportedHashError("not a string")
    if encoded.startswith(("$2a$", "$2b$", "$2y$")):
        if not _BCRYPT.fullmatch(encoded):
            raise UnsupportedHashError("malformed bcrypt hash")
        return
    if encoded.startswith("$argon2"):
        _argon2_params(encoded)
        return
    if encoded.startswith("$fbscrypt$"):
        _fbscrypt_params(encoded)
        return
    raise UnsupportedHashError("unknown hash format")


def _argon2_params(encoded: str) -> tuple[int, int, int]:
    match = _ARGON2.fullmatch(encoded)
    if not match:
        raise UnsupportedHashError("malformed argon2 hash (argon2i or argon2id, v=19)")
    memory, time_cost, parallelism = (int(match.group(i)) for i in (2, 3, 4))
    if (memory > _ARGON2_MAX_MEMORY_KIB or time_cost > _ARGON2_MAX_TIME
            or parallelism > _ARGON2_MAX_PARALLELISM or min(memory, time_cost, parallelism) < 1):
        raise UnsupportedHashError("argon2 parameters out of bounds")
    return memory, time_cost, parallelism


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _fbscrypt_params(encoded: str) -> dict:
    match = _FBSCRYPT.fullmatch(encoded)
    if not match:
        raise UnsupportedHashError("malformed fbscrypt hash")
    params: dict[str, str] = {}
    for item in match.group(1).split(","):
        name, _, value = item.partition("=")
        if name not in ("n", "r", "p", "ss", "sk") or name in params:
            raise UnsupportedHashError(f"malformed fbscrypt hash: parameter {name!r}")
        params[name] = value
    try:
        log_n, r, p = (int(params[name]) for name in ("n", "r", "p"))
        separator = _b64decode(params.get("ss", ""))
        signer_key = _b64decode(params.get("sk", ""))
        salt = _b64decode(match.group(2))
        expected = _b64decode(match.group(3))
    except (KeyError, ValueError) as exc:
        raise UnsupportedHashError(f"malformed fbscrypt hash: {exc}") from None
    if not (1 <= log_n <= _FBSCRYPT_MAX_LOG_N and 1 <= r <= _FBSCRYPT_MAX_R
            and 1 <= p <= _FBSCRYPT_MAX_P):
        raise UnsupportedHashError("fbscrypt parameters out of bounds")
    n = 1 << log_n
    # What OpenSSL allocates for scrypt: the V array plus p blocks.
    memory = 128 * r * (n + 2) + 128 * r * p
    if memory > _FBSCRYPT_MAX_MEMORY:
        raise UnsupportedHashError("fbscrypt parameters out of bounds")
    return {"n": n, "r": r, "p": p, "separator": separator, "signer_key": signer_key,
            "salt": salt, "expected": expected, "memory": memory}


def _verify_fbscrypt(password: bytes, encoded: str) -> bool:
    """Firebase's scrypt: AES-256-CTR (zero IV) of the signer key under scrypt(pw, salt+sep)."""
    params = _fbscrypt_params(encoded)
    derived = hashlib.scrypt(
        password, salt=params["salt"] + params["separator"], n=params["n"], r=params["r"],
        p=params["p"], dklen=32, maxmem=params["memory"] + 1024 * 1024,
    )
    encryptor = Cipher(algorithms.AES(derived), modes.CTR(b"\x00" * 16)).encryptor()
    digest = encryptor.update(params["signer_key"]) + encryptor.finalize()
    return hmac.compare_digest(digest, params["expected"])


class PasswordHasher:
    """Hashes new passwords and verifies stored ones in roughly constant work."""

    def __init__(self, cost: int = 10):
        self.cost = cost
        self._argon2 = argon2.PasswordHasher()
        # Verified against when there is no real hash, so unknown users cost the same time.
        self._decoy = bcrypt.hashpw(b"decoy password", bcrypt.gensalt(cost, prefix=b"2a"))

    def hash(self, password: str) -> str:
        """A new ``$2a$`` bcrypt hash; 400 validation_failed over 72 bytes."""
        check_length_limit(password)
        salt = bcrypt.gensalt(self.cost, prefix=b"2a")
        return bcrypt.hashpw(password_bytes(password), salt).decode()

    def verify(self, password: str, encoded: str | None) -> bool:
        """True when ``password`` matches ``encoded``; never raises.

        Empty, unknown or malformed hashes burn one decoy bcrypt check and return False.
        """
        secret = password_bytes(password)
        if not encoded or not isinstance(encoded, str):
            self.burn(password)
            return False
        try:
            if encoded.startswith(("$2a$", "$2b$", "$2y$")):
                # bcrypt reads 72 bytes; longer input never matches (no silent truncation).
                if _BCRYPT.fullmatch(encoded) and len(secret) <= MAX_PASSWORD_BYTES:
                    return bcrypt.checkpw(secret, encoded.encode())
            elif encoded.startswith("$argon2"):
                _argon2_params(encoded)
                try:
                    return self._argon2.verify(encoded, secret)
                except VerifyMismatchError:
                    return False
            elif encoded.startswith("$fbscrypt$"):
                return _verify_fbscrypt(secret, encoded)
        except (ValueError, InvalidHashError, VerificationError):
            pass
        self.burn(password)
        return False

    def burn(self, password: str) -> None:
        """Spend the work of one bcrypt check without a real hash (no user enumeration)."""
        bcrypt.checkpw(password_bytes(password)[:MAX_PASSWORD_BYTES], self._decoy)


def check_length_limit(password: str) -> None:
    """bcrypt reads 72 bytes; longer passwords are refused rather than silently truncated."""
    if len(password_bytes(password)) > MAX_PASSWORD_BYTES:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"Password cannot be longer than {MAX_PASSWORD_BYTES} characters")


def weakness(password: str, rules: PasswordSettings) -> WeakPasswordError | None:
    """The weak_password error for ``password`` under ``rules``; None when strong enough."""
    reasons, messages = [], []
    if len(password) < rules.min_length:
        reasons.append("length")
        messages.append(f"Password should be at least {rules.min_length} characters.")
    for charset in rules.required_characters:
        if not any(char in charset for char in password):
            reasons.append("characters")
            messages.append("Password should contain at least one character of each: "
                            + ", ".join(rules.required_characters) + ".")
            break
    if reasons:
        return WeakPasswordError(" ".join(messages), reasons)
    return None


def check_strength(password: str, rules: PasswordSettings) -> None:
    """Raise 400 validation_failed over 72 bytes, else 422 weak_password with reasons.

    GoTrue's rules only: services check new passwords with services.password_checks, which adds
    the common-password list and the Pwned Passwords range API.
    """
    check_length_limit(password)
    error = weakness(password, rules)
    if error is not None:
        raise error
