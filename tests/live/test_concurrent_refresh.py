"""Refresh-token rotation under real concurrency: the same token presented at the same moment.

Two refreshes of one token that race (two server processes on one database, or two threads in
one process) must both succeed with the same new token and leave a linear chain; presenting a
token two generations old afterwards is reuse, which revokes the whole session.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from gotrue_web.db import is_lock_contention
from gotrue_web.extensions import db
from gotrue_web.models import RefreshToken, Session

from ..conftest import table_rows
from ..factories import refresh_token_hash, unique_email

pytestmark = pytest.mark.live

ROUNDS = 20
API_HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}
# Generous: the default limit (150 per 5 minutes) is not what these tests are about.
RATE_LIMIT_OVERRIDES = {"GOTRUE_RATE_LIMIT_TOKEN_REFRESH": "100000"}


@pytest.fixture
def app(make_app):
    return make_app(**{"mailer.autoconfirm": True, "rate_limit.token_refresh": 100000.0})


def _sign_in(base_url: str) -> dict:
    email = unique_email("race")
    with httpx.Client(base_url=base_url, headers=API_HEADERS, timeout=30) as client:
        signup = client.post("/signup", json={"email": email, "password": "password-123"})
        assert signup.status_code == 200, signup.text
        login = client.post("/token?grant_type=password",
                            json={"email": email, "password": "password-123"})
    assert login.status_code == 200, login.text
    return login.json()


class Racer:
    """Sends one refresh per target at the same moment, over warm keep-alive connections."""

    def __init__(self, base_urls: list[str]):
        self.clients = [httpx.Client(base_url=url, headers=API_HEADERS, timeout=30)
                        for url in base_urls]
        for client in self.clients:
            assert client.get("/health").status_code == 200
        self.pool = ThreadPoolExecutor(max_workers=len(self.clients))

    def race(self, refresh_token: str) -> list[httpx.Response]:
        barrier = threading.Barrier(len(self.clients))

        def fire(client: httpx.Client) -> httpx.Response:
            barrier.wait(timeout=30)
            return client.post("/token?grant_type=refresh_token",
                               json={"refresh_token": refresh_token})

        futures = [self.pool.submit(fire, client) for client in self.clients]
        return [future.result(timeout=60) for future in futures]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for client in self.clients:
            client.close()


def _chain_rows(app, session_id: str):
    return table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent,
                                     RefreshToken.revoked)
                      .where(RefreshToken.session_id == uuid.UUID(session_id))
                      .order_by(RefreshToken.id))


def _session_id(app, refresh_token: str) -> str:
    rows = table_rows(app, sa.select(RefreshToken.session_id)
                      .where(RefreshToken.token == refresh_token_hash(refresh_token)))
    assert len(rows) == 1
    return str(rows[0].session_id)


def _assert_linear_chain(app, session_id: str, issued: list[str]) -> None:
    """Each token has at most one child, the chain is exactly ``issued``, one token is live."""
    rows = _chain_rows(app, session_id)
    children = Counter(row.parent for row in rows if row.parent is not None)
    assert max(children.values()) == 1, f"a token has several children: {children}"
    assert len(rows) == len(issued)
    by_parent = {row.parent: row.token for row in rows}
    chain = [by_parent[None]]
    while chain[-1] in by_parent:
        chain.append(by_parent[chain[-1]])
    assert chain == [refresh_token_hash(token) for token in issued]
    assert [row.token for row in rows if not row.revoked] == [refresh_token_hash(issued[-1])]


def _race_rounds(app, targets: list[str]) -> list[str]:
    """Sign in, race ROUNDS refreshes; return every refresh token issued, oldest first."""
    signed_in = _sign_in(targets[0])
    issued = [signed_in["refresh_token"]]
    racer = Racer(targets)
    try:
        for round_number in range(ROUNDS):
            responses = racer.race(issued[-1])
            bodies = []
            for response in responses:
                assert response.status_code == 200, (round_number, response.text)
                bodies.append(response.json())
            new_tokens = {body["refresh_token"] for body in bodies}
            assert len(new_tokens) == 1, f"round {round_number} forked the chain: {new_tokens}"
            new_token = new_tokens.pop()
            assert new_token not in issued
            assert {body["user"]["id"] for body in bodies} == {signed_in["user"]["id"]}
            issued.append(new_token)
    finally:
        racer.close()
    return issued


def _assert_reuse_revokes_session(app, target: str, issued: list[str], session_id: str) -> None:
    with httpx.Client(base_url=target, headers=API_HEADERS, timeout=30) as client:
        reuse = client.post("/token?grant_type=refresh_token",
                            json={"refresh_token": issued[-3]})
        assert reuse.status_code == 400
        assert reuse.json() == {"code": "refresh_token_already_used",
                                "message": "Invalid Refresh Token: Already Used"}
        rows = _chain_rows(app, session_id)
        assert len(rows) == len(issued)
        assert [row.token for row in rows if not row.revoked] == []
        newest = client.post("/token?grant_type=refresh_token",
                             json={"refresh_token": issued[-1]})
        assert newest.status_code == 400
        assert newest.json()["code"] == "refresh_token_already_used"
    # The session itself stays; only its tokens are dead.
    assert len(table_rows(app, sa.select(Session.id)
                          .where(Session.id == uuid.UUID(session_id)))) == 1


def test_two_processes_refreshing_one_token_do_not_fork_the_chain(app, start_gunicorn):
    first = start_gunicorn(**RATE_LIMIT_OVERRIDES)
    second = start_gunicorn(**RATE_LIMIT_OVERRIDES)
    assert first.process.pid != second.process.pid
    issued = _race_rounds(app, [first.url, second.url])
    session_id = _session_id(app, issued[0])
    _assert_linear_chain(app, session_id, issued)
    _assert_reuse_revokes_session(app, second.url, issued, session_id)


def test_threads_in_one_process_refreshing_one_token_do_not_fork_the_chain(app, live_server):
    issued = _race_rounds(app, [live_server.url, live_server.url])
    session_id = _session_id(app, issued[0])
    _assert_linear_chain(app, session_id, issued)
    _assert_reuse_revokes_session(app, live_server.url, issued, session_id)


def test_threads_in_one_gunicorn_process_refreshing_one_token_do_not_fork_the_chain(
        app, start_gunicorn):
    server = start_gunicorn(threads=4, **RATE_LIMIT_OVERRIDES)
    issued = _race_rounds(app, [server.url, server.url, server.url])
    session_id = _session_id(app, issued[0])
    _assert_linear_chain(app, session_id, issued)
    _assert_reuse_revokes_session(app, server.url, issued, session_id)


def test_refresh_of_a_token_locked_elsewhere_gives_409_conflict_and_changes_nothing(
        app, live_server):
    """A lock held past the retry window (~5 s) ends in GoTrue's 409, not a 500."""
    signed_in = _sign_in(live_server.url)
    token = signed_in["refresh_token"]
    with app.app_context():
        with db.engine.connect() as holder:
            holder = holder.execution_options(write_lock=True)
            with holder.begin():
                locked = holder.execute(
                    sa.select(RefreshToken.id)
                    .where(RefreshToken.token == refresh_token_hash(token))
                    .with_for_update()).all()
                assert len(locked) == 1
                with httpx.Client(base_url=live_server.url, headers=API_HEADERS,
                                  timeout=60) as client:
                    blocked = client.post("/token?grant_type=refresh_token",
                                          json={"refresh_token": token})
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["code"] == "conflict"
    assert blocked.headers["x-sb-error-code"] == "conflict"
    session_id = _session_id(app, token)
    assert [(row.token, row.revoked) for row in _chain_rows(app, session_id)] == [
        (refresh_token_hash(token), False)]
    with httpx.Client(base_url=live_server.url, headers=API_HEADERS, timeout=30) as client:
        after = client.post("/token?grant_type=refresh_token", json={"refresh_token": token})
    assert after.status_code == 200, after.text
    _assert_linear_chain(app, session_id, [token, after.json()["refresh_token"]])


def _provoke_write_conflict(engine: sa.engine.Engine) -> sa.exc.DBAPIError:
    """Two real transactions that collide; returns the error the database gave the loser.

    PostgreSQL and MariaDB: a deadlock (each holds the row the other wants). SQLite: a second
    writer that waits out its busy timeout.
    """
    with engine.begin() as setup:
        ids = [setup.execute(sa.insert(RefreshToken).values(token=token, revoked=False)
                             .returning(RefreshToken.id)).scalar_one()
               for token in ("conflictaaaa", "conflictbbbb")]

    def touch(connection, row_id):
        connection.execute(sa.update(RefreshToken).where(RefreshToken.id == row_id)
                           .values(revoked=True))

    if engine.dialect.name == "sqlite":
        # Reads hold no snapshot here (db.configure_engine), so the collision is a writer that
        # finds the write lock taken and gives up after its busy timeout.
        with engine.connect() as holder, engine.connect() as loser:
            holder.begin()
            touch(holder, ids[0])
            loser.exec_driver_sql("PRAGMA busy_timeout=50")
            try:
                touch(loser, ids[1])
            except sa.exc.DBAPIError as error:
                loser.rollback()
                return error
            finally:
                loser.exec_driver_sql("PRAGMA busy_timeout=5000")
                holder.rollback()
            pytest.fail("SQLite let a second writer in while the first held the lock")

    errors: list[sa.exc.DBAPIError] = []

    def cross(connection, mine, theirs, ready: threading.Barrier):
        transaction = connection.begin()
        touch(connection, mine)
        ready.wait(timeout=30)
        try:
            touch(connection, theirs)
            transaction.commit()
        except sa.exc.DBAPIError as error:
            errors.append(error)
            transaction.rollback()

    ready = threading.Barrier(2)
    with engine.connect() as first, engine.connect() as second:
        other = threading.Thread(target=cross, args=(first, ids[0], ids[1], ready))
        other.start()
        cross(second, ids[1], ids[0], ready)
        other.join(timeout=60)
    assert len(errors) == 1, errors
    return errors[0]


def test_lock_contention_is_told_apart_from_other_database_errors(app):
    """The refresh retry fires on deadlocks and busy databases only, on every backend."""
    with app.app_context():
        contention = _provoke_write_conflict(db.engine)
        assert is_lock_contention(contention), contention
        with db.engine.connect() as connection:
            with pytest.raises(sa.exc.IntegrityError) as duplicate:
                with connection.begin():
                    connection.execute(sa.insert(RefreshToken).values(token="conflictaaaa"))
        assert not is_lock_contention(duplicate.value)
        assert not is_lock_contention(ValueError("database is locked"))
