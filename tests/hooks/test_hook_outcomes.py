"""Every row of the HTTP outcome table (spec phone-sms.md 4.2) and the output parse, as the
GoTrueError ``hooks.invoke`` raises and as render_error shows it."""

from __future__ import annotations

import json
import time

import pytest

from gotrue_web.api.errors import render_error
from gotrue_web.settings import HookConfig
from gotrue_web.transports.hooks.http import MAX_BODY_BYTES
from tests.support.fake_hooks import FakeHookReceiver, Reply, closed_port_uri

from .conftest import call, call_error

UNAVAILABLE = "Service currently unavailable due to hook"
UNMARSHAL = "Error unmarshaling JSON output."


def answered(servers, hook_app, *replies: Reply):
    receiver = servers(FakeHookReceiver())
    receiver.script(*replies)
    return receiver, hook_app(receiver.uri())


def test_204_is_success_without_output(servers, hook_app):
    receiver, app = answered(servers, hook_app, Reply(204, "", None))
    assert call(app) is None
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [200, 202])
@pytest.mark.parametrize("content_type", ["application/json",
                                          "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_200_and_202_with_json_return_the_output(servers, hook_app, status, content_type):
    _, app = answered(servers, hook_app,
                      Reply(status, '{"decision":"continue","unknown":[1]}', content_type))
    assert call(app) == {"decision": "continue", "unknown": [1]}


def test_json_null_is_no_output(servers, hook_app):
    _, app = answered(servers, hook_app, Reply(200, "null"))
    assert call(app) is None


def test_missing_content_type(servers, hook_app):
    _, app = answered(servers, hook_app, Reply(200, "{}", None))
    error = call_error(app)
    assert (error.status, error.error_code, error.message) == (
        400, "hook_payload_invalid_content_type",
        "Invalid Content-Type: Missing Content-Type header")


@pytest.mark.parametrize("content_type", ["text/plain", "text/html; charset=utf-8"])
def test_other_content_type(servers, hook_app, content_type):
    _, app = answered(servers, hook_app, Reply(202, "{}", content_type))
    error = call_error(app)
    assert (error.status, error.error_code, error.message) == (
        400, "hook_payload_invalid_content_type",
        f"Invalid JSON response. Received content-type: {content_type}")


def _json_of_size(size: int) -> str:
    body = json.dumps({"pad": ""})
    return json.dumps({"pad": "x" * (size - len(body))})


def test_body_at_the_size_limit_is_read(servers, hook_app):
    body = _json_of_size(MAX_BODY_BYTES)
    assert len(body) == 204800
    _, app = answered(servers, hook_app, Reply(200, body))
    assert len(call(app)["pad"]) == 204800 - len('{"pad": ""}')


def test_body_over_the_size_limit(servers, hook_app):
    _, app = answered(servers, hook_app, Reply(200, _json_of_size(MAX_BODY_BYTES + 1)))
    error = call_error(app)
    assert (error.status, error.error_code, error.message) == (
        422, "hook_payload_over_size_limit", "Payload size exceeded size limit of 204800 bytes")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_retries_at_once_up_to_three_times(servers, hook_app, status):
    busy = Reply(status, "", None, headers={"Retry-After": "30"})
    receiver, app = answered(servers, hook_app, busy, busy, busy, Reply(204, "", None))
    started = time.monotonic()
    error = call_error(app)
    # No backoff: honouring Retry-After would take 60 s; a loaded machine may take a few.
    assert time.monotonic() - started < 15
    assert (error.status, error.message) == (500, UNAVAILABLE)
    assert len(receiver.received) == 3


def test_retry_after_then_success(servers, hook_app):
    busy = Reply(503, "", None, headers={"Retry-After": "1"})
    receiver, app = answered(servers, hook_app, busy, busy, Reply(200, '{"sent":1}'))
    assert call(app) == {"sent": 1}
    assert len(receiver.received) == 3


@pytest.mark.parametrize("status", [429, 503])
def test_busy_without_retry_after_fails_at_once(servers, hook_app, status):
    receiver, app = answered(servers, hook_app, Reply(status, "", None), Reply(204, "", None))
    error = call_error(app)
    assert (error.status, error.message) == (500, UNAVAILABLE)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status, message", [
    (400, "Invalid payload sent to hook"),
    (401, "Hook requires authorization token"),
    (418, "Unexpected status code returned from hook: 418"),
    (500, "Unexpected status code returned from hook: 500"),
])
def test_other_statuses_are_500(servers, hook_app, status, message):
    receiver, app = answered(servers, hook_app, Reply(status, '{"error":"x"}'))
    error = call_error(app)
    assert (error.status, error.message) == (500, message)
    assert len(receiver.received) == 1


def _rendered(app, error, api_version: str | None = None):
    headers = {"X-Supabase-Api-Version": api_version} if api_version else {}
    with app.test_request_context("/otp", headers=headers):
        response = render_error(error)
    return response.status_code, response.headers, response.get_json()


def test_error_object_gives_its_status_and_message_without_error_code(servers, hook_app):
    _, app = answered(servers, hook_app,
                      Reply(200, '{"error":{"http_code":403,"message":"no"}}'))
    error = call_error(app)
    assert (error.status, error.error_code, error.message) == (403, "", "no")
    status, headers, body = _rendered(app, error)
    assert status == 403 and "x-sb-error-code" not in headers
    assert body == {"code": 403, "msg": "no"}
    status, headers, body = _rendered(app, error, "2024-01-01")
    assert status == 403 and "x-sb-error-code" not in headers
    assert body == {"code": "unknown", "message": "no"}


@pytest.mark.parametrize("error_object", [{"message": "boom"},
                                          {"message": "boom", "http_code": 0}])
def test_error_object_without_http_code_is_500(servers, hook_app, error_object):
    _, app = answered(servers, hook_app, Reply(200, json.dumps({"error": error_object})))
    error = call_error(app)
    assert (error.status, error.message) == (500, "boom")


def test_error_object_with_an_empty_message_is_ignored(servers, hook_app):
    output = {"error": {"http_code": 403, "message": ""}, "decision": "continue"}
    _, app = answered(servers, hook_app, Reply(200, json.dumps(output)))
    assert call(app) == output


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', "", "42"])
def test_unreadable_output(servers, hook_app, body):
    _, app = answered(servers, hook_app, Reply(200, body))
    error = call_error(app)
    assert (error.status, error.message) == (500, UNMARSHAL)


def test_a_stalled_hook_times_out_after_five_seconds(servers, hook_app):
    receiver, app = answered(servers, hook_app, Reply(200, "{}", delay=6))
    started = time.monotonic()
    error = call_error(app)
    elapsed = time.monotonic() - started
    assert (error.status, error.error_code, error.message) == (
        422, "hook_timeout", "Failed to reach hook within maximum time of 5.000000 seconds")
    # Not the receiver's 6 s; the upper bound leaves room for a loaded CI machine.
    assert 4.5 <= elapsed <= 8.5
    assert len(receiver.received) == 1


def test_a_refused_port_fails_after_three_attempts(hook_app):
    app = hook_app(closed_port_uri())
    started = time.monotonic()
    error = call_error(app)
    elapsed = time.monotonic() - started
    assert (error.status, error.error_code, error.message) == (
        422, "hook_timeout_after_retry", "Failed to reach hook after maximum retries")
    # Two 2 s pauses between three attempts (about 4 s; the attempt count is
    # test_hook_log.py's). The upper bound leaves room for a loaded CI machine, which once
    # took 5.9 s.
    assert 3.5 <= elapsed <= 8.0


def test_enabled_without_a_uri_fails_each_call(make_app):
    app = make_app(**{"hooks.send_sms": HookConfig(True, "", ())})
    error = call_error(app)
    assert error.status == 500
