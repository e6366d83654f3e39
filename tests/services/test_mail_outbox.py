"""The mail outbox (services/mail/dispatcher.py): rows written in the request's transaction,
sent after its commit by the in-server thread or ``flask outbox run``, retried with backoff,
leased, claimed once across dispatchers, and never readable at rest. Real SMTP servers
(tests/support/smtp.py) and the run's real database throughout."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.errors import ErrorCode, unprocessable
from gotrue_web.extensions import db
from gotrue_web.models import MailOutboxRow, User
from gotrue_web.services.mail import dispatcher, flows, outbox
from gotrue_web.services.mail.sealing import (
    PayloadSealer,
    UnreadablePayload,
    email_from_json,
)
from gotrue_web.services.mail.send_hook import SUBJECT
from gotrue_web.settings import HookConfig, SettingsError, from_env

from ..conftest import BASE_SETTINGS, api_for, smtp_settings
from ..factories import count, create_user, freeze_clock, later, mail_log, table_rows, user_row
from ..support import smtp as smtp_support
from ..support.fake_hooks import SECRET as HOOK_SECRET
from ..support.fake_hooks import FakeHookReceiver, Reply

EXTERNAL = {"mailer.outbox_dispatcher": "external"}


def outbox_rows(app) -> list[MailOutboxRow]:
    return [row for (row,) in table_rows(app, sa.select(MailOutboxRow).order_by(
        MailOutboxRow.created_at))]


def deliver_due(app) -> int:
    """What one round of a dispatcher (the CLI's, for instance) does."""
    with app.app_context():
        rt = app.extensions["gotrue"]
        return dispatcher.deliver_due(rt, rt.outbox.sealer)


def signup(app, email: str):
    response = api_for(app).signup(email)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_smtp_down_then_back_delivers_once_with_the_rows_message_id(make_app):
    sink = smtp_support.SMTPSink()
    sink.start()
    sink.stop()
    try:
        app = make_app(**smtp_settings(sink.port, **{"mailer.outbox_max_attempts": 5}))
        clock = freeze_clock(app)
        signup(app, "outage@example.com")
        [row] = outbox_rows(app)
        assert (row.status, row.attempts, row.next_attempt_at) == (
            "pending", 1, clock.now + timedelta(seconds=30))
        [first] = mail_log(app)
        assert first.status == "failed" and "connection refused" in first.error
        assert "attempt 1 of 5" in first.error

        sink.restart()
        rt = app.extensions["gotrue"]
        later(app, 29)
        rt.outbox.wake()
        assert rt.outbox.wait_until_sent(timeout=30)
        assert sink.to("outage@example.com") == []
        later(app, 1)
        rt.outbox.wake()
        assert rt.outbox.wait_until_sent(timeout=30)

        [message] = sink.wait_for("outage@example.com")
        assert message["Message-ID"] == row.message_id
        assert row.message_id.endswith("@example.com>")
        [row] = outbox_rows(app)
        assert (row.status, row.attempts, row.payload, row.last_error) == ("sent", 2, None, None)
        assert [entry.status for entry in mail_log(app)] == ["failed", "sent"]
        # Nothing more goes out later.
        later(app, 3600)
        assert deliver_due(app) == 0
        assert len(sink.to("outage@example.com")) == 1
    finally:
        sink.stop()


def test_a_request_that_fails_leaves_nothing_to_send(make_mail_app, smtp_server,
                                                      service_role_token):
    app = make_mail_app(**EXTERNAL)
    created = create_user(api_for(app, service_role_token), "rollback@example.com")
    with app.test_request_context():
        rt = app.extensions["gotrue"]
        user = db.session.get(User, uuid.UUID(created["id"]))
        flows.send_recovery(rt, user, "", after_response=True)
        assert [type(each) for each in db.session.new] == [MailOutboxRow]
        # The view's error path: the whole transaction, the email with it, rolls back.
        db.session.rollback()
    assert count(app, MailOutboxRow) == 0
    assert deliver_due(app) == 0
    assert smtp_server.to("rollback@example.com") == []
    assert user_row(app, "rollback@example.com").recovery_token == ""


@pytest.mark.parametrize("commit_first", [False, True])
def test_a_request_that_answers_an_error_sends_nothing(make_mail_app, smtp_server,
                                                       service_role_token, commit_first):
    app = make_mail_app()
    created = {}

    def recover_then_refuse():
        # A flow that queued its email, then an error; with commit_first the error handler
        # commits the request's writes (as for an audit entry kept despite the error).
        rt = app.extensions["gotrue"]
        flows.send_recovery(rt, db.session.get(User, uuid.UUID(created["id"])), "",
                            after_response=True)
        error = unprocessable(ErrorCode.VALIDATION_FAILED, "refused after queueing")
        error.commit_first = commit_first
        raise error

    app.add_url_rule("/test-recover-then-refuse", view_func=recover_then_refuse,
                     methods=["POST"])
    created.update(create_user(api_for(app, service_role_token), "refused@example.com"))
    response = app.test_client().post("/test-recover-then-refuse")
    assert (response.status_code, response.get_json()["error_code"]) == (422,
                                                                         "validation_failed")
    assert count(app, MailOutboxRow) == 0
    assert deliver_due(app) == 0
    assert smtp_server.to("refused@example.com") == []


def test_retries_back_off_then_fail_in_the_mail_log_and_release_the_code(make_mail_app,
                                                                          smtp_server):
    smtp_server.reject_with = "451 4.3.0 Try again later"
    app = make_mail_app(**EXTERNAL, **{"mailer.outbox_max_attempts": 3,
                                       "mailer.outbox_retry_backoff": timedelta(minutes=1)})
    start = freeze_clock(app).now
    signup(app, "bounce@example.com")
    assert user_row(app, "bounce@example.com").confirmation_token != ""

    assert deliver_due(app) == 1
    [row] = outbox_rows(app)
    assert (row.status, row.next_attempt_at) == ("pending", start + timedelta(minutes=1))
    later(app, 59)
    assert deliver_due(app) == 0
    later(app, 1)
    assert deliver_due(app) == 1
    [row] = outbox_rows(app)
    # The wait doubles: two minutes after the second attempt.
    assert row.next_attempt_at == start + timedelta(minutes=3)
    later(app, 119)
    assert deliver_due(app) == 0
    later(app, 1)
    assert deliver_due(app) == 1

    [row] = outbox_rows(app)
    assert (row.status, row.attempts, row.payload) == ("failed", 3, None)
    assert "451" in row.last_error
    entries = mail_log(app)
    assert [(e.status, e.recipient) for e in entries] == [("failed", "bounce@example.com")] * 3
    assert [e.created_at for e in entries] == [start, start + timedelta(minutes=1),
                                               start + timedelta(minutes=3)]
    assert "attempt 2 of 3" in entries[1].error and "retrying" not in entries[2].error
    # The code nobody received is forgotten, and the 60 s rule does not hold a new one back.
    user = user_row(app, "bounce@example.com")
    assert user.confirmation_token == "" and user.confirmation_sent_at is None
    later(app, 3600)
    assert deliver_due(app) == 0
    assert smtp_server.messages == []


def test_a_row_claimed_by_a_sender_that_died_is_sent_again_after_its_lease(make_mail_app,
                                                                           smtp_server):
    app = make_mail_app(**EXTERNAL, **{"mailer.outbox_lease": timedelta(seconds=60)})
    freeze_clock(app)
    signup(app, "lease@example.com")
    rt = app.extensions["gotrue"]
    with app.app_context():
        [claimed] = dispatcher.claim(rt)
        # The sender delivers, then dies before it can record the outcome.
        email = email_from_json(rt.outbox.sealer.open(claimed.payload), outbox.Email)
        assert outbox.send(rt, email, outbox.Attempt(message_id=claimed.message_id)) is None
    assert deliver_due(app) == 0  # leased: nobody else takes it meanwhile
    later(app, 61)
    assert deliver_due(app) == 1

    first, second = smtp_server.wait_for("lease@example.com", count=2)
    # At least once, with one Message-ID, so a receiving server can drop the duplicate.
    assert first["Message-ID"] == second["Message-ID"] == claimed.message_id
    [row] = outbox_rows(app)
    assert (row.status, row.attempts, row.payload) == ("sent", 2, None)
    with app.app_context():
        # The dead sender's late outcome cannot overwrite the newer claim's.
        assert dispatcher._finish(claimed, status="failed") is False
    assert outbox_rows(app)[0].status == "sent"


def test_two_dispatchers_at_once_send_every_row_exactly_once(make_mail_app, smtp_server):
    app = make_mail_app(**EXTERNAL, **{"rate_limit.email_sent": "100",
                                                "rate_limit.email_sent_per_client": 0})
    addresses = [f"crowd{n}@example.com" for n in range(12)]
    for address in addresses:
        signup(app, address)
    tried = []

    def run():
        tried.append(deliver_due(app))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(tried) == 12
    assert {row.status for row in outbox_rows(app)} == {"sent"}
    for address in addresses:
        assert len(smtp_server.wait_for(address)) == 1
    assert len(smtp_server.messages) == 12


def test_a_row_another_dispatcher_is_claiming_is_skipped_not_waited_for(make_mail_app,
                                                                        smtp_server):
    app = make_mail_app(**EXTERNAL)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("SQLite has one writer: claims never overlap there")
    signup(app, "first@example.com")
    signup(app, "second@example.com")
    rt = app.extensions["gotrue"]
    with app.app_context():
        with db.engine.connect() as other:
            # Another dispatcher is in the middle of claiming the first row.
            locked = outbox_rows(app)[0].id
            other.execute(sa.select(MailOutboxRow.id).where(MailOutboxRow.id == locked)
                          .with_for_update()).scalar_one()
            started = time.monotonic()
            claimed = dispatcher.claim(rt)
            assert time.monotonic() - started < 2
            assert [each.id for each in claimed] == [outbox_rows(app)[1].id]
            other.rollback()
        again = dispatcher.claim(rt)
    assert [each.id for each in again] == [locked]


def test_the_payload_is_sealed_at_rest_and_cleared_once_sent(make_mail_app, smtp_server):
    app = make_mail_app(**EXTERNAL)
    signup(app, "secret@example.com")
    [row] = outbox_rows(app)
    opened = app.extensions["gotrue"].outbox.sealer.open(row.payload)
    code = opened["variables"]["Token"]
    token_hash = opened["variables"]["TokenHash"]
    assert len(code) == 6 and opened["to"] == "secret@example.com"
    for secret in (code, token_hash, "secret@example.com", "example.com"):
        assert secret not in row.payload
    other_key = PayloadSealer(BASE_SETTINGS.replace(**{"jwt.secret": "another-secret" * 4}))
    with pytest.raises(UnreadablePayload):
        other_key.open(row.payload)

    assert deliver_due(app) == 1
    message = smtp_server.wait_for("secret@example.com")[0]
    assert code in smtp_support.html_body(message)
    [row] = outbox_rows(app)
    assert (row.status, row.payload) == ("sent", None)


def test_a_dedicated_key_opens_payloads_sealed_under_the_jwt_secret():
    before = PayloadSealer(BASE_SETTINGS)
    sealed = before.seal({"to": "a@example.com"})
    after = PayloadSealer(BASE_SETTINGS.replace(**{"mailer.outbox_key": "k" * 40}))
    assert after.open(sealed) == {"to": "a@example.com"}
    with pytest.raises(UnreadablePayload):
        before.open(after.seal({"x": 1}))


def test_the_cli_delivers_pending_mail(make_mail_app, smtp_server):
    app = make_mail_app(**EXTERNAL)
    signup(app, "cli@example.com")
    # External dispatcher: the server itself sends nothing.
    assert not app.extensions["gotrue"].outbox._thread
    assert smtp_server.to("cli@example.com") == []
    assert [row.status for row in outbox_rows(app)] == ["pending"]

    result = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "tried 1 email(s); 0 waiting" in result.output
    assert len(smtp_server.wait_for("cli@example.com")) == 1
    assert [row.status for row in outbox_rows(app)] == ["sent"]


def test_mail_pending_at_a_restart_goes_out_from_the_next_server(make_mail_app, smtp_server):
    stopped = make_mail_app(**EXTERNAL)
    signup(stopped, "restart@example.com")
    assert smtp_server.to("restart@example.com") == []
    restarted = make_mail_app()
    # Any request but a health check starts the new server's dispatcher.
    assert restarted.test_client().get("/settings").status_code == 200
    assert len(smtp_server.wait_for("restart@example.com", timeout=15)) == 1
    deadline = time.monotonic() + 10
    while outbox_rows(restarted)[0].status != "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [row.status for row in outbox_rows(restarted)] == ["sent"]


def test_outbox_settings_are_read_and_checked():
    required = {"GOTRUE_SITE_URL": "https://example.com", "GOTRUE_JWT_SECRET": "s" * 32,
                "API_EXTERNAL_URL": "https://auth.example.com"}
    settings = from_env({**required, "GOTRUE_MAILER_OUTBOX_DISPATCHER": "external",
                         "GOTRUE_MAILER_OUTBOX_MAX_ATTEMPTS": "4",
                         "GOTRUE_MAILER_OUTBOX_RETRY_BACKOFF": "2m",
                         "GOTRUE_MAILER_OUTBOX_LEASE": "90s",
                         "GOTRUE_MAILER_OUTBOX_POLL_INTERVAL": "1s"}, env_file=None).mailer
    assert (settings.outbox_dispatcher, settings.outbox_max_attempts,
            settings.outbox_retry_backoff, settings.outbox_lease,
            settings.outbox_poll_interval) == (
        "external", 4, timedelta(minutes=2), timedelta(seconds=90), timedelta(seconds=1))
    for name, value in (("DISPATCHER", "cron"), ("LEASE", "0s"), ("MAX_ATTEMPTS", "0")):
        with pytest.raises(SettingsError, match=f"MAILER_OUTBOX_{name}"):
            from_env({**required, f"GOTRUE_MAILER_OUTBOX_{name}": value}, env_file=None)


def test_the_send_email_hook_goes_through_the_outbox_and_is_retried(make_mail_app, smtp_server,
                                                                     servers):
    receiver = servers(FakeHookReceiver())
    receiver.script(Reply(200, json.dumps({"error": {"http_code": 422, "message": "nope"}})))
    app = make_mail_app(**EXTERNAL, **{
        "hooks.send_email": HookConfig(True, receiver.uri(), (HOOK_SECRET,)),
        "mailer.outbox_max_attempts": 2, "mailer.outbox_retry_backoff": timedelta(minutes=1)})
    freeze_clock(app)
    signup(app, "hooked@example.com")
    [row] = outbox_rows(app)
    event = app.extensions["gotrue"].outbox.sealer.open(row.payload)["hook_event"]
    assert event["email_data"]["token"] not in row.payload
    assert "hooked@example.com" not in row.payload

    assert deliver_due(app) == 1
    later(app, 60)
    assert deliver_due(app) == 1
    first, second = (FakeHookReceiver.verify(each, HOOK_SECRET) for each in receiver.received)
    assert first["email_data"] == second["email_data"] == event["email_data"]
    assert [(e.status, e.subject) for e in mail_log(app)] == [("failed", SUBJECT),
                                                              ("sent", SUBJECT)]
    assert "nope" in mail_log(app)[0].error
    [row] = outbox_rows(app)
    assert (row.status, row.attempts, row.payload) == ("sent", 2, None)
    assert smtp_server.messages == []


def test_queued_emails_count_in_the_budget_until_they_are_tried(make_mail_app, smtp_server,
                                                                service_role_token):
    """A burst of requests cannot queue past GOTRUE_RATE_LIMIT_EMAIL_SENT while the outbox has
    not tried the first emails yet (a slow SMTP server); once tried, each counts once, in the
    mail log."""
    app = make_mail_app(**EXTERNAL, **{"rate_limit.email_sent": "3"})
    clock = freeze_clock(app)
    api = api_for(app, service_role_token)
    emails = [f"queued{n}@example.com" for n in range(4)]
    for email in emails:
        create_user(api, email)
    recover = [api.post("/recover", json={"email": email}) for email in emails[:2]]
    assert [response.status_code for response in recover] == [200, 200]
    assert (mail_log(app), count(app, MailOutboxRow)) == ([], 2)
    assert deliver_due(app) == 2
    assert [entry.recipient for entry in mail_log(app)] == emails[:2]
    # Two in the mail log, none queued: a third fits.
    assert api.post("/recover", json={"email": emails[2]}).status_code == 200

    clock.now += timedelta(minutes=10)
    refused = api.post("/recover", json={"email": emails[3]})
    assert refused.status_code == 429
    assert refused.get_json() == {"code": "over_email_send_rate_limit",
                                  "message": "email rate limit exceeded"}
    # The three were queued together; they leave the hour 50 minutes from now.
    assert refused.headers["Retry-After"] == str(50 * 60)
    assert user_row(app, emails[3]).recovery_token == ""
    assert sorted(row.status for row in outbox_rows(app)) == ["pending", "sent", "sent"]
    assert smtp_server.to(emails[2]) == []
