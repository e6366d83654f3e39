"""hook_deliveries: one row per call, written after the call's app context ends (also when the
call failed and the request rolled back), without the URI's query or credentials; rows older
than GOTRUE_HOOK_DELIVERY_LOG_DAYS go when a new one is written."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.errors import GoTrueError
from gotrue_web.extensions import db
from gotrue_web.models import HookDelivery
from gotrue_web.services import hooks
from gotrue_web.services.hooks.log import shown_uri
from tests.factories import freeze_clock, later
from tests.support.fake_hooks import FakeHookReceiver, Reply, closed_port_uri

from .conftest import call, call_error


def deliveries(app) -> list[HookDelivery]:
    with app.app_context():
        rows = db.session.scalars(sa.select(HookDelivery).order_by(HookDelivery.created_at))
        return list(rows)


def test_a_successful_call_is_logged(servers, hook_app):
    receiver = servers(FakeHookReceiver(Reply(200, '{"ok":1}')))
    app = hook_app(receiver.uri("/hook?token=s3cret#frag"))
    call(app)
    [row] = deliveries(app)
    assert (row.hook, row.status, row.http_status, row.attempts, row.error, row.test) == (
        "send_sms", "succeeded", 200, 1, None, False)
    assert row.uri == receiver.uri("/hook")
    assert "s3cret" not in row.uri
    assert 0 <= row.latency_ms < 2000
    assert row.event_id == receiver.received[0].headers["webhook-id"]


def test_a_failed_call_is_logged_with_its_error(servers, hook_app):
    busy = Reply(503, "", None, headers={"Retry-After": "1"})
    receiver = servers(FakeHookReceiver(busy))
    app = hook_app(receiver.uri())
    call_error(app, test=True)
    [row] = deliveries(app)
    assert (row.status, row.http_status, row.attempts, row.error, row.test) == (
        "failed", 503, 3, "Service currently unavailable due to hook", True)


def test_an_oversized_answer_keeps_its_status(servers, hook_app):
    receiver = servers(FakeHookReceiver(Reply(200, "[" + "0," * 110000 + "0]")))
    call_error(hook_app(receiver.uri()))
    [row] = deliveries(hook_app(receiver.uri()))
    assert (row.status, row.http_status, row.error) == (
        "failed", 200, "Payload size exceeded size limit of 204800 bytes")


def test_an_unreachable_hook_logs_three_attempts_and_the_latency(hook_app):
    app = hook_app(closed_port_uri())
    call_error(app)
    [row] = deliveries(app)
    assert (row.status, row.http_status, row.attempts) == ("failed", None, 3)
    assert row.error == "Failed to reach hook after maximum retries"
    assert 3500 <= row.latency_ms <= 5000


def test_the_row_survives_the_request_rolling_back(servers, hook_app):
    receiver = servers(FakeHookReceiver(Reply(401, "", None)))
    app = hook_app(receiver.uri())
    with app.app_context():
        probe = HookDelivery(id=uuid.uuid4(), created_at=datetime.now(timezone.utc),
                             hook="probe", uri="x", status="succeeded")
        db.session.add(probe)
        db.session.flush()
        with pytest.raises(GoTrueError):
            hooks.invoke(app.extensions["gotrue"], "send_sms", {"sms": {}})
        # The view does not commit after an error; the context ends (teardown).
    rows = deliveries(app)
    assert [(row.hook, row.error) for row in rows] == [
        ("send_sms", "Hook requires authorization token")]


def test_old_rows_are_deleted_when_a_new_one_is_written(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    app = hook_app(receiver.uri(), **{"hooks.delivery_log_days": 7})
    freeze_clock(app, datetime(2026, 1, 1, tzinfo=timezone.utc))
    call(app)
    later(app, 6 * 86400)
    call(app)
    assert len(deliveries(app)) == 2
    later(app, 2 * 86400)  # day 8: the first row is past 7 days
    call(app)
    rows = deliveries(app)
    assert [row.created_at.day for row in rows] == [7, 9]


def test_shown_uri_drops_credentials_query_and_fragment():
    assert (shown_uri("https://user:pw@hooks.example.com:8443/a/b?key=1#x")
            == "https://hooks.example.com:8443/a/b")
    assert shown_uri("pg-functions://postgres/public/hook") == "pg-functions://postgres/public/hook"
