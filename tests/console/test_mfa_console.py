"""The console's MFA views (issue 11): a user's factors (type, name, phone, status, created, last
challenged) with Remove and Remove all and their factor_deleted entries as the audit log page
shows them; the users list's MFA badge and "has MFA" filter (verified factors only) and the
highest aal of each user's live sessions, read with a bounded number of queries."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AAL, Factor, FactorStatus, FactorType, Session

from .. import factories
from ..factories import add_factor, factor_ids, statements_sent
from .conftest import signed_in
from .support_users import assert_operator_entry, operator_entries, unescape

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
CHALLENGED = datetime(2026, 3, 9, 8, 30, 15, tzinfo=timezone.utc)
PHONE = "15551234567"
ROW = re.compile(r'<tr id="factor-([0-9a-f-]{36})">(.*?)</tr>', re.S)


@pytest.fixture(autouse=True)
def fixed_clock(app):
    factories.freeze_clock(app, NOW)


# --- helpers ------------------------------------------------------------------------------------


def challenged(app, factor_id: uuid.UUID, at: datetime) -> None:
    """Set a factor's last_challenged_at, as a challenge leaves it."""
    with app.app_context():
        db.session.execute(sa.update(Factor).where(Factor.id == factor_id)
                           .values(last_challenged_at=at))
        db.session.commit()


def add_session(app, user_id, aal: AAL | None = AAL.aal1, *, factor_id=None,
                created_at: datetime | None = None, not_after: datetime | None = None,
                refreshed_at: datetime | None = None) -> uuid.UUID:
    """A session row as sign-in (aal1) or an MFA verify (aal2, with its factor) leaves it."""
    session_id = uuid.uuid4()
    created_at = created_at or NOW - timedelta(hours=1)
    with app.app_context():
        db.session.add(Session(id=session_id, user_id=uuid.UUID(str(user_id)), aal=aal,
                               factor_id=factor_id, created_at=created_at,
                               updated_at=created_at, not_after=not_after,
                               refreshed_at=refreshed_at))
        db.session.commit()
    return session_id


def session_aal(app, session_id) -> tuple[AAL | None, uuid.UUID | None]:
    with app.app_context():
        row = db.session.get(Session, session_id)
        return row.aal, row.factor_id


def factor_rows(html: str) -> dict[str, str]:
    """The factors table's rows by factor id (the row's HTML)."""
    section = html[html.index('id="factors"'):]
    section = section[:section.index("</section>")]
    return dict(ROW.findall(section))


def cells(row: str) -> list[str]:
    """The text of a row's cells, tags removed and whitespace squeezed."""
    texts = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", text).split()) for text in texts]


def list_row(body: str, user_id) -> str:
    row = body[body.index(f"/console/users/{user_id}"):]
    return row[:row.index("</tr>")]


def aal_cell(body: str, user_id) -> str:
    """The AAL cell of a user's row in the users list (the fourth cell after the link's)."""
    row = list_row(body, user_id)
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[3].strip()


# --- the factors table --------------------------------------------------------------------------


def test_factors_table_shows_type_name_phone_status_and_last_challenged(app, console):
    user_id = factories.make_user(app, factories.unique_email("mfa"))
    totp = add_factor(app, user_id, name="Work phone app",
                      created_at=NOW - timedelta(days=3))
    phone = add_factor(app, user_id, factor_type=FactorType.phone, name="Mobile",
                       phone=PHONE, status=FactorStatus.unverified,
                       created_at=NOW - timedelta(days=1))
    challenged(app, totp, CHALLENGED)
    html = console.get(f"/console/users/{user_id}").get_data(as_text=True)
    assert "<th>Factor</th><th>Created</th><th>Last challenged</th>" in html
    rows = factor_rows(html)
    assert list(rows) == [str(totp), str(phone)]  # oldest first
    assert cells(rows[str(totp)])[:3] == [
        f"Work phone app verified totp ID {totp} Copy the factor id",
        (NOW - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "2026-03-09 08:30:15 UTC"]
    assert '<span class="factor-type">totp</span>' in rows[str(totp)]
    assert f'datetime="{CHALLENGED:%Y-%m-%dT%H:%M:%SZ}"' in rows[str(totp)]
    assert cells(rows[str(phone)])[:3] == [
        f"Mobile unverified phone · +{PHONE} ID {phone} Copy the factor id",
        (NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S UTC"), "never"]
    # The number links to the texts sent to it (MFA codes included) in the SMS log.
    assert f'href="/console/sms?number={PHONE}"' in rows[str(phone)]
    assert '<span class="badge warn">unverified</span>' in rows[str(phone)]
    assert '<span class="badge ok">verified</span>' in rows[str(totp)]
    assert html.count(">Remove</button>") == 2 and ">Remove all</button>" in html


def test_a_phone_factor_stored_with_a_plus_shows_one_plus(app, console):
    user_id = factories.make_user(app, factories.unique_email("mfa"))
    factor = add_factor(app, user_id, factor_type=FactorType.phone, name=None,
                        phone=f"+{PHONE}")
    row = factor_rows(console.get(f"/console/users/{user_id}").get_data(as_text=True))
    assert cells(row[str(factor)])[0] == (f"no name verified phone · +{PHONE} ID {factor} "
                                          "Copy the factor id")
    assert f">+{PHONE}</a>" in row[str(factor)]


@pytest.mark.parametrize("htmx", [True, False])
def test_remove_a_phone_factor_drops_its_sessions_to_aal1_and_is_audited(app, console, htmx):
    user_id = factories.make_user(app, factories.unique_email("mfa"))
    kept = add_factor(app, user_id, name="authenticator")
    removed = add_factor(app, user_id, factor_type=FactorType.phone, name="Mobile",
                         phone=PHONE)
    challenged(app, removed, CHALLENGED)
    upgraded = add_session(app, user_id, AAL.aal2, factor_id=removed)
    response = console.post(f"/console/users/{user_id}/factors/{removed}/delete", {},
                            htmx=htmx)
    if htmx:
        assert response.status_code == 200
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {
            "message": "MFA factor removed.", "kind": "ok"}
        html = response.get_data(as_text=True)
    else:
        assert response.status_code == 303
        html = console.get(f"/console/users/{user_id}").get_data(as_text=True)
    assert list(factor_rows(html)) == [str(kept)]
    assert factor_ids(app, user_id) == {kept}
    assert session_aal(app, upgraded) == (AAL.aal1, None)
    assert_operator_entry(app, "factor_deleted", user_id, factor_id=str(removed),
                          factor_type="phone")
    # The users list now shows the session at aal1.
    body = console.get("/console/users").get_data(as_text=True)
    assert aal_cell(body, user_id) == '<span class="badge">aal1</span>'


def test_remove_all_factors_writes_one_entry_each_with_the_type(app, console):
    user_id = factories.make_user(app, factories.unique_email("mfa"))
    totp = add_factor(app, user_id, name="authenticator")
    phone = add_factor(app, user_id, factor_type=FactorType.phone, name="Mobile", phone=PHONE,
                       status=FactorStatus.unverified)
    response = console.post(f"/console/users/{user_id}/factors/delete", {}, htmx=True)
    assert json.loads(response.headers["HX-Trigger"])["toast"] == {
        "message": "2 MFA factors removed.", "kind": "ok"}
    assert "No MFA factors" in response.get_data(as_text=True)
    assert factor_ids(app, user_id) == set()
    entries = {e["traits"]["factor_id"]: e["traits"]["factor_type"]
               for e in operator_entries(app, "factor_deleted")}
    assert entries == {str(totp): "totp", str(phone): "phone"}


def test_the_audit_log_page_shows_the_removal_with_its_factor_type(app, console):
    email = factories.unique_email("mfa")
    user_id = factories.make_user(app, email)
    factor = add_factor(app, user_id, factor_type=FactorType.phone, name="Mobile", phone=PHONE)
    assert console.post(f"/console/users/{user_id}/factors/{factor}/delete", {},
                        htmx=True).status_code == 200
    page = console.get("/console/audit?action=factor_deleted")
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    (entry,) = [row for row in re.findall(r'<tr id="audit-.*?</tr>', html, re.S)
                if ">factor_deleted</code>" in row]
    assert "operator@example.com" in entry and "MFA</span>" in entry
    assert '<span class="summary">MFA factor removed</span>' in entry
    assert f'href="/console/users/{user_id}">{user_id}</a>' in entry
    assert "<dt>factor type</dt> <dd>phone</dd>" in entry
    assert f"<dt>factor id</dt> <dd>{factor}</dd>" in entry


# --- the users list -----------------------------------------------------------------------------


def test_list_shows_mfa_for_verified_factors_only_and_the_filter_agrees(app, console):
    verified = factories.make_user(app, "verified@example.com")
    add_factor(app, verified)
    pending = factories.make_user(app, "pending@example.com")
    add_factor(app, pending, factor_type=FactorType.phone, phone=PHONE,
               status=FactorStatus.unverified)
    plain = factories.make_user(app, "plain@example.com")
    body = console.get("/console/users").get_data(as_text=True)
    assert '<span class="badge info">MFA</span>' in list_row(body, verified)
    for user_id in (pending, plain):
        assert ">MFA<" not in list_row(body, user_id)
    with_mfa = console.get("/console/users?mfa=yes", htmx=True).get_data(as_text=True)
    without = console.get("/console/users?mfa=no", htmx=True).get_data(as_text=True)
    assert str(verified) in with_mfa and str(pending) not in with_mfa
    assert str(pending) in without and str(plain) in without and str(verified) not in without
    assert "1 user matches." in with_mfa and "2 users match." in without


def test_list_shows_the_highest_aal_of_live_sessions(app, console):
    mixed = factories.make_user(app, "mixed@example.com")
    factor = add_factor(app, mixed)
    add_session(app, mixed, AAL.aal1)
    add_session(app, mixed, AAL.aal2, factor_id=factor)
    one_step = factories.make_user(app, "one-step@example.com")
    add_session(app, one_step, AAL.aal1)
    add_session(app, one_step, None)  # no aal recorded: a one-step session
    expired_mfa = factories.make_user(app, "expired@example.com")
    add_session(app, expired_mfa, AAL.aal2, not_after=NOW - timedelta(seconds=1))
    add_session(app, expired_mfa, AAL.aal1, not_after=NOW + timedelta(hours=1))
    only_expired = factories.make_user(app, "gone@example.com")
    add_session(app, only_expired, AAL.aal2, not_after=NOW - timedelta(minutes=5))
    signed_out = factories.make_user(app, "signed-out@example.com")
    body = console.get("/console/users").get_data(as_text=True)
    assert "The highest assurance level of the user's live sessions" in body
    assert aal_cell(body, mixed) == '<span class="badge ok">aal2</span>'
    for user_id in (one_step, expired_mfa):
        assert aal_cell(body, user_id) == '<span class="badge">aal1</span>'
    for user_id in (only_expired, signed_out):
        assert aal_cell(body, user_id) == '<span class="muted">no session</span>'
    # The htmx table is the same markup.
    table = console.get("/console/users?q=mixed", htmx=True).get_data(as_text=True)
    assert aal_cell(table, mixed) == '<span class="badge ok">aal2</span>'


def test_session_limits_decide_which_sessions_are_live(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "sessions.timebox": timedelta(hours=24),
                      "sessions.inactivity_timeout": timedelta(hours=2)})
    factories.freeze_clock(app, NOW)
    console = signed_in(app)
    too_old = factories.make_user(app, "too-old@example.com")
    add_session(app, too_old, AAL.aal2, created_at=NOW - timedelta(hours=25),
                refreshed_at=NOW - timedelta(minutes=1))
    idle = factories.make_user(app, "idle@example.com")
    add_session(app, idle, AAL.aal2, created_at=NOW - timedelta(hours=5),
                refreshed_at=NOW - timedelta(hours=3))
    add_session(app, idle, AAL.aal1, created_at=NOW - timedelta(hours=1))
    active = factories.make_user(app, "active@example.com")
    add_session(app, active, AAL.aal2, created_at=NOW - timedelta(hours=5),
                refreshed_at=NOW - timedelta(minutes=30))
    body = console.get("/console/users").get_data(as_text=True)
    assert aal_cell(body, too_old) == '<span class="muted">no session</span>'
    assert aal_cell(body, idle) == '<span class="badge">aal1</span>'
    assert aal_cell(body, active) == '<span class="badge ok">aal2</span>'


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def _user_with_everything(app, index: int) -> uuid.UUID:
    user_id = factories.make_user(app, f"user{index:03d}x@example.com",
                                  providers=("email", "google"))
    factor = add_factor(app, user_id)
    add_session(app, user_id, AAL.aal1)
    add_session(app, user_id, AAL.aal2, factor_id=factor)
    return user_id


def test_the_list_costs_the_same_queries_for_3_or_30_rows(app, console):
    for index in range(3):
        _user_with_everything(app, index)
    console.get("/console/users?per_page=40")  # warm up: the first request loads more
    with statements_sent(app) as sent:
        page = console.get("/console/users?per_page=40").get_data(as_text=True)
    small = selects(sent)
    assert page.count('<span class="badge ok">aal2</span>') == 3
    for index in range(3, 30):
        _user_with_everything(app, index)
    with statements_sent(app) as sent:
        page = console.get("/console/users?per_page=40").get_data(as_text=True)
    large = selects(sent)
    assert page.count('<span class="badge ok">aal2</span>') == 30
    assert len(large) == len(small), "\n".join(large)
    assert sum("sessions" in statement for statement in large) == 1
