"""The database server restarted under load, against a real gunicorn (two workers).

The server reaches the run's PostgreSQL (or MariaDB) through a loopback TCP proxy (tcp_proxy.py).
A restart is played as it happens: the proxy stops accepting connections (the server is down),
the server's sessions are killed on the database side (pg_terminate_backend, or KILL on
MariaDB: what a shutdown does to them), what is left open is dropped, and after a while the
proxy accepts again (the server is back). Meanwhile clients refresh their sessions and read
GET /user from several threads.

While the database is away requests answer 503 JSON (never a 500, none slow); once it is back
requests succeed without restarting gunicorn; no refresh chain forks and no session is lost (a
refresh either rotated the token or left it valid); /health answers 200 throughout; /ready turns
503 and then 200 again; each 503 is logged once, with no traceback and no token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

from gotrue_web.api.errors import DATABASE_UNAVAILABLE_MESSAGE
from gotrue_web.models import RefreshToken

from ..conftest import table_rows
from ..factories import refresh_token_hash, unique_email
from .tcp_proxy import TCPProxy

pytestmark = pytest.mark.live

CLIENTS = 4
# No request may take this long: far below gunicorn's 30 s worker timeout, and longer than
# anything a loaded machine needs for a refused connection.
SLOWEST_ANSWER_SECONDS = 10.0
# Generous deadlines for each phase to be observed; the test moves on as soon as it is.
PHASE_DEADLINE_SECONDS = 30.0
# The database stays away at least this long: the server keeps trying to reconnect meanwhile.
MIN_OUTAGE_SECONDS = 1.0
# Each client's requests are bounded in number whatever happens.
MAX_ROUNDS = 3000
PASSWORD = "password-restart-1"
UNAVAILABLE = {"code": 503, "error_code": "unexpected_failure", "msg": DATABASE_UNAVAILABLE_MESSAGE}


@dataclass
class Answer:
    path: str
    started: float
    seconds: float
    status: int | None  # None: no answer at all (a transport error or a timeout)
    problem: str = ""  # what was wrong with a 503's body or headers


@dataclass
class LoadClient:
    """One signed-in user refreshing and reading its profile in a loop."""

    base_url: str
    refresh_token: str
    access_token: str
    issued: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    bad_refreshes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.issued.append(self.refresh_token)

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.base_url, timeout=SLOWEST_ANSWER_SECONDS) as client:
            for _ in range(MAX_ROUNDS):
                if stop.is_set():
                    return
                refreshed = self._send(client, "POST", "/token?grant_type=refresh_token",
                                       json={"refresh_token": self.refresh_token})
                if refreshed is not None and refreshed.status_code == 200:
                    body = refreshed.json()
                    if body["refresh_token"] in self.issued:
                        self.bad_refreshes.append("a refresh gave back an older token")
                    self.refresh_token, self.access_token = (body["refresh_token"],
                                                             body["access_token"])
                    self.issued.append(self.refresh_token)
                elif refreshed is not None and refreshed.status_code != 503:
                    # The token presented was neither rotated nor left valid.
                    self.bad_refreshes.append(f"{refreshed.status_code} {refreshed.text}")
                    return
                self._send(client, "GET", "/user",
                           headers={"Authorization": f"Bearer {self.access_token}"})
                stop.wait(0.005)

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs):
        started = time.monotonic()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.answers.append(Answer(path, started, time.monotonic() - started, None,
                                       type(error).__name__))
            return None
        answer = Answer(path, started, time.monotonic() - started, response.status_code)
        if response.status_code == 503:
            answer.problem = _unavailable_problem(response)
        self.answers.append(answer)
        return response

    def succeeded_since(self, moment: float, path: str) -> int:
        return sum(1 for answer in list(self.answers)
                   if answer.path.startswith(path) and answer.started > moment
                   and answer.status == 200)

    def refused_since(self, moment: float) -> int:
        return sum(1 for answer in list(self.answers)
                   if answer.started > moment and answer.status == 503)


def _unavailable_problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    body.pop("error_id", None)
    if body != UNAVAILABLE:
        return f"body {body}"
    if response.headers.get("Retry-After") != "1":
        return f"Retry-After {response.headers.get('Retry-After')!r}"
    return ""


class Prober:
    """Polls /health and /ready every 50 ms, noting (time, path, status)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.seen: list[tuple[float, str, int | None]] = []

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.base_url, timeout=SLOWEST_ANSWER_SECONDS) as client:
            for _ in range(MAX_ROUNDS):
                if stop.is_set():
                    return
                for path in ("/health", "/ready"):
                    started = time.monotonic()
                    try:
                        status = client.get(path).status_code
                    except httpx.HTTPError:
                        status = None
                    self.seen.append((started, path, status))
                stop.wait(0.05)

    def ready_since(self, moment: float) -> list[int | None]:
        return [status for started, path, status in list(self.seen)
                if path == "/ready" and started > moment]


def _wait_for(what: str, condition, server, clients, prober, since: float) -> None:
    deadline = time.monotonic() + PHASE_DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not seen within {PHASE_DEADLINE_SECONDS} s\n"
                        f"{_progress(clients, prober, since)}\n{server.log_tail()}")
        time.sleep(0.05)


def _progress(clients, prober, since: float) -> str:
    """What each client and the prober saw since the phase began: a failed phase says which
    of them fell short, and why (a client ends its loop on an answer it cannot go on from)."""
    lines = []
    for number, c in enumerate(clients):
        seen = Counter(f"{answer.path.split('?')[0]} {answer.status} {answer.problem}".strip()
                       for answer in list(c.answers) if answer.started > since)
        lines.append(f"client {number}: {dict(seen)} bad refreshes: {c.bad_refreshes}")
    lines.append(f"/ready since: {Counter(prober.ready_since(since))}")
    return "\n".join(lines)


def _kill_server_sessions(test_database, upstream_ports: list[int]) -> int:
    """End the database sessions whose client ports are the proxy's upstream ports, on the
    database side, as a shutdown does: PostgreSQL sends each "terminating connection due to
    administrator command" and closes it; MariaDB closes it."""
    engine = sa.create_engine(test_database.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if test_database.backend == "postgresql":
                return connection.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE client_port = ANY(:ports) AND pid <> pg_backend_pid()"),
                    {"ports": upstream_ports}).scalar_one()
            killed = 0
            for session_id, host in connection.execute(sa.text(
                    "SELECT ID, HOST FROM information_schema.PROCESSLIST "
                    "WHERE ID <> CONNECTION_ID()")):
                port = (host or "").rpartition(":")[2]
                if port.isdigit() and int(port) in upstream_ports:
                    try:
                        connection.execute(sa.text(f"KILL CONNECTION {int(session_id)}"))
                    except sa.exc.OperationalError as error:
                        if error.orig.args[0] != 1094:  # unknown thread: it ended meanwhile
                            raise
                    else:
                        killed += 1
            return killed
    finally:
        engine.dispose()


def _sign_in(base_url: str) -> LoadClient:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signup = client.post("/signup", json={"email": unique_email("restart"),
                                              "password": PASSWORD})
    assert signup.status_code == 200, signup.text
    body = signup.json()
    return LoadClient(base_url, body["refresh_token"], body["access_token"])


def _assert_linear_chain(app, issued: list[str]) -> None:
    """The session's tokens form one chain, exactly the tokens the client was given, the last
    one live: nothing forked, nothing issued that the client never got."""
    session_id = table_rows(app, sa.select(RefreshToken.session_id).where(
        RefreshToken.token == refresh_token_hash(issued[0])))[0].session_id
    rows = table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent,
                                     RefreshToken.revoked)
                      .where(RefreshToken.session_id == uuid.UUID(str(session_id)))
                      .order_by(RefreshToken.id))
    children = Counter(row.parent for row in rows if row.parent is not None)
    assert max(children.values(), default=1) == 1, f"a token has several children: {children}"
    by_parent = {row.parent: row.token for row in rows}
    chain = [by_parent[None]]
    while chain[-1] in by_parent:
        chain.append(by_parent[chain[-1]])
    assert chain == [refresh_token_hash(token) for token in issued]
    assert [row.token for row in rows if not row.revoked] == [refresh_token_hash(issued[-1])]


def test_database_restart_under_load_fails_fast_with_503_and_recovers(
        app, test_database, start_gunicorn):
    if test_database.backend == "sqlite":
        pytest.skip("a database server restart: runs on PostgreSQL and MariaDB "
                    "(SQLite's faults are in test_database_sqlite_faults.py)")
    url = sa.engine.make_url(test_database.url)
    with TCPProxy(url.host, url.port) as proxy:
        server = start_gunicorn(
            workers=2, threads=4,
            GOTRUE_DB_DATABASE_URL=url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False),
            GOTRUE_RATE_LIMIT_TOKEN_REFRESH="1000000")
        clients = [_sign_in(server.url) for _ in range(CLIENTS)]
        prober = Prober(server.url)
        stop = threading.Event()
        threads = [threading.Thread(target=worker.run, args=(stop,), daemon=True)
                   for worker in (*clients, prober)]
        for thread in threads:
            thread.start()
        try:
            started = time.monotonic()
            _wait_for("refreshes before the restart",
                      lambda: all(c.succeeded_since(started, "/token") >= 3 for c in clients),
                      server, clients, prober, started)

            # The restart: the server goes away and takes its sessions with it.
            cut = time.monotonic()
            upstream = proxy.upstream_ports()
            proxy.refuse()
            killed = _kill_server_sessions(test_database, upstream)
            proxy.drop()
            _wait_for("503 answers and /ready 503 while the database is away",
                      lambda: time.monotonic() - cut > MIN_OUTAGE_SECONDS
                      and all(c.refused_since(cut) >= 2 for c in clients)
                      and 503 in prober.ready_since(cut), server, clients, prober, cut)

            back = time.monotonic()
            proxy.accept()
            _wait_for("successful refreshes and reads once the database is back",
                      lambda: all(c.succeeded_since(back, "/token") >= 3
                                  and c.succeeded_since(back, "/user") >= 3 for c in clients)
                      and prober.ready_since(back)[-1:] == [200], server, clients, prober, back)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=SLOWEST_ANSWER_SECONDS + 5)

        assert server.process.poll() is None, "gunicorn stopped"
        # After the load: every session still refreshes, and its chain is one line.
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for c in clients:
                response = client.post("/token?grant_type=refresh_token",
                                       json={"refresh_token": c.refresh_token})
                assert response.status_code == 200, response.text
                c.issued.append(response.json()["refresh_token"])
        log = server.log_tail(100_000)

    for c in clients:
        _assert_linear_chain(app, c.issued)
    answers = [answer for c in clients for answer in c.answers]
    assert [c.bad_refreshes for c in clients] == [[]] * CLIENTS
    assert [a for a in answers if a.status not in (200, 503) or a.problem] == []
    assert [a for a in answers if a.seconds >= SLOWEST_ANSWER_SECONDS] == []
    assert {status for _, path, status in prober.seen if path == "/health"} == {200}
    assert killed > 0, "the server held no database session to end"

    # Each 503 logged once, as one warning line without a traceback; no token in the log.
    refused = sum(1 for answer in answers if answer.status == 503)
    assert log.count("database unavailable (") == refused
    assert "Traceback" not in log
    assert not any(token in log for c in clients for token in c.issued)
