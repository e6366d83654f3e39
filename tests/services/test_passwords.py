"""Password hashing (api-contract section 11): bcrypt for new hashes; bcrypt, Argon2 and Firebase
scrypt accepted on login; the 72-byte cap and GoTrue's strength rules."""

from __future__ import annotations

import base64
import hashlib

import argon2
import bcrypt
import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gotrue_web.errors import GoTrueError, WeakPasswordError
from gotrue_web.security.passwords import (
    PasswordHasher,
    UnsupportedHashError,
    check_hash_format,
    check_length_limit,
    check_strength,
    weakness,
)
from gotrue_web.settings import PasswordSettings


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(4)


@pytest.fixture
def bcrypt_calls(monkeypatch):
    """Records every bcrypt.checkpw call (the real check still runs)."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


def b64_nopad(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def argon2_phc(password: str, *, variant: str = "argon2id", memory: int = 64, time_cost: int = 1,
               parallelism: int = 1, salt: bytes = b"saltsaltsalt") -> str:
    """A PHC string built by hand from the raw Argon2 output."""
    raw = hash_secret_raw(password.encode(), salt, time_cost=time_cost, memory_cost=memory,
                          parallelism=parallelism, hash_len=32,
                          type=Type.ID if variant == "argon2id" else Type.I)
    return (f"${variant}$v=19$m={memory},t={time_cost},p={parallelism}"
            f"${b64_nopad(salt)}${b64_nopad(raw)}")


def fbscrypt(password: str, *, salt: bytes, separator: bytes, signer_key: bytes, log_n: int,
             r: int, p: int) -> str:
    """The contract's algorithm: AES-256-CTR (zero IV) of the signer key, keyed by scrypt."""
    key = hashlib.scrypt(password.encode(), salt=salt + separator, n=2 ** log_n, r=r, p=p,
                         dklen=32)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    digest = encryptor.update(signer_key) + encryptor.finalize()
    params = f"n={log_n},r={r},p={p}"
    if separator:
        params += f",ss={base64.b64encode(separator).decode()}"
    params += f",sk={base64.b64encode(signer_key).decode()}"
    return (f"$fbscrypt$v=1,{params}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


# --- bcrypt -----------------------------------------------------------------------------------


def test_new_hashes_are_bcrypt_2a_at_cost_10():
    hasher = PasswordHasher(10)
    encoded = hasher.hash("correct horse battery staple")
    assert encoded.startswith("$2a$10$") and len(encoded) == 60
    assert hasher.verify("correct horse battery staple", encoded)
    assert not hasher.verify("correct horse battery stapler", encoded)


def test_the_configured_cost_is_used(hasher):
    assert hasher.hash("password-123").startswith("$2a$04$")


def test_each_hash_has_its_own_salt(hasher):
    assert hasher.hash("same password") != hasher.hash("same password")


@pytest.mark.parametrize("cost", [4, 5, 6])
@pytest.mark.parametrize("prefix", [b"2a", b"2b"])
def test_bcrypt_of_any_cost_verifies(hasher, cost, prefix):
    encoded = bcrypt.hashpw(b"imported password", bcrypt.gensalt(cost, prefix=prefix)).decode()
    assert hasher.verify("imported password", encoded)
    assert not hasher.verify("imported passworD", encoded)


def test_bcrypt_2y_verifies(hasher):
    encoded = bcrypt.hashpw(b"php password", bcrypt.gensalt(4)).decode()
    encoded = "$2y$" + encoded[4:]
    assert hasher.verify("php password", encoded)
    assert not hasher.verify("php passwordx", encoded)


# --- Argon2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", [Type.I, Type.ID])
def test_argon2_from_argon2_cffi_verifies(hasher, variant):
    encoded = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1,
                                    type=variant).hash("argon password")
    assert encoded.startswith("$argon2i$" if variant is Type.I else "$argon2id$")
    assert hasher.verify("argon password", encoded)
    assert not hasher.verify("argon passwore", encoded)


@pytest.mark.parametrize("variant", ["argon2i", "argon2id"])
def test_hand_built_argon2_phc_string_verifies(hasher, variant):
    encoded = argon2_phc("hand built", variant=variant, memory=32, time_cost=2,
                         parallelism=2, salt=b"0123456789abcdef")
    salt, digest = encoded.split("$")[-2:]
    assert "=" not in salt + digest  # unpadded standard base64
    assert encoded.startswith(f"${variant}$v=19$m=32,t=2,p=2$")
    check_hash_format(encoded)
    assert hasher.verify("hand built", encoded)
    assert not hasher.verify("hand builT", encoded)


@pytest.mark.parametrize(("field", "params"), [
    ("t", {"time_cost": 21}),
    ("p", {"parallelism": 17, "memory": 8 * 17}),
])
def test_argon2_parameters_over_the_bounds_are_refused(hasher, field, params):
    # Genuine, cheap hashes: only the bounds stop them from verifying.
    encoded = argon2_phc("bounded", **params)
    with pytest.raises(UnsupportedHashError, match="out of bounds"):
        check_hash_format(encoded)
    assert not hasher.verify("bounded", encoded)


def test_argon2_at_the_bounds_is_accepted_by_format():
    check_hash_format(argon2_phc("x", time_cost=20, parallelism=16, memory=8 * 16))
    within = argon2_phc("x").replace("m=64,", "m=1048576,")
    check_hash_format(within)


def test_argon2_memory_over_1_gib_is_refused_without_the_work(hasher, monkeypatch):
    encoded = argon2_phc("x").replace("m=64,", "m=1048577,")
    with pytest.raises(UnsupportedHashError, match="out of bounds"):
        check_hash_format(encoded)
    argon2_calls = []
    monkeypatch.setattr(argon2.PasswordHasher, "verify",
                        lambda *args: argon2_calls.append(args))
    assert not hasher.verify("x", encoded)
    assert argon2_calls == []


# --- Firebase scrypt --------------------------------------------------------------------------

# The sample published with github.com/firebase/scrypt (rounds 8, mem_cost 14).
FIREBASE_SAMPLE = (
    "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,"
    "sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
    "$42xEC+ixf3L2lw=="
    "$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
)


def test_firebase_published_sample_verifies(hasher):
    check_hash_format(FIREBASE_SAMPLE)
    assert hasher.verify("user1password", FIREBASE_SAMPLE)
    assert not hasher.verify("user2password", FIREBASE_SAMPLE)


@pytest.mark.parametrize(("log_n", "r", "p", "separator"), [
    (10, 4, 1, b""),
    (12, 8, 2, b"\x07"),
    (8, 1, 1, b"sep"),
])
def test_fbscrypt_parameters_are_honoured(hasher, log_n, r, p, separator):
    encoded = fbscrypt("fire password", salt=b"salty-salt", separator=separator,
                       signer_key=b"k" * 64, log_n=log_n, r=r, p=p)
    assert hasher.verify("fire password", encoded)
    assert not hasher.verify("fire passworD", encoded)
    # The same hash read with other parameters no longer matches.
    tampered = encoded.replace(f"n={log_n},", f"n={log_n + 1},")
    assert not hasher.verify("fire password", tampered)


def test_fbscrypt_over_the_memory_bound_is_refused(hasher):
    encoded = FIREBASE_SAMPLE.replace("n=14,r=8,p=1", "n=20,r=16,p=1")
    with pytest.raises(UnsupportedHashError, match="out of bounds"):
        check_hash_format(encoded)
    assert not hasher.verify("user1password", encoded)


# --- malformed and unknown hashes -------------------------------------------------------------

MALFORMED = [
    "",
    "plaintext",
    "$2a$10$tooshort",
    "$2a$99$" + "a" * 53,
    "$2a$10$" + "é" * 53,
    "$2x$10$" + "a" * 53,
    "$argon2id$v=19$m=abc,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
    "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    "$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2g",  # padded
    "$argon2id$v=19$m=64,t=1,p=1,keyid=x$c2FsdHNhbHQ$aGFzaGhhc2g",
    "$fbscrypt$v=1,n=14,r=8$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=2,n=14,r=8,p=1$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=1,n=14,r=8,p=1,sk=!!!$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=1,n=14,r=8,p=1,xx=1$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=1,n=14,r=8,p=1,p=2$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=1,n=0,r=8,p=1$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=1,n=99,r=8,p=1$c2FsdA==$aGFzaA==",
    "$fbscrypt$v=1,n=14,r=8,p=1$c2Fs*A==$aGFzaA==",
    '{"key_id":"k1","alg":"aes-gcm-hkdf","data":"x","nonce":"y"}',
    "\x00\x01",
]


# Well-formed strings whose parameters Argon2 itself rejects.
ARGON2_REJECTS = [
    "$argon2id$v=19$m=1,t=1,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",  # m below 8*p
    "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2g",  # salt too short
]


@pytest.mark.parametrize("encoded", MALFORMED + ARGON2_REJECTS)
def test_malformed_hashes_never_raise_from_verify(hasher, bcrypt_calls, encoded):
    assert hasher.verify("password", encoded) is False
    # The failure still costs one bcrypt check, like a real one.
    assert len(bcrypt_calls) == 1


@pytest.mark.parametrize("encoded", MALFORMED)
def test_check_hash_format_refuses_malformed(encoded):
    with pytest.raises(UnsupportedHashError):
        check_hash_format(encoded)


def test_check_hash_format_accepts_what_login_verifies(hasher):
    check_hash_format(hasher.hash("x"))
    check_hash_format("$2y$" + bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()[4:])
    check_hash_format(argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("x"))
    check_hash_format(FIREBASE_SAMPLE)


def test_verify_without_a_hash_is_false(hasher, bcrypt_calls):
    assert hasher.verify("password", None) is False
    assert hasher.verify("password", "") is False
    assert len(bcrypt_calls) == 2


# --- burn: the cost of a check without a hash --------------------------------------------------


def test_burn_does_one_bcrypt_check_at_the_configured_cost(bcrypt_calls):
    hasher = PasswordHasher(5)
    hasher.burn("anything")
    assert len(bcrypt_calls) == 1
    assert bcrypt_calls[0].startswith(b"$2a$05$")


def test_burn_accepts_long_and_odd_passwords(hasher, bcrypt_calls):
    hasher.burn("x" * 500)
    hasher.burn("\ud800 lone surrogate")
    assert len(bcrypt_calls) == 2


def test_a_real_bcrypt_verify_is_one_check(hasher, bcrypt_calls):
    encoded = hasher.hash("password-123")
    assert hasher.verify("password-123", encoded)
    assert not hasher.verify("password-124", encoded)
    assert len(bcrypt_calls) == 2


# --- the 72-byte limit ------------------------------------------------------------------------


@pytest.mark.parametrize("password", [
    "a" * 72, "é" * 36, "日" * 24, "😀" * 18, "\ud800" * 24,
])
def test_up_to_72_bytes_is_accepted(hasher, password):
    check_length_limit(password)
    check_strength(password, PasswordSettings())
    assert hasher.verify(password, hasher.hash(password))


@pytest.mark.parametrize("password", [
    "a" * 73, "é" * 37, "日" * 25, "😀" * 19, "a" * 71 + "é", "\ud800" * 25,
])
def test_over_72_bytes_is_validation_failed(hasher, password):
    for check in (check_length_limit, lambda p: check_strength(p, PasswordSettings()),
                  hasher.hash):
        with pytest.raises(GoTrueError) as raised:
            check(password)
        assert (raised.value.status, raised.value.error_code) == (400, "validation_failed")
        assert raised.value.message == "Password cannot be longer than 72 characters"


def test_no_silent_truncation(hasher):
    long_password = "p" * 72 + "-and-more"
    stored = hasher.hash("p" * 72)
    assert hasher.verify("p" * 72, stored)
    assert not hasher.verify(long_password, stored)


def test_lone_surrogates_hash_and_verify(hasher):
    stored = hasher.hash("pass\ud800word")
    assert hasher.verify("pass\ud800word", stored)
    assert not hasher.verify("pass\ud801word-", stored)


# --- strength rules ---------------------------------------------------------------------------


def test_strong_enough_password_has_no_weakness():
    assert weakness("password-123", PasswordSettings()) is None


def test_too_short():
    error = weakness("short", PasswordSettings(min_length=8))
    assert isinstance(error, WeakPasswordError)
    assert (error.status, error.error_code) == (422, "weak_password")
    assert error.reasons == ["length"]
    assert error.message == "Password should be at least 8 characters."


def test_length_counts_characters_not_bytes():
    assert weakness("日本語日本語", PasswordSettings(min_length=6)) is None
    assert weakness("日本", PasswordSettings(min_length=6)).reasons == ["length"]


def test_missing_required_characters():
    rules = PasswordSettings(required_characters=("abc", "0123456789"))
    error = weakness("abcabcabc", rules)
    assert error.reasons == ["characters"]
    assert error.message == (
        "Password should contain at least one character of each: abc, 0123456789.")
    assert weakness("abc123", rules) is None


def test_both_reasons_in_order():
    rules = PasswordSettings(min_length=10, required_characters=("ABC", ":"))
    error = weakness("abc", rules)
    assert error.reasons == ["length", "characters"]
    assert error.message == ("Password should be at least 10 characters. "
                             "Password should contain at least one character of each: ABC, :.")


def test_check_strength_raises_the_weakness():
    with pytest.raises(WeakPasswordError) as raised:
        check_strength("12345", PasswordSettings())
    assert raised.value.reasons == ["length"]
    check_strength("123456", PasswordSettings())
