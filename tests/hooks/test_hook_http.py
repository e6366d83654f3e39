"""The HTTP transport's request (spec phone-sms.md 4.2): Standard Webhooks signatures (the test
vector, two secrets, none, an asymmetric secret), headers and the event's metadata."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gotrue_web.services.hooks import EVENT_NAMES
from gotrue_web.transports.hooks.http import signature_header
from tests.support.fake_hooks import OTHER_SECRET, SECRET, FakeHookReceiver, Reply

from .conftest import call, call_error

VECTOR_ID = "11111111-1111-4111-8111-111111111111"


def test_signature_matches_the_spec_test_vector():
    assert (signature_header((SECRET,), VECTOR_ID, 1700000000, b'{"a":1}')
            == "v1,m9cm4+N4glnm6ehJHP1bbe1pysG/ef0UkOIBy90dt3Y=")


def test_request_headers_and_signature(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    app = hook_app(receiver.uri("/sms"))
    before = int(time.time())
    assert call(app) is None
    [request] = receiver.received
    assert request.path == "/sms"
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["accept-encoding"] == "identity"
    webhook_id = uuid.UUID(headers["webhook-id"])
    assert webhook_id.version == 4
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert headers["webhook-signature"].startswith("v1,")
    assert FakeHookReceiver.verify(request, SECRET)["sms"] == {"otp": "123456",
                                                              "phone": "15550001111"}
    # Compact JSON, metadata first.
    assert request.body.startswith(b'{"metadata":{"uuid":"')
    assert b": " not in request.body and b", " not in request.body


def test_two_secrets_sign_twice_separated_by_comma_space(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    call(hook_app(receiver.uri(), (SECRET, OTHER_SECRET)))
    [request] = receiver.received
    signatures = request.headers["webhook-signature"].split(", ")
    assert len(signatures) == 2 and all(sig.startswith("v1,") for sig in signatures)
    assert signatures[0] != signatures[1]
    # Each receiver, knowing only its own secret, accepts the request (tolerating the comma
    # that ends every entry but the last, as the spec asks of verifiers).
    assert FakeHookReceiver.verify(request, SECRET)
    # Stock standardwebhooks, given the header as sent, matches the last entry only.
    assert Webhook(OTHER_SECRET.removeprefix("v1,")).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET.removeprefix("v1,")).verify(request.body, request.headers)
    assert FakeHookReceiver.verify(request, OTHER_SECRET)
    timestamp = int(request.headers["webhook-timestamp"])
    for secret, signature in zip((SECRET, OTHER_SECRET), signatures):
        assert signature_header((secret,), request.headers["webhook-id"], timestamp,
                                request.body) == signature


def test_no_secrets_send_an_empty_signature(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    call(hook_app(receiver.uri(), ()))
    [request] = receiver.received
    assert request.headers["webhook-signature"] == ""


def test_an_asymmetric_secret_fails_every_call(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    app = hook_app(receiver.uri(), (SECRET, "v1a,whpk_cHVibGlj:whsk_c2VjcmV0"))
    for _ in range(2):
        error = call_error(app)
        assert (error.status, error.message) == (
            500, "Error generating signatures: invalid signature format")
    assert receiver.received == []


def test_each_attempt_has_a_fresh_webhook_id_and_its_own_signature(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    receiver.script(Reply(503, "", None, headers={"Retry-After": "1"}),
                    Reply(429, "", None, headers={"Retry-After": "1"}),
                    Reply(200, '{"ok":true}'))
    assert call(hook_app(receiver.uri())) == {"ok": True}
    ids = [request.headers["webhook-id"] for request in receiver.received]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(uuid.UUID(value).version == 4 for value in ids)
    for request in receiver.received:
        assert FakeHookReceiver.verify(request, SECRET)
    # The event itself (and its metadata uuid) is the same on every attempt.
    assert len({request.body for request in receiver.received}) == 1


@pytest.mark.parametrize("name", sorted(EVENT_NAMES))
def test_metadata_names_each_hook(servers, hook_app, name):
    receiver = servers(FakeHookReceiver())
    call(hook_app(receiver.uri(), name=name), {"user_id": "u1"}, name=name)
    [event] = receiver.events()
    assert list(event) == ["metadata", "user_id"]
    assert event["metadata"]["name"] == EVENT_NAMES[name]


def test_metadata_uuid_time_and_ip_address(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    app = hook_app(receiver.uri())
    call(app)
    call(app, ip="203.0.113.7")
    without_ip, with_ip = (event["metadata"] for event in receiver.events())
    assert set(without_ip) == {"uuid", "time", "name"}
    assert with_ip["ip_address"] == "203.0.113.7"
    assert list(with_ip) == ["uuid", "time", "name", "ip_address"]
    for metadata in (without_ip, with_ip):
        assert uuid.UUID(metadata["uuid"]).version == 4
        assert metadata["name"] == "send-sms"
        stamp = datetime.fromisoformat(metadata["time"].replace("Z", "+00:00"))
        assert stamp.tzinfo is not None
    assert without_ip["uuid"] != with_ip["uuid"]


def test_redirects_are_followed(servers, hook_app):
    receiver = servers(FakeHookReceiver())
    receiver.script(Reply(307, "", None, headers={"Location": "/moved"}),
                    Reply(200, json.dumps({"moved": True})))
    assert call(hook_app(receiver.uri("/first"))) == {"moved": True}
    assert [request.path for request in receiver.received] == ["/first", "/moved"]
