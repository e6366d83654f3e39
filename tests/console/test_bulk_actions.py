"""Bulk actions on the users list: the confirmation page, the typed count, runs in batches.

For each action: the effect in the database, one audit entry per user (the single-user
action's), the users skipped and why; then the run itself: the typed number, batches walking a
set larger than a batch, a tampered or foreign run refused, the filters honoured, users created
after the start left alone, a batch that fails rolled back alone and continued, a reloaded
start refused, the email rate limit, and the plain (no JavaScript) form.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from datetime import timedelta

import pytest

from gotrue_web.console.operations.bulk import actions as bulk_actions_ops
from gotrue_web.console.operations.bulk import runner
from gotrue_web.extensions import db
from gotrue_web.models import Session

from ..conftest import api_for
from ..factories import (
    PASSWORD,
    audit_entries,
    freeze_clock,
    make_user,
    session_ids,
    unique_email,
    user_row,
)
from .conftest import OPERATOR_EMAIL, signed_in
from .support_users import operator_entries, unescape

_RUN = re.compile(r'name="run" value="([^"]+)"')
_RUN_ID = re.compile(r'name="run_id" value="([0-9a-f]{32})"')
_STATUS = re.compile(r'class="bulk-status" role="status">\s*(.*?)\s*</p>', re.S)


@pytest.fixture
def app(make_mail_app):
    """Mail goes to the SMTP sink; the email budget leaves room for the runs of a test."""
    return make_mail_app(**{"rate_limit.email_sent": "1000"})


# --- helpers ------------------------------------------------------------------------------------


def confirm(console, action: str, *, scope: str = "all", ids=(), query: str = ""):
    return console.post(f"/console/users/bulk{query}",
                        {"action": action, "scope": scope, "user_id": [str(i) for i in ids]})


def start(console, action: str, typed, *, scope: str = "all", ids=(), query: str = "",
          **fields):
    """Open the confirmation (for its run id), then send it with ``typed``."""
    page = confirm(console, action, scope=scope, ids=ids, query=query)
    assert page.status_code == 200, page.get_data(as_text=True)
    run_id = _RUN_ID.search(page.get_data(as_text=True)).group(1)
    data = {"action": action, "scope": scope, "user_id": [str(i) for i in ids],
            "run_id": run_id, "confirm": str(typed), **fields}
    return console.post(f"/console/users/bulk/start{query}", data)


def token_of(response) -> str:
    return _RUN.search(response.get_data(as_text=True)).group(1)


def status_of(response) -> str:
    return " ".join(unescape(_STATUS.search(response.get_data(as_text=True)).group(1)).split())


def next_batch(console, response, htmx: bool = True):
    return console.post("/console/users/bulk/run", {"run": token_of(response)}, htmx=htmx)


def run_to_end(console, response, limit: int = 50):
    """Post batch after batch, as htmx does, until the run is done; the last answer and the
    number of batches."""
    for batches in range(1, limit):
        response = next_batch(console, response)
        assert response.status_code == 200, response.get_data(as_text=True)
        if "Done</h2>" in response.get_data(as_text=True):
            return response, batches
    raise AssertionError("the run did not end")


def bulk_entries(app) -> list[dict]:
    return operator_entries(app, "users_bulk_action")


def entries_about(app, action: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in operator_entries(app, action):
        found.setdefault(entry["traits"]["user_id"], []).append(entry)
    return found


# --- the confirmation ---------------------------------------------------------------------------


def test_the_list_offers_ticks_and_the_bulk_actions(console, app):
    user_id = make_user(app, unique_email("listed"))
    html = console.get("/console/users?state=confirmed").get_data(as_text=True)
    assert f'name="user_id" value="{user_id}"' in html
    assert 'action="/console/users/bulk?state=confirmed"' in html
    for key in bulk_actions_ops.MENU:
        assert f'<option value="{key}">' in html
    assert 'name="scope" value="all"' in html and 'name="scope" value="selected"' in html


def test_the_confirmation_shows_the_count_and_what_to_type(console, app):
    for _ in range(3):
        make_user(app, unique_email("count"), confirmed=False)
    make_user(app, unique_email("other"))
    page = confirm(console, "ban", query="?state=unconfirmed")
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "This will ban 3 users. Type <code>3</code> to confirm." in html
    assert "State: Unconfirmed" in html
    # Nothing happened: the confirmation is only a page.
    assert bulk_entries(app) == [] and operator_entries(app, "user_modified") == []


def test_without_an_action_the_page_asks_for_one(console, app):
    make_user(app, unique_email("any"))
    page = console.get("/console/users/bulk")
    assert page.status_code == 200
    assert 'name="action"' in page.get_data(as_text=True)
    assert confirm(console, "melt").status_code == 422
    nobody = confirm(console, "ban", scope="selected")
    assert nobody.status_code == 422
    assert "Tick at least one user" in nobody.get_data(as_text=True)


def test_a_wrong_number_is_refused_and_nothing_happens(console, app):
    ids = [make_user(app, unique_email("wrong")) for _ in range(2)]
    answer = start(console, "ban", 3, scope="selected", ids=ids, duration="24h",
                   reason="spam")
    assert answer.status_code == 422
    assert "Type 2 to confirm" in unescape(answer.get_data(as_text=True))
    assert all(user_row(app, user_id).banned_until is None for user_id in ids)
    assert bulk_entries(app) == []
    # A ban still needs its reason, as on the user page.
    no_reason = start(console, "ban", 2, scope="selected", ids=ids, duration="24h")
    assert no_reason.status_code == 422 and bulk_entries(app) == []


# --- each action --------------------------------------------------------------------------------


def test_ban_all_matching_the_filters(console, app):
    rt = app.extensions["gotrue"]
    targets = [make_user(app, unique_email("spammer"), confirmed=False) for _ in range(3)]
    longer = make_user(app, unique_email("longer"), confirmed=False,
                       banned_until=rt.now() + timedelta(days=365))
    bystander = make_user(app, unique_email("fine"))
    with app.app_context():
        db.session.add(Session(user_id=targets[0], created_at=rt.now()))
        db.session.commit()

    started = start(console, "ban", 4, query="?state=unconfirmed", duration="custom",
                    custom_duration="7d", reason="chargebacks")
    assert started.status_code == 200, started.get_data(as_text=True)
    assert "Starting" in started.get_data(as_text=True)
    done, _ = run_to_end(console, started)
    assert status_of(done) == "Banned 3 of 4 users · 1 skipped."
    assert "1 already banned at least that long" in done.get_data(as_text=True)

    for user_id in targets:
        assert user_row(app, user_id).is_banned(rt.now() + timedelta(days=6))
    assert session_ids(app, targets[0]) == set()
    assert user_row(app, bystander).banned_until is None
    entries = entries_about(app, "user_modified")
    assert sorted(entries) == sorted(str(user_id) for user_id in targets)
    for found in entries.values():
        assert len(found) == 1
        assert found[0]["traits"]["ban_duration"] == "168h"
        assert found[0]["traits"]["ban_reason"] == "chargebacks"
    assert str(longer) not in entries
    [begun] = bulk_entries(app)
    assert begun["traits"]["bulk_action"] == "ban" and begun["traits"]["users"] == 4
    assert begun["traits"]["filters"] == {"state": "unconfirmed"}
    audit_page = console.get("/console/audit?action=users_bulk_action").get_data(as_text=True)
    assert "bulk action started: ban 4 users for 7 days" in audit_page


def test_unban_skips_those_not_banned(console, app):
    rt = app.extensions["gotrue"]
    banned = [make_user(app, unique_email("banned"), banned_until=rt.now() + timedelta(hours=5))
              for _ in range(2)]
    free = make_user(app, unique_email("free"))
    answer = start(console, "unban", 3, scope="selected", ids=[*banned, free])
    done, _ = run_to_end(console, answer)
    assert status_of(done) == "Unbanned 2 of 3 users · 1 skipped."
    assert "1 not banned" in done.get_data(as_text=True)
    assert all(user_row(app, user_id).banned_until is None for user_id in banned)
    entries = entries_about(app, "user_modified")
    assert sorted(entries) == sorted(str(user_id) for user_id in banned)
    assert all(found[0]["traits"]["ban_duration"] == "none" for found in entries.values())


def test_delete_removes_each_user_for_good(console, app):
    doomed = [make_user(app, unique_email("doomed")) for _ in range(3)]
    kept = make_user(app, unique_email("kept"))
    done, _ = run_to_end(console, start(console, "delete", 3, scope="selected", ids=doomed))
    assert status_of(done) == "Deleted 3 of 3 users."
    assert all(user_row(app, user_id) is None for user_id in doomed)
    assert user_row(app, kept) is not None
    entries = entries_about(app, "user_deleted")
    assert sorted(entries) == sorted(str(user_id) for user_id in doomed)
    assert all(found[0]["traits"]["soft"] is False for found in entries.values())


def test_sign_out_ends_every_session_and_skips_users_without_one(console, app):
    api = api_for(app)
    emails = [unique_email("signed") for _ in range(2)]
    users = [make_user(app, email, password=PASSWORD) for email in emails]
    for email in emails:
        for _ in range(2):
            assert api.login(email, PASSWORD).status_code == 200
    idle = make_user(app, unique_email("idle"))
    done, _ = run_to_end(console, start(console, "sign_out", 3, scope="selected",
                                        ids=[*users, idle]))
    assert status_of(done) == "Signed out 2 of 3 users · 1 skipped."
    assert "1 no session to end" in done.get_data(as_text=True)
    assert session_ids(app) == set()
    entries = entries_about(app, "token_revoked")
    assert sorted(entries) == sorted(str(user_id) for user_id in users)
    assert all(found[0]["traits"]["sessions_revoked"] == 2 for found in entries.values())


def test_resend_confirmation_mails_unconfirmed_users_only(console, app, smtp_server):
    rt = app.extensions["gotrue"]
    waiting = [unique_email("waiting") for _ in range(2)]
    for email in waiting:
        make_user(app, email, confirmed=False)
    confirmed = make_user(app, unique_email("confirmed"))
    invited = make_user(app, unique_email("invited"), invited=True)
    banned_email = unique_email("banned")
    banned = make_user(app, banned_email, confirmed=False,
                       banned_until=rt.now() + timedelta(days=1))
    ids = [user_row(app, email).id for email in waiting] + [confirmed, invited, banned]
    done, _ = run_to_end(console, start(console, "resend_confirmation", 5, scope="selected",
                                        ids=ids))
    assert status_of(done) == "Sent the confirmation email to 2 of 5 users · 3 skipped."
    html = done.get_data(as_text=True)
    for reason in ("1 already confirmed", "1 invited (use Resend invite)",
                   "1 banned (no email to banned users)"):
        assert reason in html
    for email in waiting:
        assert len(smtp_server.wait_for(email)) == 1
    assert smtp_server.to(banned_email) == []
    entries = entries_about(app, "user_confirmation_requested")
    assert sorted(entries) == sorted(str(user_row(app, email).id) for email in waiting)


def test_resend_invite_mails_pending_invitations_only(console, app, smtp_server):
    pending = [unique_email("pending") for _ in range(2)]
    for email in pending:
        make_user(app, email, invited=True)
    member = make_user(app, unique_email("member"))
    ids = [user_row(app, email).id for email in pending] + [member]
    done, _ = run_to_end(console, start(console, "resend_invite", 3, scope="selected", ids=ids))
    assert status_of(done) == "Sent the invitation to 2 of 3 users · 1 skipped."
    assert "1 no pending invitation" in done.get_data(as_text=True)
    for email in pending:
        assert len(smtp_server.wait_for(email)) == 1
    invited = {entry["traits"]["user_email"] for entry in operator_entries(app, "user_invited")}
    assert invited == set(pending)


def test_the_email_rate_limit_skips_and_says_so(make_mail_app, smtp_server):
    app = make_mail_app(**{"rate_limit.email_sent": "2"})
    console = signed_in(app)
    emails = [unique_email("limited") for _ in range(4)]
    for email in emails:
        make_user(app, email, confirmed=False)
    done, _ = run_to_end(console, start(console, "resend_confirmation", 4,
                                        query="?state=unconfirmed"))
    assert status_of(done) == "Sent the confirmation email to 2 of 4 users · 2 skipped."
    html = done.get_data(as_text=True)
    assert "2 refused by the email rate limit" in html
    assert "GOTRUE_RATE_LIMIT_EMAIL_SENT" in html
    assert sum(len(smtp_server.to(email)) for email in emails) == 2


def test_email_actions_need_a_mail_server(make_app):
    app = make_app(**{"mailer.autoconfirm": False})
    console = signed_in(app)
    make_user(app, unique_email("unmailable"), confirmed=False)
    page = confirm(console, "resend_confirmation")
    assert "no SMTP server" in page.get_data(as_text=True)
    assert 'name="confirm"' not in page.get_data(as_text=True)


# --- the run ------------------------------------------------------------------------------------


def test_batches_walk_a_set_larger_than_a_batch(console, app, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    ids = [make_user(app, unique_email("batch")) for _ in range(5)]
    answer = start(console, "ban", 5, duration="24h", reason="batch test")
    first = next_batch(console, answer)
    assert "In progress" in first.get_data(as_text=True)
    assert status_of(first) == "Banned 2 of 5 users."
    # htmx asks for the next batch as soon as this answer is swapped in.
    assert 'hx-trigger="load, submit"' in first.get_data(as_text=True)
    done, batches = run_to_end(console, first)
    assert batches == 2
    assert status_of(done) == "Banned 5 of 5 users."
    assert sorted(entries_about(app, "user_modified")) == sorted(str(i) for i in ids)
    assert all(len(found) == 1 for found in entries_about(app, "user_modified").values())
    assert "See the audit log" in done.get_data(as_text=True)


def test_a_tampered_or_foreign_run_is_refused(console, app):
    ids = [make_user(app, unique_email("tamper")) for _ in range(2)]
    answer = start(console, "ban", 1, scope="selected", ids=ids[:1], duration="24h",
                   reason="one only")
    token = token_of(answer)
    payload, signature = token.split(".")
    state = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    state["user_ids"] = [str(i) for i in ids]
    forged = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    refused = console.post("/console/users/bulk/run", {"run": f"{forged}.{signature}"},
                           htmx=True)
    assert refused.status_code == 400
    assert "was changed" in refused.get_data(as_text=True)
    assert console.post("/console/users/bulk/run", {"run": token[:-2] + "xx"},
                        htmx=True).status_code == 400
    # Another operator cannot continue it either.
    other = signed_in(app, "second@example.com", "second-password-1")
    assert other.post("/console/users/bulk/run", {"run": token}, htmx=True).status_code == 400
    assert all(user_row(app, user_id).banned_until is None for user_id in ids)
    assert operator_entries(app, "user_modified") == []


def test_users_created_after_the_start_are_left_alone(console, app, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_SIZE", 1)
    clock = freeze_clock(app)
    early = [make_user(app, unique_email("early")) for _ in range(2)]
    answer = start(console, "ban", 2, duration="1h", reason="snapshot")
    clock.advance(seconds=5)
    late = make_user(app, unique_email("late"), created_at=clock.now)
    done, _ = run_to_end(console, answer)
    assert status_of(done) == "Banned 2 of 2 users."
    assert all(user_row(app, user_id).banned_until is not None for user_id in early)
    assert user_row(app, late).banned_until is None


def test_a_failed_batch_is_rolled_back_alone_and_the_run_continues(console, app, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    ids = [make_user(app, unique_email("fault")) for _ in range(5)]
    real = bulk_actions_ops.ACTIONS["ban"]
    acted = []

    def failing(user, ctx):
        real.act(user, ctx)
        acted.append(user.id)
        if len(acted) == 4:
            raise RuntimeError("the database went away")

    monkeypatch.setitem(bulk_actions_ops.ACTIONS, "ban", dataclasses.replace(real, act=failing))
    answer = start(console, "ban", 5, duration="24h", reason="fault test")
    first = next_batch(console, answer)
    stopped = next_batch(console, first)
    html = unescape(stopped.get_data(as_text=True))
    assert stopped.status_code == 200
    assert "Stopped after 2 of 5 users: the batch failed (RuntimeError)" in html
    assert 'hx-trigger="submit"' in html and ">Continue</button>" in html
    assert len(entries_about(app, "user_modified")) == 2  # the failed batch left nothing

    monkeypatch.setitem(bulk_actions_ops.ACTIONS, "ban", real)
    done, _ = run_to_end(console, stopped)
    assert status_of(done) == "Banned 5 of 5 users."
    entries = entries_about(app, "user_modified")
    assert sorted(entries) == sorted(str(i) for i in ids)
    assert all(len(found) == 1 for found in entries.values())


def test_a_reloaded_start_does_not_start_again(console, app):
    ids = [make_user(app, unique_email("reload"))]
    page = confirm(console, "sign_out", scope="selected", ids=ids)
    run_id = _RUN_ID.search(page.get_data(as_text=True)).group(1)
    data = {"action": "sign_out", "scope": "selected", "user_id": [str(ids[0])],
            "run_id": run_id, "confirm": "1"}
    assert console.post("/console/users/bulk/start", data).status_code == 200
    again = console.post("/console/users/bulk/start", data)
    assert again.status_code == 409
    assert "has started already" in again.get_data(as_text=True)
    assert len(bulk_entries(app)) == 1


def test_without_javascript_each_batch_is_a_page_with_continue(console, app, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_SIZE", 1)
    for _ in range(2):
        make_user(app, unique_email("plain"))
    answer = start(console, "ban", 2, duration="24h", reason="plain form")
    page = next_batch(console, answer, htmx=False)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert 'action="/console/users/bulk/run"' in html and ">Continue</button>" in html
    last = next_batch(console, page, htmx=False)
    last = next_batch(console, last, htmx=False)
    assert "Done</h2>" in last.get_data(as_text=True)
    assert status_of(last) == "Banned 2 of 2 users."
    audit_link = re.search(r'href="(/console/audit\?[^"]+)"', last.get_data(as_text=True))
    assert audit_link and "happened=bans" in audit_link.group(1)
    assert console.get(unescape(audit_link.group(1))).status_code == 200
    assert [e["actor_username"] for e in audit_entries(app, "users_bulk_action")] == [
        OPERATOR_EMAIL]
