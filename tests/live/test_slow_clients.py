"""Slow clients (slowloris) against the server as shipped: gunicorn started with the repository's
gunicorn.conf.py, whose worker reads each request whole before a thread serves it.

Under plain gthread, 40 connections that trickle their headers or body one byte at a time hold
every thread and /health stops answering. Here /health must keep answering within a second
throughout, the trickling connections must be cut off once their read timeout passes, and
ordinary HTTP (keep-alive, pipelining, chunked bodies, Expect: 100-continue, the 413 for an
oversized body, a 400 for a malformed request) must behave as before.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import (
    REPO_ROOT,
    GunicornServer,
    _wait_until_healthy,
    loopback_listener,
    server_environment,
)

pytestmark = pytest.mark.live

GUNICORN = Path(sys.executable).with_name("gunicorn")
HEADER_TRICKLERS = 20
BODY_TRICKLERS = 20
ATTACK_SECONDS = 14.0  # past the worker's 10 s read timeout, so the cut-off is seen too
DRIP_INTERVAL = 0.5
HEALTH_BUDGET = 1.0
# Idle connections: plain gthread held a thread per connection for up to 5 s, so /health
# waited seconds; a loaded CI machine once took 1.5 s without any held thread.
IDLE_HEALTH_BUDGET = 3.0
READ_TIMEOUT = 10.0  # RequestBufferingWorker.read_timeout as gunicorn.conf.py sets it


@pytest.fixture(scope="module")
def server(test_database, tmp_path_factory):
    """One gunicorn with the shipped configuration, one worker process (fewest threads: the
    attack's easiest case), on a socket bound here so no port is guessed."""
    tmp_path = tmp_path_factory.mktemp("slow-clients")
    listener, port = loopback_listener(128)
    env = server_environment(
        test_database, WEB_CONCURRENCY="1",
        # This server's request counters apart from every other test's.
        GOTRUE_RATE_LIMIT_STORAGE_URL=f"sqlite://{tmp_path}/ratelimits.sqlite3")
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        # A working directory of its own, so that no developer's .env file leaks in.
        process = subprocess.Popen(
            [str(GUNICORN), "--config", str(REPO_ROOT / "gunicorn.conf.py"),
             "--pythonpath", str(REPO_ROOT),
             "--bind", f"fd://{listener.fileno()}", "--graceful-timeout", "5",
             "--log-level", "warning", "wsgi:app"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )
    listener.close()
    running = GunicornServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    _wait_until_healthy(running)
    yield running
    running.stop()


def _address(server: GunicornServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _timed_health(server: GunicornServer, budget: float = HEALTH_BUDGET
                  ) -> tuple[object, float]:
    started = time.monotonic()
    try:
        status = httpx.get(f"{server.url}/health", timeout=budget).status_code
    except httpx.TransportError as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


class Tricklers:
    """Connections that each send a request head or body one byte per DRIP_INTERVAL, from one
    thread; records when the server closed each of them."""

    def __init__(self, server: GunicornServer):
        self.address = _address(server)
        self.sockets: list[tuple[socket.socket, bytes]] = []
        self.opened: dict[socket.socket, float] = {}
        self.closed_after: dict[socket.socket, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)

    def open(self, start: bytes, drip: bytes) -> None:
        sock = socket.create_connection(self.address, timeout=5)
        sock.sendall(start)
        sock.setblocking(False)
        self.sockets.append((sock, drip))
        self.opened[sock] = time.monotonic()

    def _drip(self) -> None:
        position = 0
        while not self.stop.wait(DRIP_INTERVAL):
            for sock, drip in self.sockets:
                if sock in self.closed_after:
                    continue
                if self._server_closed(sock):
                    continue
                try:
                    sock.send(drip[position % len(drip):position % len(drip) + 1])
                except BlockingIOError:
                    pass
                except OSError:
                    self._mark_closed(sock)
            position += 1

    def _server_closed(self, sock: socket.socket) -> bool:
        try:
            if sock.recv(4096) == b"":
                self._mark_closed(sock)
                return True
        except BlockingIOError:
            return False
        except OSError:
            self._mark_closed(sock)
            return True
        return False

    def _mark_closed(self, sock: socket.socket) -> None:
        self.closed_after.setdefault(sock, time.monotonic() - self.opened[sock])

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock, _ in self.sockets:
            sock.close()


def test_trickling_clients_do_not_stop_the_server_and_are_cut_off(server):
    assert _timed_health(server)[0] == 200
    tricklers = Tricklers(server)
    try:
        for _ in range(HEADER_TRICKLERS):
            tricklers.open(b"GET /health HTTP/1.1\r\nHost: localhost\r\n", b"X-Padding: abcdef\r\n")
        for _ in range(BODY_TRICKLERS):
            tricklers.open(b"POST /token?grant_type=refresh_token HTTP/1.1\r\nHost: localhost\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
                           b" ")
        tricklers.start()

        answers = []
        deadline = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < deadline:
            answers.append(_timed_health(server))
            time.sleep(0.25)

        slow = [(status, round(seconds, 3)) for status, seconds in answers
                if status != 200 or seconds >= HEALTH_BUDGET]
        assert not slow, f"/health failed or was slow under attack: {slow}\n{server.log_tail()}"
        assert len(answers) >= 20

        # Every trickler was disconnected once the read timeout passed, not before.
        cut_off = sorted(tricklers.closed_after.values())
        assert len(cut_off) == HEADER_TRICKLERS + BODY_TRICKLERS, cut_off
        assert READ_TIMEOUT - 1 <= cut_off[0] and cut_off[-1] <= READ_TIMEOUT + 3.5, cut_off
    finally:
        tricklers.close()


def test_idle_connections_hold_no_thread(server):
    # Connections that send nothing at all (gthread gave each a thread for up to 5 s).
    idle = [socket.create_connection(_address(server), timeout=5) for _ in range(40)]
    try:
        time.sleep(0.5)
        for _ in range(4):
            status, seconds = _timed_health(server, IDLE_HEALTH_BUDGET)
            assert status == 200 and seconds < IDLE_HEALTH_BUDGET, (status, seconds)
            time.sleep(0.25)
    finally:
        for sock in idle:
            sock.close()


def _exchange(server: GunicornServer, payload: bytes, *, wait_for: bytes | None = None,
              then: bytes = b"") -> bytes:
    """Send raw bytes (whose last request says Connection: close) and read to the end."""
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(payload)
        received = b""
        if wait_for is not None:
            while wait_for not in received:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
            sock.sendall(then)
        while chunk := sock.recv(65536):
            received += chunk
        return received


KEEP_OPEN = (b"POST /token?grant_type=refresh_token HTTP/1.1\r\nHost: localhost\r\n"
             b"Content-Type: application/json\r\n")
REFRESH = KEEP_OPEN + b"Connection: close\r\n"
# Valid JSON that this endpoint refuses with its own code: proof the body reached the view.
EMPTY_TOKEN = b'{"refresh_token": ""}'


def test_body_sent_in_pieces_reaches_the_application(server):
    answer = _exchange(server, REFRESH + b"Transfer-Encoding: chunked\r\n\r\n"
                       + b"5\r\n" + EMPTY_TOKEN[:5] + b"\r\n"
                       + f"{len(EMPTY_TOKEN) - 5:x}".encode() + b"\r\n" + EMPTY_TOKEN[5:]
                       + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b'"error_code":"validation_failed"' in answer.replace(b" ", b""), answer


def test_expect_100_continue_gets_its_go_ahead(server):
    head = (REFRESH + b"Expect: 100-continue\r\n"
            + f"Content-Length: {len(EMPTY_TOKEN)}\r\n\r\n".encode())
    answer = _exchange(server, head, wait_for=b"HTTP/1.1 100 Continue\r\n\r\n", then=EMPTY_TOKEN)
    final = answer[answer.rindex(b"HTTP/1.1 4"):]
    assert final.startswith(b"HTTP/1.1 400 "), answer
    assert b'"error_code":"validation_failed"' in final.replace(b" ", b""), answer


def test_pipelined_requests_are_all_answered(server):
    one = (KEEP_OPEN + f"Content-Length: {len(EMPTY_TOKEN)}\r\n\r\n".encode() + EMPTY_TOKEN)
    answer = _exchange(server, one + b"GET /health HTTP/1.1\r\nHost: localhost\r\n"
                       b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"HTTP/1.1 200 " in answer[20:], answer


def test_keep_alive_connection_serves_several_requests(server):
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            refused = client.post("/token?grant_type=refresh_token", json={"refresh_token": ""})
            assert refused.status_code == 400
            assert refused.json()["error_code"] == "validation_failed"


def test_oversized_body_gets_the_api_413_without_being_read(server):
    started = time.monotonic()
    answer = _exchange(server, REFRESH + b"Content-Length: 5000000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"request_entity_too_large" in answer, answer
    assert time.monotonic() - started < 2


def test_malformed_request_is_refused(server):
    answer = _exchange(server, b"GET /health HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n"
                       b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
