"""POST /token?grant_type=password (contract sections 3, 11 and 12; security.md B2 #6-#8)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import uuid
from datetime import datetime, timezone

import argon2
import bcrypt
import pytest
import sqlalchemy as sa
from argon2.low_level import Type, hash_secret
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gotrue_web.models import AuditLogEntry, Session

from ..conftest import api_for, table_rows
from ..factories import update_user, user_row, verified_claims

SESSION_KEYS = ["access_token", "token_type", "expires_in", "expires_at", "refresh_token",
                "user", "weak_password"]
INVALID = {"code": "invalid_credentials", "message": "Invalid login credentials"}


# --- success ----------------------------------------------------------------------------------


def test_login_returns_a_session_with_weak_password_null(app, api):
    user_id = api.session("login@example.com")["user"]["id"]
    response = api.login("login@example.com")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == SESSION_KEYS
    assert body["weak_password"] is None
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["user"]["id"] == user_id
    assert "last_sign_in_at" in body["user"]
    claims = verified_claims(body["access_token"])
    assert [entry["method"] for entry in claims["amr"]] == ["password"]
    assert abs(claims["exp"] - body["expires_at"]) <= 1
    # The signup session and the login session.
    user_sessions = sa.select(Session.id).where(Session.user_id == uuid.UUID(user_id))
    assert len(table_rows(app, user_sessions)) == 2
    actions = [row.payload["action"] for row in table_rows(
        app, sa.select(AuditLogEntry.payload).order_by(AuditLogEntry.created_at))]
    assert actions[-1] == "login"


def test_weak_password_under_stricter_rules_still_logs_in(make_app, api):
    api.session("weakling@example.com", "lowercase-only")
    strict = make_app(**{"mailer.autoconfirm": True, "password.min_length": 20,
                         "password.required_characters": ("0123456789",)})
    response = api_for(strict).post("/token?grant_type=password", json={
        "email": "weakling@example.com", "password": "lowercase-only"})
    assert response.status_code == 200
    weak = response.get_json()["weak_password"]
    assert list(weak) == ["message", "reasons"]
    assert weak["reasons"] == ["length", "characters"]
    assert "20 characters" in weak["message"]


def test_email_is_matched_case_insensitively(api):
    api.session("case@example.com")
    assert api.login("CASE@Example.COM").status_code == 200


def test_phone_login_ignores_plus_and_spaces(make_app):
    app = make_app(**{"external.phone_enabled": True, "sms.autoconfirm": True})
    client = api_for(app)
    assert client.post("/signup", json={"phone": "+15555550123",
                                        "password": "password-123"}).status_code == 200
    for phone in ("+15555550123", "1 555 555 0123", "15555550123"):
        response = client.post("/token?grant_type=password",
                               json={"phone": phone, "password": "password-123"})
        assert response.status_code == 200, phone
        assert response.get_json()["user"]["phone"] == "15555550123"


# --- failures ---------------------------------------------------------------------------------


def test_invalid_credentials_are_byte_identical(app, api):
    api.session("exists@example.com")
    api.session("nopassword@example.com")
    update_user(app, "nopassword@example.com", encrypted_password="")
    for headers in ({}, {"X-Supabase-Api-Version": "2024-01-01"}):
        responses = [
            api.client.post("/token?grant_type=password", headers=headers,
                            json={"email": email, "password": "password-123"})
            for email in ("nobody@example.com", "nopassword@example.com")
        ] + [api.client.post("/token?grant_type=password", headers=headers,
                             json={"email": "exists@example.com", "password": "wrong-one"})]
        assert {r.status_code for r in responses} == {400}
        assert len({r.get_data() for r in responses}) == 1
        assert {r.headers["x-sb-error-code"] for r in responses} == {"invalid_credentials"}
    assert responses[0].get_json() == INVALID


def test_unconfirmed_email_is_disclosed_only_to_the_right_password(make_app):
    app = make_app()
    client = api_for(app)
    assert client.post("/signup", json={"email": "unconfirmed@example.com",
                                        "password": "password-123"}).status_code == 200
    wrong = client.post("/token?grant_type=password", json={
        "email": "unconfirmed@example.com", "password": "not-it"})
    assert wrong.status_code == 400 and wrong.get_json() == INVALID
    right = client.post("/token?grant_type=password", json={
        "email": "unconfirmed@example.com", "password": "password-123"})
    assert right.status_code == 400
    assert right.get_json() == {"code": "email_not_confirmed", "message": "Email not confirmed"}
    assert table_rows(app, sa.select(Session.id)) == []


def test_ban_is_disclosed_only_to_the_right_password(app, api):
    user_id = api.session("banned@example.com")["user"]["id"]
    banned = api.admin("PUT", f"/admin/users/{user_id}", json={"ban_duration": "24h"})
    assert banned.status_code == 200
    sessions_before = len(table_rows(app, sa.select(Session.id)))
    wrong = api.login("banned@example.com", "not-it")
    assert wrong.status_code == 400 and wrong.get_json() == INVALID
    right = api.login("banned@example.com")
    assert right.status_code == 400
    assert right.get_json() == {"code": "user_banned", "message": "User is banned"}
    assert len(table_rows(app, sa.select(Session.id))) == sessions_before


def test_expired_ban_no_longer_blocks(app, api, rt):
    api.session("paroled@example.com")
    update_user(app, "paroled@example.com",
                banned_until=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert api.login("paroled@example.com").status_code == 200


@pytest.mark.parametrize("field, code", [("email", "email_provider_disabled"),
                                         ("phone", "phone_provider_disabled")])
def test_provider_off_is_422(make_app, settings, field, code):
    email_off = dataclasses.replace(settings.external.email, enabled=False)
    app = make_app(**{"external.email": email_off})
    value = "a@example.com" if field == "email" else "+15555550100"
    response = api_for(app).post("/token?grant_type=password",
                                 json={field: value, "password": "password-123"})
    assert response.status_code == 422
    assert response.get_json()["code"] == code


@pytest.mark.parametrize("body", [
    {"email": "a@example.com", "phone": "+15555550100", "password": "password-123"},
    {"password": "password-123"},
    {"email": "", "phone": "", "password": "password-123"},
])
def test_both_or_neither_address_is_400(api, body):
    response = api.post("/token?grant_type=password", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"


@pytest.mark.parametrize("query", ["", "?grant_type=", "?grant_type=client_credentials",
                                   "?grant_type=PASSWORD"])
def test_unsupported_grant_type(api, query):
    response = api.post("/token" + query, json={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    assert response.get_json() == {"code": "invalid_credentials",
                                   "message": "unsupported_grant_type"}


def test_overlong_password_is_refused_not_truncated(api):
    password = "p" * 72
    api.session("long@example.com", password)
    response = api.login("long@example.com", password + "extra")
    assert response.status_code == 400 and response.get_json() == INVALID


# --- imported hashes --------------------------------------------------------------------------


def _argon2_hash(password: str, variant: Type) -> str:
    return hash_secret(password.encode(), b"somesaltsomesalt", time_cost=1, memory_cost=64,
                       parallelism=1, hash_len=32, type=variant).decode()


def _fbscrypt_hash(password: str) -> str:
    salt, separator, signer_key = b"salt-of-sixteen!", b"\x01\x02", b"firebase signer key bytes"
    log_n, r, p = 12, 8, 1
    key = hashlib.scrypt(password.encode(), salt=salt + separator, n=1 << log_n, r=r, p=p,
                         dklen=32)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    digest = encryptor.update(signer_key) + encryptor.finalize()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return (f"$fbscrypt$v=1,n={log_n},r={r},p={p},ss={b64(separator)},sk={b64(signer_key)}"
            f"${b64(salt)}${b64(digest)}")


@pytest.mark.parametrize("kind", ["argon2id", "argon2i", "fbscrypt", "bcrypt-cost-5"])
def test_login_with_an_imported_hash(app, api, kind):
    password = "imported-secret"
    if kind == "argon2id":
        encoded = _argon2_hash(password, Type.ID)
    elif kind == "argon2i":
        encoded = _argon2_hash(password, Type.I)
    elif kind == "fbscrypt":
        encoded = _fbscrypt_hash(password)
    else:
        encoded = bcrypt.hashpw(password.encode(), bcrypt.gensalt(5, prefix=b"2a")).decode()
    created = api.admin("POST", "/admin/users", json={
        "email": f"{kind}@example.com", "password_hash": encoded, "email_confirm": True})
    assert created.status_code == 200, created.get_data(as_text=True)
    assert api.login(f"{kind}@example.com", password).status_code == 200
    wrong = api.login(f"{kind}@example.com", password + "!")
    assert wrong.status_code == 400 and wrong.get_json() == INVALID
    # Imported hashes are kept as they are, not re-hashed to bcrypt.
    assert user_row(app, f"{kind}@example.com").encrypted_password == encoded


def test_argon2_library_default_hash_logs_in(app, api):
    encoded = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw-123456")
    assert re.match(r"\$argon2id\$v=19\$m=1024,t=1,p=1\$", encoded)
    created = api.admin("POST", "/admin/users", json={
        "email": "argon-default@example.com", "password_hash": encoded, "email_confirm": True})
    assert created.status_code == 200
    assert api.login("argon-default@example.com", "pw-123456").status_code == 200


# --- equal work for unknown users -------------------------------------------------------------


class _Counter:
    """Wraps a callable, counting calls and passing them through to the real one."""

    def __init__(self, real):
        self.real = real
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


def test_unknown_email_costs_one_bcrypt_check_like_a_wrong_password(app, api, rt, monkeypatch):
    api.session("real@example.com")
    api.session("hashless@example.com")
    update_user(app, "hashless@example.com", encrypted_password="")
    checks = _Counter(bcrypt.checkpw)
    monkeypatch.setattr(bcrypt, "checkpw", checks)
    burns = _Counter(rt.hasher.burn)
    monkeypatch.setattr(rt.hasher, "burn", burns)

    counts = {}
    for name, email, password in [("unknown", "ghost@example.com", "password-123"),
                                  ("wrong", "real@example.com", "wrong-password"),
                                  ("no-password", "hashless@example.com", "password-123")]:
        checks.calls = burns.calls = 0
        response = api.login(email, password)
        assert response.status_code == 400 and response.get_json() == INVALID
        counts[name] = (checks.calls, burns.calls)
    assert counts == {"unknown": (1, 1), "wrong": (1, 0), "no-password": (1, 1)}
