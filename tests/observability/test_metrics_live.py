"""Metrics under gunicorn as shipped (gunicorn.conf.py) with two workers: each worker counts
into its own files, the master serves their sums on GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT, a
worker that dies leaves the pool sums but not the counts, and the directory goes with the
server."""

from __future__ import annotations

import glob
import os
import signal
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from ..live.conftest import REPO_ROOT, start_gunicorn  # noqa: F401 - the fixture
from .metrics_support import free_port, scrape

pytestmark = pytest.mark.live

DEADLINE_SECONDS = 30.0
HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}
SETTINGS_REQUESTS = ("gotrue_http_requests_total",
                     {"method": "GET", "route": "/settings", "status": "200"})
POOL_SIZE = "gotrue_db_pool_size_connections"


def _workers(master: int) -> set[int]:
    """The live children of ``master``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if int(parent) == master and state != "Z":
            found.add(int(stat.parent.name))
    return found


def _two_workers(master: int) -> set[int] | None:
    found = _workers(master)
    return found if len(found) == 2 else None


def _worker_value(directory: Path, kind: str, pid: int, name: str, labels: dict) -> float:
    """One worker's own value, read from its file as the master reads it."""
    path = directory / f"{kind}_{pid}.db"
    if not path.exists():
        return 0.0
    for metric in MultiProcessCollector.merge([str(path)]):
        for sample in metric.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def _until(check, what: str, server):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"{what} within {DEADLINE_SECONDS}s:\n{server.log_tail()}")


def test_the_master_serves_the_sum_of_both_workers(make_app, start_gunicorn):  # noqa: F811
    # An app on the same database only for its teardown, which deletes the rows the server
    # writes (after the server has stopped: fixtures end in reverse order).
    make_app()
    port = free_port()
    server = start_gunicorn(
        workers=2, threads=2, extra_args=("--config", str(REPO_ROOT / "gunicorn.conf.py")),
        GOTRUE_METRICS_ENABLED="true", GOTRUE_METRICS_EXPORTER="prometheus",
        GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST="127.0.0.1",
        GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT=str(port))
    master = server.process.pid
    workers = _until(lambda: _two_workers(master), "two workers", server)

    # The fresh private directory the master made, found by the workers' own files.
    def directory():
        made = {Path(path).parent for pid in workers for path in glob.glob(
            os.path.join(tempfile.gettempdir(), "gotrue-metrics-*", f"gauge_livesum_{pid}.db"))}
        return made.pop() if len(made) == 1 and len(workers) == 2 else None

    folder = _until(directory, "the workers' metric files", server)
    assert folder.stat().st_mode & 0o077 == 0

    # Requests on fresh connections until both workers have answered some.
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        def settings_status(_) -> int | None:
            try:
                return httpx.get(f"{server.url}/settings", timeout=10).status_code
            except httpx.ConnectError:
                return None  # never reached a worker, so not counted: tried again below

        def spread():
            nonlocal sent
            if server.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {server.process.returncode}:\n"
                            f"{server.log_tail()}")
            answers = list(pool.map(settings_status, range(8)))
            assert set(answers) <= {200, None}, answers
            sent += answers.count(200)
            return all(_worker_value(folder, "counter", pid, *SETTINGS_REQUESTS) >= 1
                       for pid in workers)

        _until(spread, "requests answered by both workers", server)
    per_worker = [_worker_value(folder, "counter", pid, *SETTINGS_REQUESTS) for pid in workers]
    assert sum(per_worker) == sent and min(per_worker) >= 1

    email = f"live-metrics-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "Live-metrics-password-7"}
    assert httpx.post(f"{server.url}/signup", json=body, headers=HEADERS,
                      timeout=30).status_code == 200
    assert httpx.post(f"{server.url}/token?grant_type=password", json=body, headers=HEADERS,
                      timeout=30).status_code == 200

    summed = scrape(port)
    assert summed.value(SETTINGS_REQUESTS[0], **SETTINGS_REQUESTS[1]) == sent
    assert summed.value("gotrue_sign_ups_total", method="email", provider="email") == 1
    assert summed.value("gotrue_sign_ins_total", method="password", provider="email",
                        result="success") == 1
    pools = [_worker_value(folder, "gauge_livesum", pid, POOL_SIZE, {}) for pid in workers]
    assert min(pools) >= 1
    assert summed.value(POOL_SIZE) == sum(pools)

    # A worker killed outright: gunicorn starts another, the dead one's pool leaves the sum
    # (child_exit) and its counts stay in it.
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)

    def replaced():
        now = _workers(master)
        if len(now) != 2 or victim in now or (folder / f"gauge_livesum_{victim}.db").exists():
            return None
        # Summed again over two live workers once the new one has sampled its pool; with the
        # dead worker's gauge left in, the sum would stay a pool too high.
        now_summed = scrape(port)
        return now_summed if now_summed.value(POOL_SIZE) == sum(pools) else None

    after = _until(replaced, "a replacement worker with the dead one's pool gone", server)
    assert after.value(SETTINGS_REQUESTS[0], **SETTINGS_REQUESTS[1]) == sent

    server.stop()
    assert not folder.exists(), "the master removes its metrics directory on exit"
