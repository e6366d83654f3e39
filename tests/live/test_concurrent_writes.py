"""Writers that read, hash a password, then write, running at once in several processes.

On SQLite a transaction that read before another connection committed cannot start writing
(SQLite refuses at once instead of waiting); db.configure_engine avoids holding such snapshots.
The servers hash at GoTrue's real cost (bcrypt 10), which makes the read-to-write gap wide.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa

from gotrue_web.models import Session, User

from ..conftest import table_rows
from ..factories import unique_email

HEADERS = {"X-Supabase-Api-Version": "2024-01-01"}
PASSWORD = "password-123"


def _post(base_url: str, path: str, body: dict) -> httpx.Response:
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=60) as client:
        return client.post(path, json=body)


def test_concurrent_signups_and_logins_in_two_processes_all_succeed(app, start_gunicorn):
    servers = [start_gunicorn(threads=4).url, start_gunicorn(threads=4).url]
    emails = [unique_email("writer") for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        signups = list(pool.map(
            lambda pair: _post(servers[pair[0] % 2], "/signup",
                               {"email": pair[1], "password": PASSWORD}),
            enumerate(emails)))
    assert [r.status_code for r in signups] == [200] * len(emails), [r.text for r in signups]

    attempts = [(index, email) for index in range(3) for email in emails]
    with ThreadPoolExecutor(max_workers=8) as pool:
        logins = list(pool.map(
            lambda pair: _post(servers[pair[0] % 2], "/token?grant_type=password",
                               {"email": pair[1], "password": PASSWORD}),
            attempts))
    assert [r.status_code for r in logins] == [200] * len(attempts), \
        [r.text for r in logins if r.status_code != 200]

    assert len(table_rows(app, sa.select(User.id))) == len(emails)
    # One session per signup (autoconfirm) and one per login.
    assert len(table_rows(app, sa.select(Session.id))) == len(emails) + len(attempts)
