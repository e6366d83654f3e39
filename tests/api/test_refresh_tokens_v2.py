"""Signed refresh tokens (GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2), through the API.

The layout is checked byte by byte here, independently of security.refresh_tokens_v2: 0x00,
the session id, the counter as a varint, 16 bytes of HMAC-SHA256 under the session's key and a
4-byte SHA-256 checksum, base64url without padding. Then the counter rules of contract section 6
against the session row, sessions that keep their kind when the setting changes, MFA's +2, and
requests racing with the same token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry, RefreshToken, Session

from ..conftest import api_for, table_rows
from ..factories import PASSWORD, create_user, freeze_clock, sign_in, unique_email, verified_claims
from .mfa.support import verified_totp

V2 = {"mailer.autoconfirm": True, "security.refresh_token_algorithm_version": 2}
ALREADY_USED = {"code": "refresh_token_already_used",
                "message": "Invalid Refresh Token: Already Used"}
NOT_FOUND = {"code": "refresh_token_not_found",
             "message": "Invalid Refresh Token: Refresh Token Not Found"}


@pytest.fixture
def app(make_app):
    return make_app(**V2)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _key(stored: str) -> bytes:
    return base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))


def _token(session_id: uuid.UUID, counter_varint: bytes, key: bytes) -> str:
    """A token built by hand from the contract's layout."""
    signed = b"\x00" + session_id.bytes + counter_varint
    body = signed + hmac.new(key, signed, hashlib.sha256).digest()[:16]
    return _b64(body + hashlib.sha256(body).digest()[:4])


def _session_row(app, session_id: uuid.UUID):
    rows = table_rows(app, sa.select(Session).where(Session.id == session_id))
    return rows[0][0] if rows else None


def _session_id(body: dict) -> uuid.UUID:
    return uuid.UUID(verified_claims(body["access_token"], clock_moved=True)["session_id"])


def _token_rows(app) -> list:
    return table_rows(app, sa.select(RefreshToken.id))


def _actions(app) -> list[str]:
    return [row.payload["action"] for row in table_rows(
        app, sa.select(AuditLogEntry.payload).order_by(AuditLogEntry.created_at))]


def _refreshed_once(app):
    """A signed session refreshed once, on a stopped clock: (api, clock, session id, the first
    token, the second session JSON)."""
    api = api_for(app)
    clock = freeze_clock(app)
    first = api.session()
    second = api.refresh(first["refresh_token"]).get_json()
    return api, clock, _session_id(first), first["refresh_token"], second


def test_a_sign_up_session_gets_a_signed_token_and_no_token_row(app, api):
    body = api.session()
    session_id = _session_id(body)
    row = _session_row(app, session_id)
    assert row.refresh_token_counter == 1
    key = _key(row.refresh_token_hmac_key)
    assert len(key) == 32
    raw = base64.urlsafe_b64decode(body["refresh_token"] + "=" * (-len(body["refresh_token"]) % 4))
    assert raw[0] == 0
    assert raw[1:17] == session_id.bytes
    assert raw[17:18] == b"\x01"
    assert raw[18:34] == hmac.new(key, raw[:18], hashlib.sha256).digest()[:16]
    assert raw[34:] == hashlib.sha256(raw[:34]).digest()[:4]
    assert len(raw) == 38 and "=" not in body["refresh_token"]
    assert body["refresh_token"] == _token(session_id, b"\x01", key)
    assert _token_rows(app) == []


def test_a_password_sign_in_gets_a_signed_token_and_no_token_row(app, service_role_token):
    api = api_for(app, service_role_token)
    email = unique_email("v2")
    create_user(api, email, password=PASSWORD)
    body = sign_in(api, email)
    row = _session_row(app, _session_id(body))
    assert row.refresh_token_counter == 1
    assert body["refresh_token"] == _token(row.id, b"\x01", _key(row.refresh_token_hmac_key))
    assert _token_rows(app) == []
    # Every session has a key of its own.
    other = sign_in(api, email)
    assert (_session_row(app, _session_id(other)).refresh_token_hmac_key
            != row.refresh_token_hmac_key)


def test_a_refresh_moves_the_counter_on(app, api):
    clock = freeze_clock(app)
    first = api.session()
    session_id = _session_id(first)
    key = _key(_session_row(app, session_id).refresh_token_hmac_key)
    clock.advance(minutes=5)
    response = api.post("/token?grant_type=refresh_token",
                        json={"refresh_token": first["refresh_token"]},
                        headers={"User-Agent": "refreshing-agent/2.0"})
    assert response.status_code == 200, response.get_data(as_text=True)
    second = response.get_json()
    assert second["refresh_token"] == _token(session_id, b"\x02", key)
    assert _session_id(second) == session_id
    row = _session_row(app, session_id)
    assert row.refresh_token_counter == 2
    assert row.refreshed_at == clock.now
    assert row.user_agent == "refreshing-agent/2.0"
    assert _actions(app)[-1] == "token_refreshed"
    third = api.refresh(second["refresh_token"])
    assert third.status_code == 200
    assert third.get_json()["refresh_token"] == _token(session_id, b"\x03", key)
    assert _session_row(app, session_id).refresh_token_counter == 3
    assert _token_rows(app) == []


def test_the_token_just_behind_after_the_reuse_interval_deletes_the_session(app):
    api, clock, session_id, first, second = _refreshed_once(app)
    clock.advance(seconds=1)
    reuse = api.refresh(first)
    assert reuse.status_code == 400
    assert reuse.get_json() == ALREADY_USED
    assert _session_row(app, session_id) is None
    assert _actions(app)[-1] == "token_revoked"
    # The session is gone: its newest token names nothing any more.
    after = api.refresh(second["refresh_token"])
    assert after.status_code == 400
    assert after.get_json() == NOT_FOUND


def test_within_the_reuse_interval_the_token_behind_gets_the_current_token_again(make_app):
    app = make_app(**V2, **{"security.refresh_token_reuse_interval": 10})
    api, clock, session_id, first, second = _refreshed_once(app)
    clock.advance(seconds=5)
    again = api.refresh(first)
    assert again.status_code == 200
    assert again.get_json()["refresh_token"] == second["refresh_token"]
    assert _session_row(app, session_id).refresh_token_counter == 2
    # Two behind is never re-issued, even inside the interval.
    third = api.refresh(second["refresh_token"]).get_json()
    assert api.refresh(first).get_json() == ALREADY_USED
    assert _session_row(app, session_id) is None
    assert api.refresh(third["refresh_token"]).get_json() == NOT_FOUND


def test_allow_reuse_re_issues_the_token_behind_and_never_deletes(make_app):
    app = make_app(**V2, **{"security.refresh_token_allow_reuse": True})
    api, clock, session_id, first, second = _refreshed_once(app)
    clock.advance(hours=1)
    assert api.refresh(first).get_json()["refresh_token"] == second["refresh_token"]
    third = api.refresh(second["refresh_token"]).get_json()
    old = api.refresh(first)
    assert old.status_code == 400 and old.get_json() == ALREADY_USED
    assert _session_row(app, session_id).refresh_token_counter == 3
    assert api.refresh(third["refresh_token"]).status_code == 200


def test_rotation_disabled_refuses_an_old_token_and_keeps_the_session(make_app):
    app = make_app(**V2, **{"security.refresh_token_rotation_enabled": False})
    api, clock, session_id, first, second = _refreshed_once(app)
    clock.advance(seconds=1)
    assert api.refresh(first).get_json() == ALREADY_USED
    assert _session_row(app, session_id).refresh_token_counter == 2
    assert api.refresh(second["refresh_token"]).status_code == 200


def test_a_counter_ahead_of_the_session_is_not_found(app, api):
    first = api.session()
    session_id = _session_id(first)
    key = _key(_session_row(app, session_id).refresh_token_hmac_key)
    response = api.refresh(_token(session_id, b"\x05", key))
    assert response.status_code == 400
    assert response.get_json() == NOT_FOUND
    assert _session_row(app, session_id).refresh_token_counter == 1
    assert api.refresh(first["refresh_token"]).status_code == 200


def test_tokens_the_session_key_did_not_sign_are_not_found(app, api):
    first = api.session()
    session_id = _session_id(first)
    forged = [
        _token(session_id, b"\x01", secrets.token_bytes(32)),  # another key
        _token(uuid.uuid4(), b"\x01", secrets.token_bytes(32)),  # no such session
        first["refresh_token"][:-2] + ("AA" if first["refresh_token"][-2:] != "AA" else "BB"),
    ]
    for token in forged:
        response = api.refresh(token)
        assert response.status_code == 400, token
        assert response.get_json() == NOT_FOUND, token
    row = _session_row(app, session_id)
    assert row.refresh_token_counter == 1
    assert api.refresh(first["refresh_token"]).status_code == 200


def test_a_non_minimal_counter_or_another_version_is_not_a_signed_token(app, api):
    first = api.session()
    session_id = _session_id(first)
    key = _key(_session_row(app, session_id).refresh_token_hmac_key)
    padded_counter = _token(session_id, b"\x81\x00", key)  # 1, in two bytes
    signed = b"\x01" + session_id.bytes + b"\x01"
    body = signed + hmac.new(key, signed, hashlib.sha256).digest()[:16]
    other_version = _b64(body + hashlib.sha256(body).digest()[:4])
    for token in (padded_counter, other_version):
        assert api.refresh(token).get_json() == NOT_FOUND
    assert _session_row(app, session_id).refresh_token_counter == 1


def test_sessions_keep_their_kind_when_the_setting_changes(make_app):
    classic_app = make_app(**{"mailer.autoconfirm": True})
    signed_app = make_app(**V2)
    classic = api_for(classic_app).session()
    signed = api_for(signed_app).session()
    # The signed session refreshes on a server set to classic tokens, and the other way round.
    again = api_for(classic_app).refresh(signed["refresh_token"])
    assert again.status_code == 200
    assert len(again.get_json()["refresh_token"]) > 12
    assert _session_row(classic_app, _session_id(signed)).refresh_token_counter == 2
    moved = api_for(signed_app).refresh(classic["refresh_token"])
    assert moved.status_code == 200
    assert len(moved.get_json()["refresh_token"]) == 12
    assert _session_row(signed_app, _session_id(classic)).refresh_token_hmac_key is None
    assert len(_token_rows(signed_app)) == 2


def test_mfa_verification_moves_the_counter_on_by_two(app, service_role_token):
    api = api_for(app, service_role_token)
    email = unique_email("v2mfa")
    create_user(api, email, password=PASSWORD)
    before = sign_in(api, email)
    session_id = _session_id(before)
    _, stepped_up = verified_totp(api, app, before)
    row = _session_row(app, session_id)
    assert row.refresh_token_counter == 3
    assert stepped_up["refresh_token"] == _token(session_id, b"\x03",
                                                 _key(row.refresh_token_hmac_key))
    assert verified_claims(stepped_up["access_token"], clock_moved=True)["aal"] == "aal2"
    refreshed = api.refresh(stepped_up["refresh_token"])
    assert refreshed.status_code == 200
    assert verified_claims(refreshed.get_json()["access_token"], clock_moved=True)["aal"] == \
        "aal2"
    # The aal1 token from before the step-up is two behind now: never re-issued.
    assert api.refresh(before["refresh_token"]).get_json() == ALREADY_USED
    assert _session_row(app, session_id) is None


def test_racing_refreshes_of_one_token_all_get_the_same_next_token(make_app, serve):
    """Threads of one served app, each on its own connection: one request moves the counter,
    the others find it moved and get the same token again (inside the reuse interval)."""
    app = make_app(**V2, **{"security.refresh_token_reuse_interval": 10,
                            "rate_limit.token_refresh": 100000.0})
    server = serve(app)
    token = api_for(app).session()["refresh_token"]
    racers, issued = 3, [token]
    clients = [httpx.Client(base_url=server.url, timeout=30,
                            headers={"X-Supabase-Api-Version": "2024-01-01"})
               for _ in range(racers)]
    try:
        with ThreadPoolExecutor(max_workers=racers) as pool:
            for round_number in range(10):
                barrier = threading.Barrier(racers)

                def fire(client, presented=issued[-1], barrier=barrier):
                    barrier.wait(timeout=30)
                    return client.post("/token?grant_type=refresh_token",
                                       json={"refresh_token": presented})

                responses = list(pool.map(fire, clients))
                assert [r.status_code for r in responses] == [200] * racers, \
                    (round_number, [r.text for r in responses])
                tokens = {r.json()["refresh_token"] for r in responses}
                assert len(tokens) == 1, round_number
                issued.append(tokens.pop())
    finally:
        for client in clients:
            client.close()
    session_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))[1:17]
    row = _session_row(app, uuid.UUID(bytes=session_id))
    assert row.refresh_token_counter == 11
    assert len(set(issued)) == 11
    refreshed = [a for a in _actions(app) if a == "token_refreshed"]
    assert len(refreshed) == 30
