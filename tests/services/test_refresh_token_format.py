"""security.refresh_tokens_v2: what a signed refresh token is made of, and what parse refuses
(the API tests check the same layout byte by byte against the database)."""

from __future__ import annotations

import base64
import uuid

import pytest

from gotrue_web.security import refresh_tokens_v2 as v2

SESSION = uuid.UUID("2b7e1516-28ae-4d2a-a6f7-158809cf4f3c")


@pytest.mark.parametrize("counter", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_a_token_parses_back_to_its_session_and_counter(counter):
    key = v2.new_session_key()
    token = v2.encode(SESSION, counter, key)
    parsed = v2.parse(token)
    assert (parsed.session_id, parsed.counter) == (SESSION, counter)
    assert v2.signed_by(parsed, key)
    assert not v2.signed_by(parsed, v2.new_session_key())
    assert not v2.signed_by(parsed, None)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_key_written_in_standard_base64_with_padding_is_the_same_key():
    key = v2.new_session_key()
    raw = base64.urlsafe_b64decode(key + "=")
    standard = base64.b64encode(raw).decode()
    assert v2.encode(SESSION, 7, key) == v2.encode(SESSION, 7, standard)


def test_counters_a_bigint_cannot_hold_are_not_made():
    with pytest.raises(ValueError):
        v2.encode(SESSION, 2**63, v2.new_session_key())
    with pytest.raises(ValueError):
        v2.encode(SESSION, -1, v2.new_session_key())


def _change_a_middle_character(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("B" if token[middle] != "B" else "C") + token[middle + 1:]


@pytest.mark.parametrize("make", [
    lambda token: "abcdefghijkl",                     # a classic token
    lambda token: token[:-1],                         # cut short
    lambda token: token + "A",                        # one character more
    lambda token: token + "==",                       # padded
    lambda token: token.replace("-", "+").replace("_", "/") if ("-" in token or "_" in token)
    else token[:10] + "+" + token[11:],               # standard base64 alphabet
    _change_a_middle_character,                       # checksum no longer matches
    lambda token: "é" * len(token),                   # not ASCII
])
def test_anything_else_is_not_a_signed_token(make):
    token = v2.encode(SESSION, 5, v2.new_session_key())
    assert v2.parse(make(token)) is None


def test_a_non_canonical_spelling_of_the_same_bytes_is_refused():
    token = v2.encode(SESSION, 5, v2.new_session_key())
    # 38 bytes in 51 base64 characters leave 2 unused low bits in the last one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    respelled = token[:-1] + alphabet[last | 1]
    assert respelled != token
    assert base64.urlsafe_b64decode(respelled + "==") == base64.urlsafe_b64decode(token + "==")
    assert v2.parse(respelled) is None
