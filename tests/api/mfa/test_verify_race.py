"""Concurrent MFA requests over real HTTP (a threaded server on loopback): one challenge
verified at once succeeds once; one code against two challenges is accepted once; wrong codes
raced against one challenge are all counted; one friendly name enrolled at once is taken once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gotrue_web.models import FactorStatus

from ...conftest import api_for
from ...factories import factor_ids, session_ids
from .support import (
    app_now,
    challenge_row,
    challenged,
    enrolled_totp,
    factor_row,
    session_id_of,
    signed_in,
    totp_code,
    wrong_code,
)

RACERS = 6
API_HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}


@pytest.fixture
def app(make_app):
    return make_app(**{"mailer.autoconfirm": True, "rate_limit.mfa_challenge_and_verify": 1000})


def _race(server, token: str, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """POST each (path, json) at the same moment, each over its own warm connection."""
    headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
    clients = [httpx.Client(base_url=server.url, headers=headers, timeout=30)
               for _ in requests]
    for client in clients:
        assert client.get("/health").status_code == 200
    start = threading.Barrier(len(requests))

    def send(pair) -> httpx.Response:
        client, (path, body) = pair
        start.wait()
        return client.post(path, json=body)

    try:
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(send, zip(clients, requests)))
    finally:
        for client in clients:
            client.close()


def _codes(responses) -> list[str]:
    return sorted(r.json()["code"] for r in responses if r.status_code != 200)


@pytest.mark.parametrize("round_", range(3))
def test_one_challenge_verified_concurrently_succeeds_once(app, api, serve, round_):
    server = serve(app)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    chal = challenged(api, token, factor["id"])  # from 127.0.0.1, as the racers
    code = totp_code(factor["totp"]["secret"], app_now(app))
    body = {"challenge_id": chal["id"], "code": code}
    responses = _race(server, token, [(f"/factors/{factor['id']}/verify", body)] * RACERS)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * (RACERS - 1), [r.text for r in responses]
    assert set(_codes(responses)) == {"mfa_ip_address_mismatch"}, [r.text for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    assert winner["refresh_token"]
    assert factor_row(app, factor["id"]).status == FactorStatus.verified
    assert challenge_row(app, chal["id"]).verified_at is not None
    assert session_ids(app, session["user"]["id"]) == {session_id_of(session)}


@pytest.mark.parametrize("round_", range(3))
def test_one_code_against_several_challenges_is_accepted_once(app, api, serve, round_):
    server = serve(app)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    challenges = [challenged(api, token, factor["id"])["id"] for _ in range(RACERS)]
    code = totp_code(factor["totp"]["secret"], app_now(app))
    responses = _race(server, token, [
        (f"/factors/{factor['id']}/verify", {"challenge_id": chal_id, "code": code})
        for chal_id in challenges])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * (RACERS - 1), [r.text for r in responses]
    assert set(_codes(responses)) == {"mfa_verification_failed"}, [r.text for r in responses]


def test_raced_wrong_codes_are_all_counted(app, api, serve):
    server = serve(app)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    secret = factor["totp"]["secret"]
    chal = challenged(api, token, factor["id"])
    body = {"challenge_id": chal["id"], "code": wrong_code(secret, app_now(app))}
    responses = _race(server, token, [(f"/factors/{factor['id']}/verify", body)] * 10)
    codes = _codes(responses)
    assert len(codes) == 10, [r.text for r in responses]
    assert set(codes) <= {"mfa_verification_failed", "mfa_challenge_expired"}, codes
    # Exactly max_code_attempts (5) codes were checked, each counted; the rest were refused.
    counted = challenge_row(app, chal["id"]).failed_attempts
    summary = (codes.count("mfa_verification_failed"), codes.count("mfa_challenge_expired"),
               counted)
    assert summary == (5, 5, 5), f"(checked, refused, failed_attempts) = {summary}"
    right = {"challenge_id": chal["id"], "code": totp_code(secret, app_now(app))}
    [after] = _race(server, token, [(f"/factors/{factor['id']}/verify", right)])
    assert after.status_code == 422 and after.json()["code"] == "mfa_challenge_expired"

def test_one_name_enrolled_concurrently_is_taken_once(app, api, serve):
    server = serve(app)
    session = signed_in(api)
    token = session["access_token"]
    body = {"factor_type": "totp", "friendly_name": "raced name"}
    responses = _race(server, token, [("/factors", body)] * RACERS)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * (RACERS - 1), [r.text for r in responses]
    assert set(_codes(responses)) == {"mfa_factor_name_conflict"}, [r.text for r in responses]
    assert len(factor_ids(app, session["user"]["id"])) == 1


def test_max_enrolled_factors_holds_under_concurrent_enrolments(make_app, serve,
                                                                service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.max_enrolled_factors": 2})
    api = api_for(app, service_role_token)
    server = serve(app)
    session = signed_in(api)
    responses = _race(server, session["access_token"], [
        ("/factors", {"factor_type": "totp", "friendly_name": f"racer {index}"})
        for index in range(RACERS)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200] + [422] * (RACERS - 2), [r.text for r in responses]
    assert set(_codes(responses)) == {"too_many_enrolled_mfa_factors"}
    assert len(factor_ids(app, session["user"]["id"])) == 2


@pytest.mark.parametrize("round_", range(3))
def test_challenges_raced_against_the_factors_unenrolment_never_fail(app, api, serve, round_):
    """Each challenge either ran before the unenrolment (200) or finds the factor gone (404
    mfa_factor_not_found); none fails at commit because the factor vanished under it."""
    server = serve(app)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)  # unverified: an aal1 session may unenrol it
    path = f"/factors/{factor['id']}"
    headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
    clients = [httpx.Client(base_url=server.url, headers=headers, timeout=30)
               for _ in range(RACERS)]
    for client in clients:
        assert client.get("/health").status_code == 200
    start = threading.Barrier(RACERS)

    def send(index_client) -> httpx.Response:
        index, client = index_client
        start.wait()
        if index == 0:
            return client.delete(path)
        return client.post(f"{path}/challenge", json={})

    try:
        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            responses = list(pool.map(send, enumerate(clients)))
    finally:
        for client in clients:
            client.close()
    unenrolled, challenges = responses[0], responses[1:]
    assert unenrolled.status_code == 200, unenrolled.text
    for response in challenges:
        assert response.status_code in (200, 404), response.text
        if response.status_code == 404:
            assert response.json()["code"] == "mfa_factor_not_found"
    assert factor_row(app, factor["id"]) is None
