"""Two real gunicorn servers (the production gunicorn.conf.py) on the run's database and one
private redis-server: a rate limit counts both servers' requests together, refresh rotation
raced across them never forks a chain, and with Redis killed each server does what the README
says (request limits counted per worker, email budgets refuse with 429, /ready 503 naming the
storage, no 500) and works again, without a restart, once Redis is back.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from gotrue_web.models import MailOutboxRow, RefreshToken

from ..conftest import table_rows
from ..factories import refresh_token_hash
from .service_parts import (
    FAST_OUTBOX,
    PASSWORD,
    RedisProcess,
    SMTPEndpoint,
    api,
    create_user,
    follow_link,
    launch_server,
    unique_email,
    user_id_of,
    wait_until,
)

pytestmark = pytest.mark.live

# GOTRUE_RATE_LIMIT_VERIFY for both servers: /verify requests per client per 5 minutes.
VERIFY_LIMIT = 4
ROUNDS = 8
CLIENT_HEADER = "X-Client-Id"


@pytest.fixture(scope="module")
def redis_process(tmp_path_factory):
    process = RedisProcess(tmp_path_factory.mktemp("redis"))
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def smtp():
    endpoint = SMTPEndpoint()
    endpoint.up()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def servers(test_database, tmp_path_factory, redis_process, smtp):
    workdir = tmp_path_factory.mktemp("shared-redis")
    env = {**FAST_OUTBOX, "GOTRUE_SMTP_PORT": str(smtp.port),
           "GOTRUE_RATE_LIMIT_STORAGE_URL": redis_process.url,
           "GOTRUE_RATE_LIMIT_HEADER": CLIENT_HEADER,
           "GOTRUE_RATE_LIMIT_VERIFY": str(VERIFY_LIMIT),
           # The refresh races are not about the /token limit.
           "GOTRUE_RATE_LIMIT_TOKEN_REFRESH": "100000"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        starting = [pool.submit(launch_server, test_database, workdir / name, **env)
                    for name in ("first", "second")]
    pair = [future.result() for future in starting if future.exception() is None]
    if len(pair) < len(starting):
        for server in pair:
            server.stop()
        for future in starting:
            future.result()  # raises the failed start's error
    yield pair
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda server: server.stop(), pair))


def _verify(server, client_key: str):
    """A /verify with a wrong code: counted by the /verify limit, refused as a wrong code."""
    with api(server, **{CLIENT_HEADER: client_key}) as client:
        return client.post("/verify", json={"type": "magiclink", "token": "123456",
                                            "email": unique_email("nobody")})


def _assert_limit_is_shared(servers) -> None:
    client_key = f"client-{uuid.uuid4()}"
    allowed = [_verify(servers[n % 2], client_key) for n in range(VERIFY_LIMIT)]
    assert [(a.status_code, a.json()["code"]) for a in allowed] == \
        [(403, "otp_expired")] * VERIFY_LIMIT
    for server in servers:
        refused = _verify(server, client_key)
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "over_request_rate_limit"
        assert int(refused.headers["retry-after"]) > 0
    # Another client still has its whole budget.
    assert _verify(servers[1], f"client-{uuid.uuid4()}").status_code == 403


def test_a_rate_limit_counts_both_servers_requests_together(servers):
    _assert_limit_is_shared(servers)


def test_refresh_rotation_raced_across_both_servers_keeps_one_chain(app, servers):
    address = unique_email("race")
    create_user(servers[0], address)
    with api(servers[1]) as client:
        login = client.post("/token?grant_type=password",
                            json={"email": address, "password": PASSWORD})
    assert login.status_code == 200, login.text
    issued = [login.json()["refresh_token"]]
    clients = [api(server) for server in servers]
    try:
        for client in clients:
            assert client.get("/health").status_code == 200  # warm connections
        with ThreadPoolExecutor(max_workers=2) as pool:
            for round_number in range(ROUNDS):
                barrier = threading.Barrier(2)

                def refresh(client, token=issued[-1], barrier=barrier):
                    barrier.wait(timeout=30)
                    return client.post("/token?grant_type=refresh_token",
                                       json={"refresh_token": token})

                answers = [f.result(timeout=60)
                           for f in [pool.submit(refresh, client) for client in clients]]
                assert [a.status_code for a in answers] == [200, 200], \
                    (round_number, [a.text for a in answers])
                # A retried refresh gets the same child: one rotation, no fork.
                children = {a.json()["refresh_token"] for a in answers}
                assert len(children) == 1, f"round {round_number} forked: {children}"
                assert children.isdisjoint(issued)
                issued.append(children.pop())
    finally:
        for client in clients:
            client.close()

    [(session_id,)] = table_rows(app, sa.select(RefreshToken.session_id).where(
        RefreshToken.token == refresh_token_hash(issued[0])))
    rows = table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent,
                                     RefreshToken.revoked)
                      .where(RefreshToken.session_id == session_id))
    assert max(Counter(row.parent for row in rows if row.parent).values()) == 1
    child_of = {row.parent: row.token for row in rows}
    chain = [child_of[None]]
    while chain[-1] in child_of:
        chain.append(child_of[chain[-1]])
    assert chain == [refresh_token_hash(token) for token in issued]
    assert [row.token for row in rows if not row.revoked] == [refresh_token_hash(issued[-1])]

    # A token two generations old is reuse, on either server: the session's tokens all die.
    with api(servers[0]) as client:
        reused = client.post("/token?grant_type=refresh_token",
                             json={"refresh_token": issued[-3]})
    assert (reused.status_code, reused.json()["code"]) == (400, "refresh_token_already_used")
    with api(servers[1]) as client:
        newest = client.post("/token?grant_type=refresh_token",
                             json={"refresh_token": issued[-1]})
    assert (newest.status_code, newest.json()["code"]) == (400, "refresh_token_already_used")


def test_with_redis_down_the_servers_do_as_documented_and_recover_without_restart(
        app, redis_process, smtp, servers):
    known = [unique_email("redis-down") for _ in servers]
    for address in known:
        create_user(servers[0], address)
    answers = []
    redis_process.stop()
    try:
        for server, address in zip(servers, known):
            client_key = f"client-{uuid.uuid4()}"
            with api(server, **{CLIENT_HEADER: client_key}) as client:
                ready = client.get("/ready")
                assert ready.status_code == 503
                assert ready.json()["checks"] == {"database": "ok", "migrations": "ok",
                                                  "rate_limit_storage": "unreachable"}
                # Request limits still hold, counted in the worker's memory (one worker
                # here, so exactly the limit) ...
                verifies = [_verify(server, client_key) for _ in range(VERIFY_LIMIT + 2)]
                assert [v.status_code for v in verifies] == [403] * VERIFY_LIMIT + [429, 429]
                assert verifies[-1].json()["code"] == "over_request_rate_limit"
                login = client.post("/token?grant_type=password",
                                    json={"email": address, "password": PASSWORD})
                assert login.status_code == 200, login.text
                # ... and the email budgets refuse: nothing is queued or created.
                recover = client.post("/recover", json={"email": address})
                newcomer = unique_email("redis-down-signup")
                signup = client.post("/signup", json={"email": newcomer, "password": PASSWORD})
                for refused in (recover, signup):
                    assert refused.status_code == 429, refused.text
                    assert refused.json()["code"] == "over_email_send_rate_limit"
                    assert refused.headers["retry-after"] == "60"
                assert user_id_of(app, newcomer) is None
                answers += [*verifies, login, recover, signup]
        assert not table_rows(app, sa.select(MailOutboxRow.id))
        for server in servers:
            # The limiter says so in the log once (a minute), not once per request.
            said = [line for line in server.log_tail(10_000).splitlines()
                    if '"component":"gotrue_web.ratelimit"' in line
                    and f"rate-limit storage {redis_process.url} failed" in line]
            assert len(said) == 1, server.log_tail()
    finally:
        redis_process.start()
    # No 500s: only /ready answers 5xx, by design.
    assert all(answer.status_code < 500 for answer in answers)

    # The same processes work again once Redis answers.
    for server, address in zip(servers, known):
        with api(server) as client:
            wait_until(lambda: client.get("/ready").status_code == 200, timeout=30,
                       what="/ready to answer 200 again")
            recover = client.post("/recover", json={"email": address})
            assert (recover.status_code, recover.json()) == (200, {})
        [delivered] = wait_until(lambda: smtp.accepted_to(address), timeout=30,
                                 what=f"the recovery email to {address}")
        assert follow_link(server, delivered.message)["type"] == "recovery"
    _assert_limit_is_shared(servers)
