"""pg-functions:// hooks (spec phone-sms.md 4.3): the function is called by its quoted name with
the event as an untyped parameter, under a 2 s statement timeout inside the caller's transaction
(none outside one); SQL errors become 500 "Error running hook URI: ..." and roll the request
back. On SQLite and MariaDB such hooks are refused at start-up."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gotrue_web import create_app
from gotrue_web.errors import GoTrueError
from gotrue_web.extensions import db
from gotrue_web.models import HookDelivery
from gotrue_web.services import hooks
from gotrue_web.settings import HookConfig, SettingsError

from .conftest import call, call_error

POSTGRES_ONLY = pytest.mark.skipif(
    "postgresql" not in os.environ.get("TEST_DATABASE_URL", ""),
    reason="pg-functions:// hooks need PostgreSQL (TEST_DATABASE_URL is not PostgreSQL)")

FUNCTIONS = {
    "h_echo": ("jsonb", "select e"),
    "h_json": ("json", "select e"),
    "h_forbid": ("jsonb", """select '{"error":{"http_code":403,"message":"no"}}'::jsonb"""),
    "h_null": ("jsonb", "select null::jsonb"),
    "h_sleep": ("jsonb", "select pg_sleep(6); select '{\"slept\":true}'::jsonb"),
    "HookMixedCase": ("jsonb", """select '{"mixed":true}'::jsonb"""),
}


@pytest.fixture
def pg(pg_schema, make_app):
    """Creates the hook functions in the run's schema; ``pg(fn, name)`` is an app whose hook
    ``name`` (send_sms by default) calls ``fn``."""
    schema = pg_schema.name
    pg_schema.run(
        *(f'create or replace function "{schema}"."{name}"(e {kind}) returns {kind} '
          f"language sql as $fn$ {body} $fn$" for name, (kind, body) in FUNCTIONS.items()),
        f'create or replace function "{schema}".h_raise(e jsonb) returns jsonb '
        "language plpgsql as $fn$ begin raise exception 'hook said no'; end $fn$")

    def build(function: str, name: str = "send_sms"):
        return make_app(**{f"hooks.{name}": HookConfig(True, pg_schema.uri(function), ())})

    return build


def _uri(app, name="send_sms") -> str:
    return app.extensions["gotrue"].settings.hooks.get(name).uri


@POSTGRES_ONLY
@pytest.mark.parametrize("function", ["h_echo", "h_json"])
def test_the_function_gets_the_event_and_its_answer_is_the_output(pg, function):
    output = call(pg(function), {"sms": {"otp": "123456", "phone": "15550001111"}},
                  ip="198.51.100.4")
    assert output["sms"] == {"otp": "123456", "phone": "15550001111"}
    assert output["metadata"]["name"] == "send-sms"
    assert output["metadata"]["ip_address"] == "198.51.100.4"


@POSTGRES_ONLY
def test_a_mixed_case_function_name_is_quoted(pg):
    assert call(pg("HookMixedCase")) == {"mixed": True}


@POSTGRES_ONLY
def test_null_is_no_output(pg):
    assert call(pg("h_null")) is None


@POSTGRES_ONLY
def test_an_error_object_becomes_the_error(pg):
    error = call_error(pg("h_forbid"))
    assert (error.status, error.error_code, error.message) == (403, "", "no")


@POSTGRES_ONLY
@pytest.mark.parametrize("function", ["h_raise", "h_missing", "hookmixedcase"])
def test_sql_errors_are_500_naming_the_uri(pg, function):
    app = pg(function)
    error = call_error(app)
    assert (error.status, error.error_code, error.message) == (
        500, "unexpected_failure", f"Error running hook URI: {_uri(app)}")
    with app.app_context():
        [row] = db.session.scalars(sa.select(HookDelivery))
    assert (row.status, row.http_status, row.uri) == ("failed", None, _uri(app))


@POSTGRES_ONLY
def test_a_slow_function_in_the_callers_transaction_is_stopped_and_rolls_back(pg):
    app = pg("h_sleep")
    probe_id = uuid.uuid4()
    with app.app_context():
        db.session.add(HookDelivery(id=probe_id, created_at=datetime.now(timezone.utc),
                                    hook="probe", uri="x", status="succeeded"))
        db.session.flush()
        started = time.monotonic()
        with pytest.raises(GoTrueError) as caught:
            hooks.invoke(app.extensions["gotrue"], "send_sms", {"sms": {}})
        elapsed = time.monotonic() - started
        # The request's transaction is aborted: nothing more runs in it.
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.text("select 1"))
    # The 2 s statement limit, not the function's 6 s sleep (room for a loaded machine).
    assert 1.5 <= elapsed < 5
    assert (caught.value.status, caught.value.message) == (
        500, f"Error running hook URI: {_uri(app)}")
    with app.app_context():
        assert db.session.get(HookDelivery, probe_id) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(HookDelivery)) == 1


@POSTGRES_ONLY
def test_a_slow_function_outside_a_transaction_has_no_statement_timeout(pg):
    app = pg("h_sleep", "before_user_created")
    started = time.monotonic()
    assert call(app, {"user": {}}, "before_user_created", in_transaction=False) == {
        "slept": True}
    assert time.monotonic() - started >= 2.9


@POSTGRES_ONLY
def test_the_callers_transaction_keeps_its_writes_and_timeout_after_success(pg):
    app = pg("h_echo")
    probe_id = uuid.uuid4()
    with app.app_context():
        db.session.add(HookDelivery(id=probe_id, created_at=datetime.now(timezone.utc),
                                    hook="probe", uri="x", status="succeeded"))
        db.session.flush()
        hooks.invoke(app.extensions["gotrue"], "send_sms", {"sms": {}})
        assert db.session.scalar(sa.text("show statement_timeout")) == "0"
        db.session.commit()
    with app.app_context():
        assert db.session.get(HookDelivery, probe_id) is not None


def test_pg_function_hooks_need_postgresql(settings):
    hooked = settings.replace(**{"hooks.send_sms": HookConfig(
        True, "pg-functions://postgres/public/hook", ())})
    if settings.db.url.startswith("postgresql"):
        create_app(hooked)
        return
    with pytest.raises(SettingsError) as caught:
        create_app(hooked)
    assert str(caught.value).startswith("GOTRUE_HOOK_SEND_SMS_URI: pg-functions:// hooks need "
                                        "PostgreSQL")
    # A disabled pg hook does not stop start-up.
    create_app(settings.replace(**{"hooks.send_sms": HookConfig(
        False, "pg-functions://postgres/public/hook", ())}))
