"""SIGTERM to a real gunicorn (the production gunicorn.conf.py) while requests are in flight:
each is answered normally, the master exits within its graceful timeout, and mail the stopped
server left in the outbox is sent by the next server started on the same database.
"""

from __future__ import annotations

import http.client
import json
import signal
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from gotrue_web.models import MailOutboxRow

from .service_parts import (
    API_HEADERS,
    FAST_OUTBOX,
    PASSWORD,
    SMTPEndpoint,
    api,
    create_user,
    delivered_rows,
    follow_link,
    launch_server,
    mail_log_of,
    outbox_rows,
    unique_email,
    wait_until,
)

pytestmark = pytest.mark.live

# gunicorn.conf.py's graceful_timeout.
GRACEFUL_TIMEOUT = 15
IN_FLIGHT = 8
# A retry of the stopped server's mail is not due while it drains its requests, so no claim of
# it is cut short by the stop (a cut claim would wait out its lease; nothing would be lost).
OUTBOX = {**FAST_OUTBOX, "GOTRUE_MAILER_OUTBOX_RETRY_BACKOFF": "5s",
          "GOTRUE_MAILER_OUTBOX_LEASE": "25s"}


def _warm_connection(url: str) -> http.client.HTTPConnection:
    """A kept-alive connection the worker has already accepted and served."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("GET", "/health")
    answer = connection.getresponse()
    answer.read()
    assert answer.status == 200
    return connection


def test_sigterm_drains_in_flight_requests_and_the_next_server_sends_the_pending_mail(
        app, test_database, tmp_path):
    smtp = SMTPEndpoint()  # down: the first server cannot send its mail
    workdir = tmp_path / "servers"
    started = []
    try:
        first = launch_server(test_database, workdir, GOTRUE_SMTP_PORT=str(smtp.port), **OUTBOX)
        started.append(first)
        signing_in = [unique_email("drain") for _ in range(IN_FLIGHT)]
        recovering = [unique_email("drain-recover") for _ in range(3)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            addresses = signing_in + recovering
            user_ids = dict(zip(addresses, pool.map(lambda a: create_user(first, a), addresses)))
        with api(first) as client:
            for address in recovering:
                answer = client.post("/recover", json={"email": address})
                assert (answer.status_code, answer.json()) == (200, {})
        recovery_ids = {address: user_ids[address] for address in recovering}

        def tried_once():
            rows = outbox_rows(app, recovery_ids.values())
            return rows if len(rows) == 3 and all(
                row.attempts == 1 and row.claimed_until is None for row in rows.values()
            ) and all(mail_log_of(app, address) for address in recovering) else None

        queued = wait_until(tried_once, timeout=30, what="the first attempt of each email")
        assert {row.status for row in queued.values()} == {"pending"}

        # Password grants (a bcrypt hash each, more than the worker has threads) sent whole on
        # accepted connections, then SIGTERM at once.
        connections = [_warm_connection(first.url) for _ in signing_in]
        for connection, address in zip(connections, signing_in):
            connection.request("POST", "/token?grant_type=password",
                               body=json.dumps({"email": address, "password": PASSWORD}),
                               headers={**API_HEADERS, "Content-Type": "application/json"})
        first.process.send_signal(signal.SIGTERM)

        def answer(connection: http.client.HTTPConnection):
            try:
                response = connection.getresponse()
                return response.status, response.getheader("Connection"), \
                    json.loads(response.read())
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
            answers = list(pool.map(answer, connections))
        for (status, _, body), address in zip(answers, signing_in):
            assert status == 200, body
            assert body["user"]["email"] == address and body["access_token"]
        # At least one was still being served when the worker began to stop: those answers
        # close their connection.
        assert any((header or "").lower() == "close" for _, header, _ in answers), answers

        # The master exits (cleanly) once its worker has drained, within the graceful timeout
        # plus a margin for a loaded machine.
        assert first.process.wait(timeout=GRACEFUL_TIMEOUT + 15) == 0, first.log_tail()
        assert '"level":"error"' not in first.log_tail(10_000), first.log_tail()

        # The mail is still in the outbox; SMTP is back, and a new server on the same database
        # sends it as its worker boots (nothing is asked of it but /health).
        pending = outbox_rows(app, recovery_ids.values())
        assert {row.status for row in pending.values()} == {"pending"}
        smtp.up()
        second = launch_server(test_database, workdir, GOTRUE_SMTP_PORT=str(smtp.port),
                               **OUTBOX)
        started.append(second)
        sent = wait_until(lambda: delivered_rows(app, recovery_ids), timeout=60,
                          what=f"the new server to send the mail:\n{second.log_tail()}")
        for address in recovering:
            row: MailOutboxRow = sent[user_ids[address]]
            [delivered] = smtp.accepted_to(address)
            assert delivered.message_id == pending[user_ids[address]].message_id
            assert [entry.status for entry in mail_log_of(app, address)] == \
                ["failed"] * (row.attempts - 1) + ["sent"]
            assert follow_link(second, delivered.message)["type"] == "recovery"
    finally:
        for server in started:
            server.stop()
        smtp.close()
