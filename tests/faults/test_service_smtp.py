"""SMTP faults against a real gunicorn (the production gunicorn.conf.py, its outbox dispatcher
in the server) on the run's database: the SMTP server down and back, and an SMTP server that
greets and then never answers. Requests answer as usual whatever SMTP does; the mail waits in
the outbox and every email goes out once SMTP is healthy, each exactly once, with the
Message-ID it was queued with. A lease too short for one send attempt stops start-up.
"""

from __future__ import annotations

import subprocess

import pytest

from gotrue_web.settings import SettingsError, from_env

from ..live.conftest import GUNICORN, REPO_ROOT
from .service_parts import (
    FAST_OUTBOX,
    MAIL_SENDER,
    PASSWORD,
    SMTPEndpoint,
    api,
    create_user,
    delivered_rows,
    fault_server_environment,
    follow_link,
    launch_server,
    mail_log_of,
    outbox_rows,
    unique_email,
    user_id_of,
    wait_until,
)

pytestmark = pytest.mark.live

SUBJECTS = {"confirmation": "Confirm your email address", "recovery": "Reset your password",
            "magic_link": "Your sign-in link"}
# The server's SMTP timeout (settings/smtp.py): a stalled attempt fails after it.
SMTP_TIMEOUT_SECONDS = 10


@pytest.fixture(scope="module")
def smtp_endpoint():
    endpoint = SMTPEndpoint()
    endpoint.up()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def mail_server(test_database, tmp_path_factory, smtp_endpoint):
    server = launch_server(test_database, tmp_path_factory.mktemp("smtp-faults"),
                           GOTRUE_SMTP_PORT=str(smtp_endpoint.port), **FAST_OUTBOX)
    yield server
    server.stop()


def test_mail_queued_while_smtp_is_down_goes_out_once_it_is_back(app, smtp_endpoint,
                                                                  mail_server):
    recovering, signing_in = unique_email("recover"), unique_email("magic")
    for address in (recovering, signing_in):
        create_user(mail_server, address)
    newcomer = unique_email("signup")
    kinds = {newcomer: "confirmation", recovering: "recovery", signing_in: "magic_link"}
    smtp_endpoint.down()
    with api(mail_server) as client:
        signup = client.post("/signup", json={"email": newcomer, "password": PASSWORD})
        recover = client.post("/recover", json={"email": recovering})
        stranger = client.post("/recover", json={"email": unique_email("stranger")})
        magic = client.post("/magiclink", json={"email": signing_in})
        # A backlog never makes the server unready.
        ready = client.get("/ready")
    # Answers as usual: the outage shows in none of them.
    assert signup.status_code == 200, signup.text
    assert signup.json()["email"] == newcomer and "access_token" not in signup.json()
    assert signup.json()["confirmation_sent_at"]
    assert (recover.status_code, recover.json()) == (stranger.status_code, stranger.json()) \
        == (magic.status_code, magic.json()) == (200, {})
    assert ready.status_code == 200, ready.text

    user_ids = {address: user_id_of(app, address) for address in kinds}

    def retried():
        rows = outbox_rows(app, user_ids.values())
        return rows if len(rows) == 3 and all(
            row.attempts >= 2 and row.last_error for row in rows.values()) and all(
            mail_log_of(app, address) for address in kinds) else None

    rows = wait_until(retried, timeout=30, what="every email to be tried twice")
    refused = f"could not connect to SMTP server 127.0.0.1:{smtp_endpoint.port}: " \
              "connection refused"
    queued = {}
    for address, kind in kinds.items():
        row = rows[user_ids[address]]
        assert (row.kind, row.status, row.last_error) == (kind, "pending", refused)
        assert row.payload, "a pending email keeps its (sealed) payload"
        queued[address] = row.message_id
        failures = mail_log_of(app, address)
        assert failures and {entry.status for entry in failures} == {"failed"}
        assert all(entry.error.startswith(refused) and "retrying at" in entry.error
                   for entry in failures)
    with api(mail_server) as client:
        backlog = client.get("/ready").json()["outbox"]
    assert backlog["pending"] >= 3 and backlog["oldest_pending_seconds"] is not None

    # SMTP comes back on the same port, greylisting: the first try of each message is told
    # to come back later, so each email is seen on the wire at least twice.
    smtp_endpoint.greylist = True
    smtp_endpoint.up()
    try:
        rows = wait_until(lambda: delivered_rows(app, user_ids), timeout=60,
                          what=f"the outbox to send everything:\n{mail_server.log_tail()}")
    finally:
        smtp_endpoint.greylist = False
    for address, kind in kinds.items():
        row = rows[user_ids[address]]
        tries = smtp_endpoint.tries_to(address)
        assert [d.accepted for d in tries] == [False, True], "exactly one copy, after greylisting"
        # The Message-ID it was queued with, on every try.
        assert {d.message_id for d in tries} == {queued[address]}
        delivered = tries[-1].message
        assert (delivered["Subject"], delivered["From"]) == (SUBJECTS[kind], MAIL_SENDER)
        assert row.payload is None and row.finished_at is not None
        log = mail_log_of(app, address)
        assert [entry.status for entry in log] == ["failed"] * (row.attempts - 1) + ["sent"]
        session = follow_link(mail_server, delivered)
        assert session["type"] == {"confirmation": "signup", "recovery": "recovery",
                                   "magic_link": "magiclink"}[kind]


def test_a_stalled_smtp_server_holds_no_request_and_its_mail_goes_out_afterwards(
        app, smtp_endpoint, mail_server):
    newcomer, recovering, signing_in = (unique_email("stall-signup"),
                                        unique_email("stall-recover"),
                                        unique_email("stall-magic"))
    for address in (recovering, signing_in):
        create_user(mail_server, address)
    smtp_endpoint.stall()
    with api(mail_server) as client:
        signup = client.post("/signup", json={"email": newcomer, "password": PASSWORD})
        assert signup.status_code == 200, signup.text
        wait_until(lambda: smtp_endpoint.stalled_count() >= 1, timeout=30,
                   what="the outbox to connect to the stalled server")
        recover = client.post("/recover", json={"email": recovering})
        assert (recover.status_code, recover.json()) == (200, {})
        wait_until(lambda: smtp_endpoint.stalled_count() >= 2, timeout=30,
                   what="the outbox's second sender to connect to the stalled server")
        # Both senders are stuck in an SMTP exchange: requests still answer, and their mail
        # waits in the outbox.
        magic = client.post("/magiclink", json={"email": signing_in})
        assert (magic.status_code, magic.json()) == (200, {})
        assert client.get("/ready").status_code == 200
    user_ids = {address: user_id_of(app, address)
                for address in (newcomer, recovering, signing_in)}
    rows = outbox_rows(app, user_ids.values())
    # The first two attempts are still running (they end at the SMTP timeout); the third email
    # has not been tried: no sender is free.
    assert [(rows[user_ids[a]].status, rows[user_ids[a]].attempts, rows[user_ids[a]].last_error)
            for a in (newcomer, recovering, signing_in)] == [
        ("pending", 1, None), ("pending", 1, None), ("pending", 0, None)]

    # A healthy server takes the port; the stuck exchanges stay stuck until their timeout.
    smtp_endpoint.up()
    rows = wait_until(lambda: delivered_rows(app, user_ids),
                      timeout=SMTP_TIMEOUT_SECONDS + 50,
                      what=f"the outbox to send everything:\n{mail_server.log_tail()}")
    timed_out = f"SMTP server 127.0.0.1:{smtp_endpoint.port} did not answer within " \
                f"{SMTP_TIMEOUT_SECONDS}s"
    for address in (newcomer, recovering):
        assert rows[user_ids[address]].attempts == 2
        log = mail_log_of(app, address)
        assert [entry.status for entry in log] == ["failed", "sent"]
        assert log[0].error.startswith(timed_out) and "retrying at" in log[0].error
    assert rows[user_ids[signing_in]].attempts == 1
    assert [entry.status for entry in mail_log_of(app, signing_in)] == ["sent"]
    for address in (newcomer, recovering, signing_in):
        [delivered] = smtp_endpoint.accepted_to(address)
        assert delivered.message_id == rows[user_ids[address]].message_id
        follow_link(mail_server, delivered.message)
    # No later attempt went to the stalled server.
    assert smtp_endpoint.stalled_count() == 2


def test_a_lease_shorter_than_one_send_attempt_stops_start_up(test_database, tmp_path):
    """A claim must outlast the attempt it covers (a template fetch and the SMTP exchange, 10 s
    each), or a second dispatcher would send an email that is still being sent."""
    required = {"GOTRUE_SITE_URL": "https://example.com", "GOTRUE_JWT_SECRET": "s" * 32,
                "API_EXTERNAL_URL": "https://auth.example.com"}
    with pytest.raises(SettingsError, match="GOTRUE_MAILER_OUTBOX_LEASE must be longer than "
                                            r"one send attempt can take \(20s"):
        from_env({**required, "GOTRUE_MAILER_OUTBOX_LEASE": "20s"}, env_file=None)
    assert from_env({**required, "GOTRUE_MAILER_OUTBOX_LEASE": "21s"},
                    env_file=None).mailer.outbox_lease.total_seconds() == 21
    assert from_env(required, env_file=None).mailer.outbox_lease.total_seconds() == 60

    workdir = tmp_path / "cwd"
    workdir.mkdir()
    process = subprocess.Popen(
        [str(GUNICORN), "--config", str(REPO_ROOT / "gunicorn.conf.py"),
         "--bind", "127.0.0.1:0", "--workers", "1", "--pythonpath", str(REPO_ROOT), "wsgi:app"],
        cwd=workdir, env=fault_server_environment(test_database, GOTRUE_MAILER_OUTBOX_LEASE="15s"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    assert b"GOTRUE_MAILER_OUTBOX_LEASE must be longer than one send attempt" in output
