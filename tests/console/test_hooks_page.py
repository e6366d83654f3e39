"""The auth hooks page (issue 12): every hook with its URI shown without credentials or query,
its secrets only counted, its last deliveries; the legacy webhook; the delivery log with its
filters and pages; and "send a test event", which reaches a loopback receiver signed with the
hook's secret, is audited, and shows the hook's output or error and the new delivery."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, HookDelivery
from gotrue_web.services import audit
from gotrue_web.settings import HOOK_NAMES, HookConfig, WebhookSettings

from ..factories import freeze_clock
from ..support.fake_hooks import OTHER_SECRET, SECRET, FakeHookReceiver, Reply
from .conftest import signed_in
from .log_pages import pager_link, row_html, row_ids, walk

QUERY_TOKEN = "query-token-never-shown"
USERINFO = "hookuser:userinfo-password"
WEBHOOK_SECRET = "legacy-webhook-secret-never-shown"


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver())


def hook_app(make_app, settings: dict | None = None, **hooks):
    overrides = {f"hooks.{name}": config for name, config in hooks.items()}
    return make_app(**{"mailer.autoconfirm": True, **overrides, **(settings or {})})


def add_delivery(app, hook: str, *, status: str = "succeeded", seconds_ago: int = 0,
                 **fields) -> uuid.UUID:
    rt = app.extensions["gotrue"]
    with app.app_context():
        entry = HookDelivery(
            id=uuid.uuid4(), created_at=rt.now() - timedelta(seconds=seconds_ago), hook=hook,
            uri=fields.pop("uri", "https://hooks.example.com/endpoint"), status=status,
            http_status=fields.pop("http_status", 200 if status == "succeeded" else 500),
            attempts=fields.pop("attempts", 1), latency_ms=fields.pop("latency_ms", 42),
            test=fields.pop("test", False), **fields)
        db.session.add(entry)
        db.session.commit()
        return entry.id


def deliveries(app, hook: str | None = None) -> list[HookDelivery]:
    with app.app_context():
        query = sa.select(HookDelivery).order_by(HookDelivery.created_at)
        if hook:
            query = query.where(HookDelivery.hook == hook)
        rows = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        return rows


def hook_tests_audited(app) -> list[dict]:
    """The payloads of the hook_test_sent audit entries, oldest first."""
    with app.app_context():
        query = (sa.select(AuditLogEntry)
                 .where(audit.payload_field("action") == "hook_test_sent")
                 .order_by(AuditLogEntry.created_at))
        return [entry.payload for entry in db.session.execute(query).scalars()]


def card(html: str, name: str) -> str:
    start = html.index(f'<section class="card hook-card" id="hook-{name}"')
    return html[start:html.index("</section>", start)]


def _test(console, name: str, htmx: bool = True, **kwargs):
    return console.post(f"/console/hooks/{name}/test", htmx=htmx, **kwargs)


# --- the page -----------------------------------------------------------------------------------


def test_every_hook_is_listed_with_its_uri_masked_and_secrets_only_counted(make_app, receiver):
    port_uri = receiver.uri("/sms")
    with_secrets = port_uri.replace("http://", f"http://{USERINFO}@") + f"?token={QUERY_TOKEN}"
    legacy = WebhookSettings(
        url=f"https://{USERINFO}@legacy.example.com/hook?secret={QUERY_TOKEN}",
        secret=WEBHOOK_SECRET, retries=4, timeout=timedelta(seconds=7),
        events=("signup", "login"))
    app = hook_app(make_app, {"webhook": legacy, "hooks.delivery_log_days": 3},
                   send_sms=HookConfig(True, with_secrets, (SECRET, OTHER_SECRET)),
                   custom_access_token=HookConfig(
                       False, f"https://hooks.example.com/claims?key={QUERY_TOKEN}#frag"),
                   # Disabled: enabled pg hooks need PostgreSQL at start-up.
                   before_user_created=HookConfig(False, "pg-functions://postgres/public/fn"))
    console = signed_in(app)

    response = console.get("/console/hooks")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'aria-current="page">Auth hooks</a>' in html
    for name in HOOK_NAMES:
        assert f'id="hook-{name}"' in html, name
    # Nothing secret leaves the server: no secret, no password, no query string.
    for secret in (SECRET, OTHER_SECRET, SECRET.split("_", 1)[1], QUERY_TOKEN, USERINFO,
                   "userinfo-password", WEBHOOK_SECRET, "#frag"):
        assert secret not in html, secret

    sms = card(html, "send_sms")
    assert ">Enabled<" in sms and "HTTP" in sms
    assert port_uri in sms
    assert "2 set" in sms
    assert 'aria-label="Send a test event to send_sms">' in sms and " disabled " not in sms
    claims = card(html, "custom_access_token")
    assert ">Disabled<" in claims
    assert "https://hooks.example.com/claims<" in claims
    assert "GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_ENABLED=true" in claims
    assert "disabled aria-describedby" in claims
    assert "PostgreSQL function" in card(html, "before_user_created")
    assert "not set (GOTRUE_HOOK_SEND_EMAIL_URI)" in card(html, "send_email")
    legacy = card(html, "webhook")
    assert "https://legacy.example.com/hook<" in legacy
    assert "<code>signup</code> <code>login</code>" in legacy
    assert ">set<" in legacy and ">4<" in legacy and "7&nbsp;s" in legacy
    assert "kept 3 days" in html
    assert "No hook delivery yet" in html


def test_the_page_needs_an_operator(app):
    response = app.test_client().get("/console/hooks")
    assert response.status_code in (302, 303)
    assert "/console/login" in response.headers["Location"]


def test_deliveries_are_listed_per_hook_and_in_the_log_with_filters_and_pages(make_app):
    app = hook_app(make_app, send_sms=HookConfig(True, "https://sms.example.com/hook"))
    freeze_clock(app)
    console = signed_in(app)
    failed = add_delivery(app, "send_sms", status="failed", seconds_ago=10, attempts=3,
                          http_status=None, latency_ms=4012,
                          error="Failed to reach hook after maximum retries")
    ok = add_delivery(app, "send_sms", seconds_ago=5, latency_ms=87, test=True)
    legacy = add_delivery(app, "webhook", seconds_ago=1, uri="https://legacy.example.com/hook")
    older = [add_delivery(app, "send_email", seconds_ago=100 + n) for n in range(4)]

    html = console.get("/console/hooks").get_data(as_text=True)
    sms = card(html, "send_sms")
    assert sms.index(f'id="recent-{ok}"') < sms.index(f'id="recent-{failed}"')
    assert "Failed to reach hook after maximum retries" in sms
    assert "1 succeeded, 1 failed" in sms
    assert f'id="recent-{legacy}"' in card(html, "webhook")
    assert row_ids("delivery", html) == [legacy, ok, failed, *older]
    row = row_html("delivery", html, failed)
    assert ">Failed<" in row and ">3<" in row and "4012&nbsp;ms" in row
    assert "Failed to reach hook after maximum retries" in row
    assert ">test<" in row_html("delivery", html, ok)

    only_failed = console.get("/console/hooks?hook=send_sms&status=failed")
    assert row_ids("delivery", only_failed.get_data(as_text=True)) == [failed]
    tests = console.get("/console/hooks?origin=test").get_data(as_text=True)
    assert row_ids("delivery", tests) == [ok]
    live_legacy = console.get("/console/hooks?hook=webhook&origin=live")
    assert row_ids("delivery", live_legacy.get_data(as_text=True)) == [legacy]

    # htmx asks for the log alone (the filter form and the reload after a test).
    fragment = console.get("/console/hooks?hook=send_email", htmx=True)
    text = fragment.get_data(as_text=True)
    assert fragment.headers["Vary"] == "HX-Request" or "HX-Request" in fragment.headers["Vary"]
    assert text.lstrip().startswith("<section") and "hook-cards" not in text
    assert row_ids("delivery", text) == older
    assert 'hx-trigger="hook-delivered from:body"' in text

    pages = walk(console, "delivery", "/console/hooks?limit=2", "next")
    assert pages == [[legacy, ok], [failed, older[0]], older[1:3], older[3:]]
    last = console.get("/console/hooks?limit=2").get_data(as_text=True)
    assert pager_link(last, "prev") is None

    wrong = console.get("/console/hooks?hook=nope&status=lost")
    assert wrong.status_code == 422
    text = wrong.get_data(as_text=True)
    assert "Hook: &#39;nope&#39; is not one of" in text and "Status:" in text


# --- send a test event --------------------------------------------------------------------------


def test_a_test_event_reaches_the_hook_signed_and_shows_its_output(make_app, receiver):
    claims = {"claims": {"sub": "x", "role": "authenticated", "extra": "from-the-hook"}}
    receiver.answer_json(claims)
    app = hook_app(make_app, custom_access_token=HookConfig(
        True, receiver.uri("/claims") + f"?token={QUERY_TOKEN}", (SECRET,)))
    console = signed_in(app)

    response = _test(console, "custom_access_token")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    trigger = json.loads(response.headers["HX-Trigger"])
    assert trigger["hook-delivered"] == {"hook": "custom_access_token"}
    assert trigger["toast"]["kind"] == "ok"
    assert "the hook answered with an output" in trigger["toast"]["message"]

    [request] = receiver.received
    assert request.path == f"/claims?token={QUERY_TOKEN}"
    event = FakeHookReceiver.verify(request, SECRET)
    assert event["metadata"]["name"] == "customize-access-token"
    assert event["authentication_method"] == "password"
    assert event["claims"]["sub"] == event["user_id"]
    assert {"aud", "exp", "iat", "email", "role", "aal", "amr", "session_id",
            "is_anonymous"} <= set(event["claims"])

    # The card shows the output and the delivery (written after the request).
    assert html.lstrip().startswith('<section class="card hook-card" id="hook-custom_access_token"')
    assert "from-the-hook" in html and "hook-output" in html
    assert QUERY_TOKEN not in html and SECRET not in html
    [row] = deliveries(app, "custom_access_token")
    assert row.status == "succeeded" and row.test is True and row.http_status == 200
    assert row.uri == receiver.uri("/claims")
    assert f"<code>{row.id}</code>" in html
    assert f'id="recent-{row.id}"' in html

    [entry] = hook_tests_audited(app)
    assert entry["actor_username"] == "operator@example.com"
    assert entry["traits"] == {"hook": "custom_access_token", "uri": receiver.uri("/claims"),
                               "status": "succeeded", "delivery_id": str(row.id)}

    # The log (reloaded by htmx) lists it.
    page = console.get("/console/hooks", htmx=True).get_data(as_text=True)
    assert row_ids("delivery", page) == [row.id]


@pytest.mark.parametrize("name,event_name,key", [
    ("send_email", "send-email", "email_data"),
    ("send_sms", "send-sms", "sms"),
    ("mfa_verification_attempt", "mfa-verification", "factor_type"),
    ("password_verification_attempt", "password-verification", "valid"),
    ("before_user_created", "before-user-created", "user"),
    ("after_user_created", "after-user-created", "user"),
])
def test_each_hook_gets_a_sample_event_of_its_own_shape(make_app, receiver, name, event_name,
                                                        key):
    app = hook_app(make_app, **{name: HookConfig(True, receiver.uri(), (SECRET,))})
    console = signed_in(app)
    response = _test(console, name)
    assert response.status_code == 200
    assert "the hook answered with no output" in response.get_data(as_text=True)
    [request] = receiver.received
    event = FakeHookReceiver.verify(request, SECRET)
    assert event["metadata"]["name"] == event_name
    assert key in event
    if "user" in event:
        assert event["user"]["email"] == "hook-test@example.com"
    if name == "before_user_created":
        assert event["user"]["role"] == "" and event["user"]["identities"] == []
        assert event["user"]["created_at"] == "0001-01-01T00:00:00Z"


def test_a_failing_hook_shows_its_error_and_is_logged_as_failed(make_app, receiver):
    receiver.answer_json({"error": {"message": "Nope from the hook", "http_code": 403}})
    app = hook_app(make_app, send_sms=HookConfig(True, receiver.uri(), (SECRET,)))
    console = signed_in(app)

    response = _test(console, "send_sms")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["toast"]["kind"] == "error"
    assert "Test event to send_sms failed: Nope from the hook" in html
    assert "A client would get HTTP 403" in html
    [row] = deliveries(app, "send_sms")
    assert row.status == "failed" and row.error == "Nope from the hook" and row.test

    receiver.default = Reply(401, "", None)
    html = _test(console, "send_sms").get_data(as_text=True)
    assert "Hook requires authorization token" in html
    assert "A client would get HTTP 500 with error code <code>unexpected_failure</code>" in html
    traits = [entry["traits"] for entry in hook_tests_audited(app)]
    assert {trait["status"] for trait in traits} == {"failed"}
    assert {trait["error"] for trait in traits} == {"Nope from the hook",
                                                    "Hook requires authorization token"}


def test_a_plain_form_post_redirects_to_the_log_of_that_hook(make_app, receiver):
    app = hook_app(make_app, send_sms=HookConfig(True, receiver.uri(), (SECRET,)))
    console = signed_in(app)
    response = _test(console, "send_sms", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/hooks?hook=send_sms")
    page = console.get("/console/hooks?hook=send_sms").get_data(as_text=True)
    assert "Test event sent to send_sms: the hook answered with no output." in page
    [row] = deliveries(app)
    assert row_ids("delivery", page) == [row.id]


def test_a_test_event_needs_the_csrf_token(make_app, receiver):
    app = hook_app(make_app, send_sms=HookConfig(True, receiver.uri(), (SECRET,)))
    console = signed_in(app)
    assert _test(console, "send_sms", csrf=False).status_code == 400
    assert _test(console, "send_sms", htmx=False, csrf=False).status_code == 400
    assert receiver.received == []
    assert deliveries(app) == []


def test_a_disabled_or_unknown_hook_is_not_called(make_app, receiver):
    app = hook_app(make_app, send_sms=HookConfig(False, receiver.uri(), (SECRET,)))
    console = signed_in(app)
    response = _test(console, "send_sms")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The send_sms hook is not enabled (GOTRUE_HOOK_SEND_SMS_ENABLED)" in html
    assert 'id="hook-send_sms"' in html
    plain = _test(console, "send_sms", htmx=False)
    assert plain.status_code == 303
    assert _test(console, "no_such_hook").status_code == 404
    assert receiver.received == []
    assert deliveries(app) == []
    assert hook_tests_audited(app) == []


def test_a_postgresql_function_hook_runs_its_function(make_app, test_database):
    if test_database.backend != "postgresql":
        pytest.skip("pg-functions hooks need PostgreSQL")
    schema = test_database.namespace
    app = hook_app(make_app, send_sms=HookConfig(
        True, f"pg-functions://postgres/{schema}/console_hook_probe"))
    with app.app_context():
        db.session.execute(sa.text(
            f'CREATE OR REPLACE FUNCTION "{schema}".console_hook_probe(event jsonb) '
            "RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object("
            "'seen', event->'metadata'->>'name', 'otp', event->'sms'->>'otp') $$"))
        db.session.commit()
    try:
        console = signed_in(app)
        html = _test(console, "send_sms").get_data(as_text=True)
        assert "PostgreSQL function" in html
        assert "send-sms" in html and "123456" in html
        [row] = deliveries(app, "send_sms")
        assert row.status == "succeeded" and row.http_status is None
    finally:
        with app.app_context():
            db.session.execute(sa.text(
                f'DROP FUNCTION IF EXISTS "{schema}".console_hook_probe(jsonb)'))
            db.session.commit()
