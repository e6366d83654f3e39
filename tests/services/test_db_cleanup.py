"""The database cleanup (services/cleanup): what goes and when, batches, rows another transaction
holds, the per-process thread, ``flask --app wsgi cleanup`` and GOTRUE_DB_CLEANUP_INTERVAL.

Rows are made through the API where there is one, at a clock the test moves; the cleanup judges
age by the same clock."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import (
    AMRClaim,
    Challenge,
    Factor,
    FlowState,
    RefreshToken,
    SAMLRelayState,
    Session,
    SSOProvider,
)
from gotrue_web.services import cleanup
from gotrue_web.settings import db as db_settings
from gotrue_web.settings.env import EnvReader, SettingsError

from ..conftest import table_rows
from ..factories import claims, make_user, refresh_token_hash

# Now, not a date in the past: rows made then are new to any other process's clock.
START = datetime.now(timezone.utc).replace(second=0, microsecond=0)
DAY = timedelta(hours=24)
MINUTE = timedelta(minutes=1)


def _at(rt, moment: datetime) -> None:
    rt.clock = lambda: moment


def _run(app, **options) -> dict[str, int]:
    with app.app_context():
        return cleanup.run(app.extensions["gotrue"], **options)


def _tokens(app, session_id) -> list[tuple[str, bool, datetime]]:
    return [tuple(row) for row in table_rows(app, sa.select(
        RefreshToken.token, RefreshToken.revoked, RefreshToken.updated_at)
        .where(RefreshToken.session_id == session_id).order_by(RefreshToken.id))]


def _session_id(body: dict) -> uuid.UUID:
    return uuid.UUID(claims(body["access_token"])["session_id"])


def _refreshed(api, refresh_token: str) -> dict:
    response = api.refresh(refresh_token)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_revoked_refresh_tokens_go_a_day_after_their_revocation(app, api, rt):
    _at(rt, START)
    first = api.session()
    session_id = _session_id(first)
    second = _refreshed(api, first["refresh_token"])
    _at(rt, START + timedelta(hours=1))
    third = _refreshed(api, second["refresh_token"])

    _at(rt, START + DAY - MINUTE)
    assert _run(app) == {}
    assert len(_tokens(app, session_id)) == 3

    # The first was revoked at START, the second an hour later.
    _at(rt, START + DAY + MINUTE)
    assert _run(app) == {"revoked_refresh_tokens": 1}
    assert [row[0] for row in _tokens(app, session_id)] == [
        refresh_token_hash(second["refresh_token"]), refresh_token_hash(third["refresh_token"])]

    _at(rt, START + DAY + timedelta(hours=1, minutes=1))
    assert _run(app) == {"revoked_refresh_tokens": 1}
    assert [row[:2] for row in _tokens(app, session_id)] == [
        (refresh_token_hash(third["refresh_token"]), False)]
    # A deleted token is unknown now (no reuse detection left for it); the live one works.
    response = api.refresh(first["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["code"] == "refresh_token_not_found"
    assert _refreshed(api, third["refresh_token"])["user"]["id"] == first["user"]["id"]


def test_ended_sessions_lose_their_tokens_a_day_later_and_go_after_three(app, api, rt):
    _at(rt, START)
    ended, kept = api.session(), api.session()
    ended_id, kept_id = _session_id(ended), _session_id(kept)
    with app.app_context():
        db.session.execute(sa.update(Session).where(Session.id == ended_id)
                           .values(not_after=START + timedelta(hours=1)))
        db.session.commit()
    end = START + timedelta(hours=1)

    _at(rt, end + DAY - MINUTE)
    assert _run(app) == {}
    _at(rt, end + DAY + MINUTE)
    assert _run(app) == {"ended_session_tokens_revoked": 1}
    assert _tokens(app, ended_id) == [
        (refresh_token_hash(ended["refresh_token"]), True, end + DAY + MINUTE)]
    assert _tokens(app, kept_id)[0][1] is False

    _at(rt, end + 3 * DAY - MINUTE)
    assert _run(app) == {"revoked_refresh_tokens": 1}
    _at(rt, end + 3 * DAY + MINUTE)
    assert _run(app) == {"ended_sessions": 1}
    sessions = {row[0] for row in table_rows(app, sa.select(Session.id))}
    assert sessions == {kept_id}
    claims = {row[0] for row in table_rows(app, sa.select(AMRClaim.session_id))}
    assert claims == {kept_id}
    assert len(_tokens(app, kept_id)) == 1


def test_sessions_without_an_end_stay(app, api, rt):
    _at(rt, START)
    body = api.session()
    _at(rt, START + timedelta(days=400))
    assert _run(app) == {}
    assert _tokens(app, _session_id(body))[0][1] is False


@pytest.mark.parametrize("setting, limit, name", [
    ("sessions.timebox", timedelta(hours=1), "timeboxed_sessions"),
    ("sessions.inactivity_timeout", timedelta(minutes=30), "inactive_sessions"),
])
def test_timeboxed_and_inactive_sessions_go_a_day_after_they_ended(make_app, setting, limit,
                                                                    name):
    from ..conftest import api_for

    app = make_app(**{"mailer.autoconfirm": True, setting: limit})
    rt, api = app.extensions["gotrue"], api_for(app)
    _at(rt, START)
    body = api.session()
    session_id = _session_id(body)
    # Activity ten minutes in: the inactivity timeout counts from it, the timebox does not.
    _at(rt, START + timedelta(minutes=10))
    _refreshed(api, body["refresh_token"])
    ended = START + limit + (timedelta(minutes=10) if "inactivity" in setting else timedelta(0))

    # The token the refresh revoked goes first (a day after it), the session a minute later.
    _at(rt, ended + DAY - MINUTE)
    assert _run(app) == {"revoked_refresh_tokens": 1}
    assert table_rows(app, sa.select(Session.id)) == [(session_id,)]
    _at(rt, ended + DAY + MINUTE)
    assert _run(app) == {name: 1}
    assert table_rows(app, sa.select(Session.id)) == []
    assert table_rows(app, sa.select(RefreshToken.id)) == []


def _flow_state(created_at: datetime) -> FlowState:
    return FlowState(auth_code=str(uuid.uuid4()), code_challenge_method="s256",
                     code_challenge="challenge", provider_type="email",
                     authentication_method="magiclink", created_at=created_at,
                     updated_at=created_at)


def test_flow_states_relay_states_challenges_and_expired_unverified_factors_go(app, rt):
    user_id = make_user(app, created_at=START)
    with app.app_context():
        old_flow, new_flow = _flow_state(START), _flow_state(START + timedelta(hours=2))
        provider = SSOProvider(id=uuid.uuid4(), created_at=START, updated_at=START)
        db.session.add_all([old_flow, new_flow, provider])
        db.session.flush()
        relay = SAMLRelayState(sso_provider_id=provider.id, request_id="id-1",
                               created_at=START, updated_at=START)
        factors = {status: Factor(user_id=user_id, friendly_name=status, factor_type="totp",
                                  status=status, created_at=START, updated_at=START)
                   for status in ("verified", "unverified")}
        # Unverified too, but challenged a minute before the pass: not expired yet (the
        # enrolment's rule, MFA_FACTOR_EXPIRY_DURATION, 5 minutes here).
        factors["challenged"] = Factor(
            user_id=user_id, friendly_name="challenged", factor_type="totp",
            status="unverified", created_at=START, updated_at=START,
            last_challenged_at=START + DAY + timedelta(minutes=59))
        db.session.add_all([relay, *factors.values()])
        db.session.flush()
        db.session.add_all([
            Challenge(factor_id=factors["verified"].id, created_at=START, ip_address="::1"),
            Challenge(factor_id=factors["verified"].id, created_at=START + timedelta(hours=2),
                      ip_address="::1")])
        db.session.commit()
        new_flow_id = new_flow.id
        kept_factors = {factors["verified"].id, factors["challenged"].id}

    _at(rt, START + DAY + timedelta(hours=1))
    assert _run(app) == {"flow_states": 1, "saml_relay_states": 1,
                         "mfa_challenges": 1, "unverified_mfa_factors": 1}
    assert table_rows(app, sa.select(FlowState.id)) == [(new_flow_id,)]
    assert table_rows(app, sa.select(SAMLRelayState.id)) == []
    assert {row[0] for row in table_rows(app, sa.select(Factor.id))} == kept_factors
    assert [row[0] for row in table_rows(app, sa.select(Challenge.created_at))] == [
        START + timedelta(hours=2)]


def test_a_pass_works_in_batches_until_nothing_is_due_or_it_is_stopped(app, api, rt):
    _at(rt, START)
    body = api.session()
    for _ in range(7):
        body = _refreshed(api, body["refresh_token"])
    session_id = _session_id(body)
    _at(rt, START + DAY + MINUTE)
    stop = threading.Event()
    with app.app_context(), db.engine.connect() as connection:
        assert cleanup.run_pass(connection, rt.settings, rt.now(), batch=2, max_batches=1) == {
            "revoked_refresh_tokens": 2}
        assert len(_tokens(app, session_id)) == 6
        stop.set()
        assert cleanup.run_pass(connection, rt.settings, rt.now(), batch=2, stop=stop) == {}
        assert len(_tokens(app, session_id)) == 6
        # Paced, as the thread runs it: a rest after each full batch, then on to the end.
        assert cleanup.run_pass(connection, rt.settings, rt.now(), batch=2, paced=True) == {
            "revoked_refresh_tokens": 5}
    assert [row[:2] for row in _tokens(app, session_id)] == [
        (refresh_token_hash(body["refresh_token"]), False)]


def test_a_row_another_transaction_holds_is_left_for_a_later_pass(app, api, rt):
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect == "sqlite":
        pytest.skip("SQLite has one writer: the pass waits for it instead (no row locks)")
    _at(rt, START)
    first = api.session()
    second = _refreshed(api, first["refresh_token"])
    _refreshed(api, second["refresh_token"])
    _at(rt, START + DAY + MINUTE)
    held = refresh_token_hash(first["refresh_token"])
    outcome: dict = {}
    with app.app_context(), db.engine.connect() as holder:
        transaction = holder.begin()
        holder.execute(sa.select(RefreshToken.id).where(RefreshToken.token == held)
                       .with_for_update()).one()
        # On a thread of its own, so that a pass that waited for the row is seen, not hung on.
        worker = threading.Thread(target=lambda: outcome.update(removed=_run(app)))
        worker.start()
        worker.join(10)
        waited = worker.is_alive()
        transaction.rollback()
        worker.join(30)
    assert not waited, "the pass waited for the row another transaction holds"
    assert outcome["removed"] == {"revoked_refresh_tokens": 1}
    assert [row[0] for row in _tokens(app, _session_id(first))][0] == held
    assert _run(app) == {"revoked_refresh_tokens": 1}


def test_the_thread_cleans_every_interval(make_app, caplog):
    from ..conftest import api_for

    # Before anything: the thread may log its pass as soon as the clock moves.
    caplog.set_level(logging.INFO, logger="gotrue_web.services.cleanup.runner")
    app = make_app(**{"mailer.autoconfirm": True,
                      "db.cleanup_interval": timedelta(milliseconds=100)})
    rt, api = app.extensions["gotrue"], api_for(app)
    _at(rt, START)
    first = api.session()
    _refreshed(api, first["refresh_token"])
    _at(rt, START + DAY + MINUTE)
    deadline = time.monotonic() + 20
    while len(_tokens(app, _session_id(first))) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_tokens(app, _session_id(first))) == 1
    assert rt.cleaner.passes >= 1
    deadline = time.monotonic() + 5
    while "revoked_refresh_tokens" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "database cleanup: revoked_refresh_tokens=1" in caplog.text
    rt.cleaner.stop()
    assert not rt.cleaner.thread.thread.is_alive()


def test_no_thread_when_the_interval_is_zero(app, api, rt):
    api.session()
    assert rt.settings.db.cleanup_interval == timedelta(0)
    assert rt.cleaner.thread.thread is None


def test_the_command_cleans_everything_now(app, api, rt):
    _at(rt, START)
    body = api.session()
    for _ in range(3):
        body = _refreshed(api, body["refresh_token"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0, result.output
    assert result.output == "database cleanup: nothing to do\n"
    _at(rt, START + DAY + MINUTE)
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0, result.output
    assert result.output == "database cleanup: revoked_refresh_tokens=3\n"
    assert len(_tokens(app, _session_id(body))) == 1


def test_the_interval_is_read_from_the_environment():
    assert db_settings.read(EnvReader({})).cleanup_interval == timedelta(minutes=5)
    assert db_settings.read(EnvReader({"GOTRUE_DB_CLEANUP_INTERVAL": "30s"})).cleanup_interval \
        == timedelta(seconds=30)
    assert db_settings.read(EnvReader({"GOTRUE_DB_CLEANUP_INTERVAL": "0"})).cleanup_interval \
        == timedelta(0)
    with pytest.raises(SettingsError, match="GOTRUE_DB_CLEANUP_INTERVAL"):
        db_settings.read(EnvReader({"GOTRUE_DB_CLEANUP_INTERVAL": "soon"}))


def test_a_pass_that_fails_half_way_still_reports_what_it_removed(tmp_path, caplog):
    """On a database of its own (SQLite, whatever the run's): a table of a later job is gone,
    so the pass fails there, after its earlier jobs committed."""
    from gotrue_web import create_app
    from gotrue_web.db import Base

    from ..conftest import BASE_SETTINGS, api_for

    app = create_app(BASE_SETTINGS.replace(**{
        "db.url": f"sqlite:///{tmp_path / 'half-way.db'}", "mailer.autoconfirm": True,
        "db.cleanup_interval": timedelta(hours=1)}))
    rt, api = app.extensions["gotrue"], api_for(app)
    try:
        with app.app_context():
            Base.metadata.create_all(db.engine)
        _at(rt, START)
        body = api.session()
        third = _refreshed(api, _refreshed(api, body["refresh_token"])["refresh_token"])
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE saml_relay_states"))
            connection.execute(sa.text("DROP TABLE flow_state"))
        _at(rt, START + DAY + MINUTE)
        removed: dict[str, int] = {}
        with app.app_context(), pytest.raises(sa.exc.OperationalError):
            cleanup.run(rt, removed=removed)
        assert removed == {"revoked_refresh_tokens": 2}
        assert len(_tokens(app, _session_id(body))) == 1

        # The thread's pass logs both: what it removed and why it stopped.
        _refreshed(api, third["refresh_token"])
        _at(rt, START + 2 * DAY + 2 * MINUTE)
        caplog.set_level(logging.INFO, logger="gotrue_web.services.cleanup.runner")
        rt.cleaner.run_once(app)
        assert "database cleanup: revoked_refresh_tokens=1" in caplog.text
        assert "database cleanup failed (OperationalError" in caplog.text
        assert rt.cleaner.passes == 1
    finally:
        rt.cleaner.stop()
        rt.outbox.stop()
        rt.live_settings.stop()
        with app.app_context():
            db.engine.dispose()
