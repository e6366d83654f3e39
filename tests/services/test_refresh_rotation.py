"""The refresh grant's lock-free rotation (services/hot_paths/rotation.py): of several requests
that read the same live token and commit at the same moment, exactly one writes (the revoke,
the child, the session's refresh time and the audit entry) and the others write nothing; and
the statements driver_sql runs read and write values exactly as SQLAlchemy would."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gotrue_web import driver_sql
from gotrue_web.db import is_lock_contention
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, RefreshToken, Session, User
from gotrue_web.services import audit
from gotrue_web.services.hot_paths import reads, rotation

from ..conftest import api_for, table_rows
from ..factories import refresh_token_hash, statements_sent, verified_claims

NOW = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=timezone.utc)


def _token_row(app, refresh_token: str):
    rows = table_rows(app, sa.select(RefreshToken.id, RefreshToken.session_id,
                                     RefreshToken.user_id, RefreshToken.token)
                      .where(RefreshToken.token == refresh_token_hash(refresh_token)))
    assert len(rows) == 1
    return rows[0]


def _commit(app, token, child_hash: str) -> bool:
    with app.app_context():
        return rotation.commit_rotation(
            token_id=token.id, now=NOW, session_id=token.session_id,
            user_agent="racer/1.0", ip="203.0.113.9",
            audit=audit.entry_values("token_refreshed", audit.Actor(id=token.user_id),
                                     now=NOW, ip="203.0.113.9"),
            child={"instance_id": uuid.UUID(int=0), "token": child_hash,
                   "user_id": token.user_id, "revoked": False, "created_at": NOW,
                   "updated_at": NOW, "parent": token.token, "derivation_salt": "salt",
                   "session_id": token.session_id})


def _one_winner(commit, racers: int = 4) -> int:
    """Run ``commit(number)`` in ``racers`` threads at the same moment; exactly one may return
    True: its number."""
    barrier = threading.Barrier(racers)
    results: dict[int, bool] = {}

    def race(number: int) -> None:
        barrier.wait(timeout=30)
        results[number] = commit(number)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results.values()) == [False] * (racers - 1) + [True]
    return next(number for number, won in results.items() if won)


def test_of_racing_commits_exactly_one_writes(app, api):
    token = _token_row(app, api.session()["refresh_token"])
    winner = _one_winner(lambda number: _commit(app, token, f"{number:064d}"))

    chain = table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent,
                                      RefreshToken.revoked, RefreshToken.updated_at)
                       .where(RefreshToken.session_id == token.session_id)
                       .order_by(RefreshToken.id))
    assert [(row.token, row.parent, row.revoked) for row in chain] == [
        (token.token, None, True), (f"{winner:064d}", token.token, False)]
    assert chain[0].updated_at == NOW
    session = table_rows(app, sa.select(Session.refreshed_at, Session.updated_at,
                                        Session.user_agent, Session.ip)
                         .where(Session.id == token.session_id))[0]
    assert (session.refreshed_at, session.updated_at, session.user_agent, session.ip) == (
        NOW, NOW, "racer/1.0", "203.0.113.9")
    entries = table_rows(app, sa.select(AuditLogEntry.payload, AuditLogEntry.ip_address)
                         .where(AuditLogEntry.created_at == NOW))
    assert [(entry.payload["action"], entry.payload["actor_id"], entry.ip_address)
            for entry in entries] == [("token_refreshed", token.user_id, "203.0.113.9")]


def test_a_revoked_token_is_not_rotated_again(app, api):
    token = _token_row(app, api.session()["refresh_token"])
    assert _commit(app, token, "1" * 64) is True
    assert _commit(app, token, "2" * 64) is False
    children = table_rows(app, sa.select(RefreshToken.token)
                          .where(RefreshToken.parent == token.token))
    assert [row.token for row in children] == ["1" * 64]


def test_the_unlocked_read_gives_what_the_orm_reads(app, api):
    """driver_sql converts each column with SQLAlchemy's own processors: uuids, timestamps
    (UTC-aware), JSON, booleans and enums read back as the ORM reads them."""
    signed_in = api.session()
    token = _token_row(app, signed_in["refresh_token"])
    with app.app_context():
        found = reads.read_refresh_token(token.token)
        assert found is not None
        view_token, view_session, view_user = found
        user = db.session.get(User, uuid.UUID(signed_in["user"]["id"]))
        session = db.session.get(Session, token.session_id)
        for column in User.__table__.c:
            if column.name != "confirmed_at":
                assert getattr(view_user, column.name) == getattr(user, column.name), column.name
        for column in Session.__table__.c:
            assert getattr(view_session, column.name) == getattr(session, column.name), \
                column.name
        assert view_token.id == token.id and view_token.revoked is False
        assert view_user.created_at.tzinfo is not None
        assert [identity.provider for identity in view_user.identities] == ["email"]
        assert [claim.authentication_method for claim in view_session.amr_claims] == [
            "password"]
        assert reads.read_refresh_token("0" * 64) is None


# What each kind of token's common case sends: the read, then the writes (on PostgreSQL one
# statement in autocommit; elsewhere one transaction).
_ONE_READ_ONE_WRITE = {
    0: ("SELECT REFRESH_TOKENS.INSTANCE_ID,", "WITH REVOKED",
        ["UPDATE REFRESH_TOKENS", "INSERT INTO", "UPDATE SESSIONS", "INSERT INTO"]),
    # Signed tokens (algorithm 2): the session's counter instead of token rows.
    2: ("SELECT SESSIONS.ID,", "WITH ADVANCED", ["UPDATE SESSIONS", "INSERT INTO"]),
}


@pytest.mark.parametrize("algorithm", sorted(_ONE_READ_ONE_WRITE))
def test_a_live_token_refreshes_in_one_read_and_one_short_write(make_app, algorithm):
    """The refresh grant's common case: the read and the rotation's writes, nothing through the
    ORM session; on PostgreSQL the writes are one statement in autocommit."""
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_algorithm_version": algorithm})
    api = api_for(app)
    signed_in = api.session()
    with statements_sent(app, orm_prefix="orm: ") as sent:
        response = api.post("/token?grant_type=refresh_token",
                            json={"refresh_token": signed_in["refresh_token"]})
    assert response.status_code == 200, response.get_json()
    words = [" ".join(statement.split()[:2]).upper() for statement in sent]
    with app.app_context():
        dialect = db.engine.dialect.name
    read, postgres_write, writes = _ONE_READ_ONE_WRITE[algorithm]
    if dialect == "postgresql":
        assert words == [read, postgres_write]
    else:
        begin = ["BEGIN IMMEDIATE"] if dialect == "sqlite" else []
        assert words == [read, *begin, *writes, "COMMIT"]


def test_a_sqlite_writer_waits_for_the_process_writer_lock_no_longer_than_the_lock_wait(
        app, api, monkeypatch):
    """SQLite: the hot path's writers of one process queue on a lock before SQLite's; one that
    cannot have it within SQLITE_LOCK_WAIT gives up as lock contention, and writes nothing."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the process writer lock is SQLite's (the servers lock rows)")
        writers = driver_sql._sqlite_writer_lock(db.engine)
    token = _token_row(app, api.session()["refresh_token"])
    monkeypatch.setattr(driver_sql, "SQLITE_LOCK_WAIT", 0.3)
    with writers:
        started = time.monotonic()
        with pytest.raises(sa.exc.DBAPIError) as refused:
            _commit(app, token, "3" * 64)
        waited = time.monotonic() - started
    assert is_lock_contention(refused.value)
    assert 0.3 <= waited < 3
    assert table_rows(app, sa.select(RefreshToken.token)
                      .where(RefreshToken.parent == token.token)) == []
    # Once the lock is free the same rotation goes through.
    assert _commit(app, token, "3" * 64) is True


def test_of_racing_signed_commits_exactly_one_moves_the_counter(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_algorithm_version": 2})
    session_id = uuid.UUID(verified_claims(api_for(app).session()["access_token"])["session_id"])
    user_id = table_rows(app, sa.select(Session.user_id).where(Session.id == session_id))[0][0]

    def commit(number: int) -> bool:
        with app.app_context():
            return rotation.commit_signed_rotation(
                session_id=session_id, counter=1, now=NOW, user_agent=f"racer/{number}",
                ip="203.0.113.9",
                audit=audit.entry_values("token_refreshed", audit.Actor(id=str(user_id)),
                                         now=NOW, ip="203.0.113.9"))

    winner = _one_winner(commit)
    row = table_rows(app, sa.select(Session.refresh_token_counter, Session.refreshed_at,
                                    Session.user_agent).where(Session.id == session_id))[0]
    assert tuple(row) == (2, NOW, f"racer/{winner}")
    entries = table_rows(app, sa.select(AuditLogEntry.payload)
                         .where(AuditLogEntry.created_at == NOW))
    assert [entry.payload["action"] for entry in entries] == ["token_refreshed"]
