"""GOTRUE_SECURITY_DB_ENCRYPTION_*: TOTP factor secrets and signed refresh tokens' session keys
are stored encrypted (GoTrue's aes-gcm-hkdf JSON), and read back under the current key, an older
one, or as plain text written before encryption was on.

The format is checked against AES-GCM and HKDF from the cryptography package directly, not
through the project's module."""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gotrue_web.models import Factor, Session
from gotrue_web.security import db_encryption
from gotrue_web.settings import SettingsError
from gotrue_web.settings.security import DBEncryption

from ..conftest import api_for, table_rows
from ..factories import verified_claims
from ..test_settings import load
from .mfa.support import app_now, challenged, enrolled_totp, signed_in, totp_code, verify

KEY_1, KEY_2 = os.urandom(32), os.urandom(32)


def _b64url(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def _encryption(key_id: str = "k1", key: bytes = KEY_1, *older: tuple[str, bytes]):
    return DBEncryption(encrypt=True, key_id=key_id, keys=((key_id, key), *older))


def _open_by_hand(stored: str, key: bytes, row_id: str) -> str:
    value = json.loads(stored)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=row_id.encode()).derive(key)
    return AESGCM(derived).decrypt(base64.b64decode(value["nonce"]),
                                   base64.b64decode(value["data"]), None).decode()


def _stored_secret(app, factor_id) -> str:
    return table_rows(app, sa.select(Factor.secret)
                      .where(Factor.id == uuid.UUID(factor_id)))[0][0]


def _verify_totp(api, app, token: str, factor: dict, secret: str):
    chal = challenged(api, token, factor["id"])
    return verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))


def test_a_totp_secret_is_stored_encrypted_and_verifies(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.db_encryption": _encryption()})
    api = api_for(app, service_role_token)
    token = signed_in(api)["access_token"]
    factor = enrolled_totp(api, token)
    secret = factor["totp"]["secret"]
    stored = _stored_secret(app, factor["id"])
    value = json.loads(stored)
    assert list(value) == ["key_id", "alg", "data", "nonce"]
    assert (value["key_id"], value["alg"]) == ("k1", "aes-gcm-hkdf")
    assert len(base64.b64decode(value["nonce"])) == 12
    assert secret not in stored
    assert _open_by_hand(stored, KEY_1, factor["id"]) == secret
    response = _verify_totp(api, app, token, factor, secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert verified_claims(response.get_json()["access_token"], clock_moved=True)["aal"] == \
        "aal2"


def test_plain_and_older_keys_values_still_open(make_app, service_role_token):
    """A factor enrolled before encryption (plain text), and one under a key since replaced
    (kept among the decryption keys), verify on a server encrypting under a new key."""
    before = make_app(**{"mailer.autoconfirm": True})
    old_key = make_app(**{"mailer.autoconfirm": True, "security.db_encryption": _encryption()})
    rotated = make_app(**{"mailer.autoconfirm": True,
                          "security.db_encryption": _encryption("k2", KEY_2, ("k1", KEY_1))})
    for enrolling in (before, old_key):
        api = api_for(enrolling, service_role_token)
        token = signed_in(api)["access_token"]
        factor = enrolled_totp(api, token)
        response = _verify_totp(api_for(rotated), rotated, token, factor,
                                factor["totp"]["secret"])
        assert response.status_code == 200, response.get_data(as_text=True)


def test_a_value_under_a_key_no_longer_configured_is_a_logged_500(make_app, caplog,
                                                                  service_role_token):
    enrolling = make_app(**{"mailer.autoconfirm": True,
                            "security.db_encryption": _encryption()})
    api = api_for(enrolling, service_role_token)
    token = signed_in(api)["access_token"]
    factor = enrolled_totp(api, token)
    without_k1 = make_app(**{"mailer.autoconfirm": True,
                             "security.db_encryption": _encryption("k2", KEY_2)})
    with caplog.at_level(logging.ERROR):
        response = _verify_totp(api_for(without_k1), without_k1, token, factor,
                                factor["totp"]["secret"])
    assert response.status_code == 500
    assert response.get_json()["code"] == "unexpected_failure"
    assert "no decryption key 'k1' is configured" in caplog.text
    assert factor["totp"]["secret"] not in caplog.text


def test_a_signed_sessions_key_is_stored_encrypted(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_algorithm_version": 2,
                      "security.db_encryption": _encryption()})
    api = api_for(app)
    first = api.session()
    session_id = verified_claims(first["access_token"])["session_id"]
    [(stored,)] = table_rows(app, sa.select(Session.refresh_token_hmac_key)
                             .where(Session.id == uuid.UUID(session_id)))
    assert json.loads(stored)["key_id"] == "k1"
    key = _open_by_hand(stored, KEY_1, session_id)
    assert len(base64.urlsafe_b64decode(key + "=")) == 32
    refreshed = api.refresh(first["refresh_token"])
    assert refreshed.status_code == 200
    # The token is signed with the decrypted key (layout: tests/api/test_refresh_tokens_v2.py).
    token = refreshed.get_json()["refresh_token"]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[1:17] == uuid.UUID(session_id).bytes
    assert db_encryption.unseal(_encryption(), session_id, stored) == key


def test_a_value_opens_only_in_its_own_row():
    config = _encryption()
    sealed = db_encryption.seal(config, "row-1", "JBSWY3DPEHPK3PXP")
    assert db_encryption.unseal(config, "row-1", sealed) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(db_encryption.CannotDecrypt):
        db_encryption.unseal(config, "row-2", sealed)
    # Off, values are written plain; what was encrypted still reads.
    off = DBEncryption(keys=(("k1", KEY_1),))
    assert db_encryption.seal(off, "row-1", "plain") == "plain"
    assert db_encryption.unseal(off, "row-1", sealed) == "JBSWY3DPEHPK3PXP"


# --- settings ------------------------------------------------------------------------------------


def _load(**variables):
    return load(**variables).security.db_encryption


def test_the_settings_are_read_as_gotrue_reads_them():
    assert _load() == DBEncryption()
    config = _load(GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPT="true",
                   GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY_ID="k2",
                   GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY=_b64url(KEY_2),
                   GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS=f"k1:{_b64url(KEY_1)}")
    assert (config.encrypt, config.key_id) == (True, "k2")
    assert (config.key("k1"), config.key("k2"), config.key("k3")) == (KEY_1, KEY_2, None)


@pytest.mark.parametrize(("variables", "message"), [
    ({"GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPT": "true"}, "ENCRYPT: needs"),
    ({"GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPT": "true",
      "GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY_ID": "k1",
      "GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY": _b64url(b"short")},
     "ENCRYPTION_KEY: a key is 32 bytes"),
    ({"GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS": _b64url(KEY_1)},
     "DECRYPTION_KEYS: expected id:key pairs"),
    ({"GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS": "k1:not-a-key"},
     "DECRYPTION_KEYS: a key is 32 bytes"),
])
def test_bad_settings_stop_start_up(variables, message):
    with pytest.raises(SettingsError, match=f"^GOTRUE_SECURITY_DB_ENCRYPTION_{message}") as err:
        _load(**variables)
    assert _b64url(KEY_1) not in str(err.value)


# --- flask --app wsgi reencrypt-secrets ----------------------------------------------------------


def _enrolled(app, service_role_token) -> tuple[str, dict]:
    api = api_for(app, service_role_token)
    token = signed_in(api)["access_token"]
    return token, enrolled_totp(api, token)


def test_reencrypt_moves_every_secret_to_the_current_key(make_app, service_role_token):
    plain_app = make_app(**{"mailer.autoconfirm": True})
    k1_app = make_app(**{"mailer.autoconfirm": True,
                         "security.refresh_token_algorithm_version": 2,
                         "security.db_encryption": _encryption()})
    enrolled = [_enrolled(plain_app, service_role_token), _enrolled(k1_app, service_role_token)]
    api_for(k1_app).session()  # a signed session, its key under k1
    rotating = make_app(**{"mailer.autoconfirm": True,
                           "security.db_encryption": _encryption("k2", KEY_2, ("k1", KEY_1))})
    result = rotating.test_cli_runner().invoke(args=["reencrypt-secrets"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "TOTP factor secrets: 2 rewritten under key k2, 0 already so",
        "signed session keys: 2 rewritten under key k2, 0 already so"]
    stored = [row[0] for row in table_rows(rotating, sa.select(Factor.secret))]
    stored += [row[0] for row in table_rows(rotating, sa.select(Session.refresh_token_hmac_key)
                                            .where(Session.refresh_token_hmac_key.is_not(None)))]
    assert len(stored) == 4 and {json.loads(value)["key_id"] for value in stored} == {"k2"}
    # Without k1 now: every factor still verifies.
    k2_only = make_app(**{"mailer.autoconfirm": True,
                          "security.db_encryption": _encryption("k2", KEY_2)})
    for token, factor in enrolled:
        response = _verify_totp(api_for(k2_only), k2_only, token, factor,
                                factor["totp"]["secret"])
        assert response.status_code == 200, response.get_data(as_text=True)
    again = rotating.test_cli_runner().invoke(args=["reencrypt-secrets"])
    assert again.output.splitlines()[0] == "TOTP factor secrets: 0 rewritten under key k2, " \
                                           "2 already so"


def test_reencrypt_with_encryption_off_writes_plain_text(make_app, service_role_token):
    k1_app = make_app(**{"mailer.autoconfirm": True, "security.db_encryption": _encryption()})
    _, factor = _enrolled(k1_app, service_role_token)
    off = make_app(**{"mailer.autoconfirm": True,
                      "security.db_encryption": DBEncryption(keys=(("k1", KEY_1),))})
    result = off.test_cli_runner().invoke(args=["reencrypt-secrets"])
    assert result.exit_code == 0, result.output
    assert "TOTP factor secrets: 1 rewritten as plain text, 0 already so" in result.output
    assert _stored_secret(off, factor["id"]) == factor["totp"]["secret"]


def test_reencrypt_without_the_old_key_stops_and_says_which(make_app, service_role_token):
    k1_app = make_app(**{"mailer.autoconfirm": True, "security.db_encryption": _encryption()})
    _, factor = _enrolled(k1_app, service_role_token)
    k2_only = make_app(**{"mailer.autoconfirm": True,
                          "security.db_encryption": _encryption("k2", KEY_2)})
    result = k2_only.test_cli_runner().invoke(args=["reencrypt-secrets"])
    assert result.exit_code == 1
    assert "no decryption key 'k1' is configured" in result.output
    assert json.loads(_stored_secret(k2_only, factor["id"]))["key_id"] == "k1"
