"""Rate limits under real gunicorn workers: the configured number holds for the whole server,
not per worker process, with the default storage (a SQLite file the workers share) and Redis."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}
LIMIT = 5


def _served_by(server) -> set[str]:
    return {line.split()[1] for line in server.log_tail(10_000).splitlines()
            if line.startswith("served-by")}


def _until_both_workers_answer(server, seconds: float = 60) -> None:
    """gunicorn answers as soon as one worker is up; the other may still be loading the app."""
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(_served_by(server)) < 2:
            if time.monotonic() > deadline:
                pytest.fail(f"the second worker never answered:\n{server.log_tail()}")
            list(pool.map(lambda _: httpx.get(f"{server.url}/health", timeout=30), range(4)))


@pytest.mark.parametrize("storage", ["default", "redis"])
def test_two_workers_share_one_limit(storage, start_gunicorn):
    if storage == "redis":
        storage_url = "redis://127.0.0.1:6379/0"
        import redis
        try:
            redis.Redis.from_url(storage_url, socket_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {storage_url} is unreachable: {exc}")
    else:
        storage_url = ""  # unset: the shared SQLite file every worker of the server opens
    server = start_gunicorn(
        workers=2, threads=2,
        # sync workers take one request at a time, so a burst spreads over both.
        extra_args=("--worker-class", "sync", "--access-logfile", "-",
                    "--access-logformat", "served-by %(p)s %(s)s"),
        GOTRUE_RATE_LIMIT_STORAGE_URL=storage_url, GOTRUE_RATE_LIMIT_HEADER="X-Client",
        GOTRUE_RATE_LIMIT_TOKEN_REFRESH=str(LIMIT))
    _until_both_workers_answer(server)
    client_key = f"client-{uuid.uuid4()}"

    def attempt(n):
        # A new connection each time, and a password grant (a bcrypt hash at GoTrue's cost)
        # keeps a worker busy long enough that the other takes the next request.
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post("/token?grant_type=password",
                               headers={**HEADERS, "X-Client": client_key},
                               json={"email": f"nobody-{n}@example.com",
                                     "password": "wrong-password"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(attempt, range(4 * LIMIT)))
    assert sorted(codes) == [400] * LIMIT + [429] * (3 * LIMIT), server.log_tail()
    served_by = {line.split()[1] for line in server.log_tail(10_000).splitlines()
                 if line.startswith("served-by") and line.split()[2] in ("400", "429")}
    assert len(served_by) == 2, f"one worker took every request:\n{server.log_tail()}"
