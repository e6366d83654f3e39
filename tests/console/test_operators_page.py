"""The operators page (issue 15): owners invite, change roles, disable and enable, reset
two-step sign-in and delete; everyone else reads the list. Each action's effect in the
database, its audit entry and its guards; the invitation link (single use, 72 hours, forged
or tampered links refused); a disabled operator refused at sign-in with their live session
ended."""

from __future__ import annotations

import html
import re
import threading
import uuid
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import operators
from gotrue_web.console.operations.audit_log import summaries
from gotrue_web.console.operations.operator_admin import team
from gotrue_web.errors import GoTrueError
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, Operator

from ..support.smtp import html_body, links
from .conftest import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    ConsoleClient,
    console_client,
    enable_totp,
    form_error,
)

PAGE = "/console/operators"
NEW_PASSWORD = "a-brand-new-password-7"
_LINK = re.compile(r'id="invitation-url"[^>]*value="([^"]+)"')


# --- helpers ------------------------------------------------------------------------------------


def add_operator(app, email: str, role: str, password: str = OPERATOR_PASSWORD) -> uuid.UUID:
    with app.app_context():
        operator = operators.create(app.extensions["gotrue"], email, password, role=role)
        db.session.commit()
        return operator.id


def sign_in(app, email: str, password: str = OPERATOR_PASSWORD, totp_code: str = ""
            ) -> ConsoleClient:
    client = console_client(app)
    response = client.login(email, password, totp_code)
    assert response.status_code == 303, form_error(response)
    return client


def row(app, email: str) -> Operator | None:
    with app.app_context():
        return db.session.execute(
            sa.select(Operator).where(Operator.email == email)).scalar_one_or_none()


def audit_entries(app, action: str) -> list[dict]:
    with app.app_context():
        entries = db.session.execute(
            sa.select(AuditLogEntry).order_by(AuditLogEntry.created_at)).scalars().all()
        return [{**entry.payload, "ip_address": entry.ip_address} for entry in entries
                if entry.payload.get("action") == action]


def invitation_link(response) -> str:
    match = _LINK.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return html.unescape(match.group(1))


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def join_path(token: str) -> str:
    return "/console/join?token=" + token


def signed_out(response) -> bool:
    return response.status_code == 303 and response.headers["Location"].startswith(
        "/console/login")


@pytest.fixture
def owner(app, make_operator) -> ConsoleClient:
    """The fixture operator (an owner, as every operator made without a role is)."""
    make_operator()
    return sign_in(app, OPERATOR_EMAIL)


# --- the page -----------------------------------------------------------------------------------


def test_owners_see_every_operator_and_the_actions(app, owner):
    add_operator(app, "admin@example.com", "admin")
    enable_totp(app, "admin@example.com")
    sign_in(app, "admin@example.com", totp_code=pyotp.TOTP(
        row(app, "admin@example.com").totp_secret).now())
    response = owner.get(PAGE)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'aria-current="page">Operators</a>' in body
    admin_row = re.search(r'<tr id="operator-[^"]+">\s*<td class="primary">admin@example.com'
                          r'.*?</tr>', body, re.S).group(0)
    assert "<td>Admin</td>" in admin_row and "badge ok\">On" in admin_row
    assert "never" not in admin_row and "Active" in admin_row
    own_row = re.search(r'<td class="primary">operator@example.com.*?</tr>', body, re.S).group(0)
    assert "<td>Owner</td>" in own_row and "never" not in own_row and ">you<" in own_row
    # Owners get the invite form and the actions of every row but their own.
    assert 'action="/console/operators/invite"' in body
    assert body.count("<summary>Manage") == 1
    assert "Manage<span class=\"visually-hidden\"> admin@example.com" in body


@pytest.mark.parametrize("role", ["admin", "support", "viewer"])
def test_other_roles_read_the_list_without_actions(app, owner, role):
    add_operator(app, f"{role}@example.com", role)
    client = sign_in(app, f"{role}@example.com")
    response = client.get(PAGE)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "operator@example.com" in body and f"{role}@example.com" in body
    assert "/console/operators/invite" not in body and "Manage" not in body
    assert f"Your role: {role}" in body
    # The htmx fragment is the same block.
    fragment = client.get(PAGE, htmx=True)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)


# --- invitations --------------------------------------------------------------------------------


def test_an_invitation_makes_an_operator_without_a_password_and_shows_the_link_once(app, owner):
    response = owner.post(PAGE + "/invite", {"email": " New.Admin@Example.com ",
                                             "role": "admin"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    link = invitation_link(response)
    assert link.startswith("http://localhost/console/join?token=")
    assert "Not emailed: no SMTP server is configured" in body
    invited = row(app, "new.admin@example.com")
    assert invited.role == "admin" and invited.password_hash == operators.PENDING_PASSWORD
    assert invited.disabled_at is None and not invited.totp_enabled
    # Nothing signs in as the invitee before the password is chosen.
    refused = console_client(app).login("new.admin@example.com", operators.PENDING_PASSWORD)
    assert refused.status_code == 401
    [entry] = audit_entries(app, "operator_invited")
    assert entry["actor_username"] == OPERATOR_EMAIL and entry["log_type"] == "operator"
    assert entry["traits"] == {"operator_id": str(invited.id),
                               "operator_email": "new.admin@example.com",
                               "operator_role": "admin"}
    assert entry["ip_address"] == "203.0.113.10"
    # The link is shown on that answer only: not on the page, not in a flash.
    page = owner.get(PAGE).get_data(as_text=True)
    assert token_of(link) not in page and "Invited" in page
    assert token_of(link) not in str(owner.client.get_cookie("session"))


def test_an_htmx_invitation_answers_with_the_block_and_a_toast(app, owner):
    response = owner.post(PAGE + "/invite", {"email": "sam@example.com", "role": "support"},
                          htmx=True)
    assert response.status_code == 200
    assert '"toast"' in response.headers["HX-Trigger"]
    assert response.get_data(as_text=True).lstrip().startswith("{#") is False
    assert invitation_link(response)
    assert row(app, "sam@example.com").role == "support"


def test_the_invitation_is_emailed_when_smtp_is_configured(mail_app, smtp_server):
    add_operator(mail_app, OPERATOR_EMAIL, "owner")
    client = sign_in(mail_app, OPERATOR_EMAIL)
    response = client.post(PAGE + "/invite", {"email": "mailed@example.com", "role": "viewer"})
    assert response.status_code == 200
    assert "Emailed to mailed@example.com" in response.get_data(as_text=True)
    [message] = smtp_server.wait_for("mailed@example.com")
    assert message["Subject"] == "You are invited to the gotrue-web console"
    assert links(message) == [invitation_link(response)]
    assert "operator@example.com invited you" in html_body(message)
    mail_log = client.get("/console/mail").get_data(as_text=True)
    assert "operator_invite" in mail_log and "mailed@example.com" in mail_log


@pytest.mark.parametrize("form, message", [
    ({"email": "not-an-address", "role": "viewer"}, "email"),
    ({"email": "x@example.com", "role": "superuser"}, "Choose a role"),
    ({"email": OPERATOR_EMAIL, "role": "viewer"}, "already exists"),
])
def test_an_invitation_with_a_bad_form_is_refused(app, owner, form, message):
    before = len(operators_list(app))
    response = owner.post(PAGE + "/invite", form)
    assert response.status_code == 422
    assert message.lower() in form_error(response).lower()
    assert len(operators_list(app)) == before
    assert audit_entries(app, "operator_invited") == []


def operators_list(app) -> list[str]:
    with app.app_context():
        return [operator.email for operator in operators.list_all()]


def test_the_invitation_link_sets_the_password_once_and_the_operator_signs_in_with_the_role(
        app, owner):
    link = invitation_link(owner.post(PAGE + "/invite", {"email": "vi@example.com",
                                                         "role": "viewer"}))
    invitee = console_client(app, ip="198.51.100.20")
    page = invitee.get(join_path(token_of(link)))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "vi@example.com" in text and "invited as viewer" in text

    # The password rules of the CLI, and the two fields must agree.
    short = invitee.post("/console/join", {"token": token_of(link), "password": "short",
                                           "password_confirm": "short"})
    assert short.status_code == 422 and "at least 12 characters" in form_error(short)
    differ = invitee.post("/console/join", {"token": token_of(link), "password": NEW_PASSWORD,
                                            "password_confirm": NEW_PASSWORD + "x"})
    assert differ.status_code == 422 and "differ" in form_error(differ)
    assert row(app, "vi@example.com").password_hash == operators.PENDING_PASSWORD

    done = invitee.post("/console/join", {"token": token_of(link), "password": NEW_PASSWORD,
                                          "password_confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/console/login"
    assert not operators.is_pending(row(app, "vi@example.com"))
    [entry] = audit_entries(app, "operator_invite_accepted")
    assert entry["actor_username"] == "vi@example.com" and entry["ip_address"] == "198.51.100.20"

    # Used up: the same link works no more, for the page or the form.
    again = invitee.get(join_path(token_of(link)))
    assert again.status_code == 404 and "does not work" in again.get_data(as_text=True)
    invitee.get("/console/login")  # a new CSRF token: accepting ended the browser's session
    reuse = invitee.post("/console/join", {"token": token_of(link), "password": "x" * 20,
                                           "password_confirm": "x" * 20})
    assert reuse.status_code == 404
    assert app.extensions["gotrue"].hasher.verify(NEW_PASSWORD,
                                                  row(app, "vi@example.com").password_hash)

    viewer = sign_in(app, "vi@example.com", NEW_PASSWORD)
    assert viewer.get("/console/users").status_code == 200
    assert viewer.post("/console/rate-limits/reset", {"bucket": "token", "key": "x"}
                       ).status_code == 403


def test_the_invitation_link_expires_after_72_hours(app, owner, clock):
    link = invitation_link(owner.post(PAGE + "/invite", {"email": "late@example.com",
                                                         "role": "admin"}))
    clock.advance(hours=71, minutes=59)
    assert console_client(app).get(join_path(token_of(link))).status_code == 200
    clock.advance(minutes=1)
    invitee = console_client(app)
    assert invitee.get(join_path(token_of(link))).status_code == 404
    response = invitee.post("/console/join", {"token": token_of(link), "password": NEW_PASSWORD,
                                              "password_confirm": NEW_PASSWORD})
    assert response.status_code == 404
    assert operators.is_pending(row(app, "late@example.com"))


def test_forged_and_tampered_links_are_refused(app, owner):
    token = token_of(invitation_link(owner.post(PAGE + "/invite", {"email": "t@example.com",
                                                                   "role": "owner"})))
    operator_hex, version, expires, signature = token.split(".")
    other = uuid.uuid4().hex
    for forged in (f"{other}.{version}.{expires}.{signature}",
                   f"{operator_hex}.{int(version) + 1}.{expires}.{signature}",
                   f"{operator_hex}.{version}.{int(expires) + 3600}.{signature}",
                   f"{operator_hex}.{version}.{expires}.{signature[:-2]}AA",
                   "", "garbage", "a.b.c.d", "é" * 10, token + "x" * 300):
        response = console_client(app).get(join_path(forged))
        assert response.status_code == 404, forged
    assert console_client(app).get("/console/join").status_code == 404
    assert operators.is_pending(row(app, "t@example.com"))


def test_a_new_invitation_link_replaces_the_previous_one(app, owner):
    first = invitation_link(owner.post(PAGE + "/invite", {"email": "re@example.com",
                                                          "role": "support"}))
    invited = row(app, "re@example.com")
    response = owner.post(f"{PAGE}/{invited.id}/invitation")
    assert response.status_code == 200
    second = invitation_link(response)
    assert second != first
    assert console_client(app).get(join_path(token_of(first))).status_code == 404
    assert console_client(app).get(join_path(token_of(second))).status_code == 200
    assert len(audit_entries(app, "operator_invite_renewed")) == 1
    # Only for someone still invited.
    add_operator(app, "set@example.com", "admin")
    refused = owner.post(f"{PAGE}/{row(app, 'set@example.com').id}/invitation")
    assert refused.status_code == 303
    assert "has set a password already" in owner.get(PAGE).get_data(as_text=True)


def test_accepting_an_invitation_ends_whoever_was_signed_in_in_that_browser(app, owner):
    link = invitation_link(owner.post(PAGE + "/invite", {"email": "b@example.com",
                                                         "role": "viewer"}))
    owner.post("/console/join", {"token": token_of(link), "password": NEW_PASSWORD,
                                 "password_confirm": NEW_PASSWORD})
    assert signed_out(owner.get(PAGE))


# --- roles --------------------------------------------------------------------------------------


def test_an_owner_changes_a_role_which_applies_at_the_next_request(app, owner):
    add_operator(app, "ad@example.com", "admin")
    admin = sign_in(app, "ad@example.com")
    assert admin.post("/console/rate-limits/reset", {"bucket": "token", "key": "k"}
                      ).status_code != 403
    target = row(app, "ad@example.com").id
    response = owner.post(f"{PAGE}/{target}/role", {"role": "viewer"}, htmx=True)
    assert response.status_code == 200 and "ad@example.com is now viewer." in \
        response.headers["HX-Trigger"]
    assert row(app, "ad@example.com").role == "viewer"
    [entry] = audit_entries(app, "operator_role_changed")
    assert entry["traits"]["previous_role"] == "admin"
    assert entry["traits"]["operator_role"] == "viewer"
    assert summaries.summary("operator_role_changed", entry["traits"]) == \
        "operator ad@example.com changed from admin to viewer"
    # The same session, refused now.
    assert admin.post("/console/rate-limits/reset", {"bucket": "token", "key": "k"}
                      ).status_code == 403


@pytest.mark.parametrize("role", ["", "root", "Owner"])
def test_an_unknown_role_is_refused(app, owner, role):
    add_operator(app, "ad@example.com", "admin")
    response = owner.post(f"{PAGE}/{row(app, 'ad@example.com').id}/role", {"role": role})
    assert response.status_code == 303
    assert row(app, "ad@example.com").role == "admin"
    assert audit_entries(app, "operator_role_changed") == []


def test_nobody_changes_their_own_role_or_disables_or_deletes_themselves(app, owner):
    me = row(app, OPERATOR_EMAIL).id
    for path, form in ((f"{PAGE}/{me}/role", {"role": "viewer"}),
                       (f"{PAGE}/{me}/disable", {}), (f"{PAGE}/{me}/delete", {}),
                       (f"{PAGE}/{me}/totp-reset", {})):
        response = owner.post(path, form, htmx=True)
        assert response.status_code == 422, path
        assert "yourself" in response.headers["HX-Trigger"], path
    mine = row(app, OPERATOR_EMAIL)
    assert mine.role == "owner" and mine.disabled_at is None
    assert owner.get(PAGE).status_code == 200


def test_the_last_active_owner_is_never_demoted_disabled_or_deleted(app, owner):
    """Through the page an owner never acts on themselves, so the guard holds against a race:
    the acting owner demoted (or disabled) in a transaction that committed meanwhile."""
    add_operator(app, "second@example.com", "owner")
    rt = app.extensions["gotrue"]
    with app.app_context():
        acting = operators.find("second@example.com")
        target = operators.find(OPERATOR_EMAIL)
        db.session.execute(sa.update(Operator).where(Operator.id == acting.id)
                           .values(role="admin"))
        db.session.commit()
        for action in (lambda: team.change_role(rt, target, "admin", acting, ""),
                       lambda: team.disable(rt, target, acting, ""),
                       lambda: team.delete(rt, target, acting, "")):
            with pytest.raises(GoTrueError) as refused:
                action()
            assert "last active owner" in refused.value.message
            db.session.rollback()
    assert row(app, OPERATOR_EMAIL).role == "owner"
    assert row(app, OPERATOR_EMAIL).disabled_at is None


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app, owner):
    """Each request locks the owners before counting them: one demotion wins, the other finds
    its target the last active owner."""
    add_operator(app, "second@example.com", "owner")
    rt = app.extensions["gotrue"]
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(acting_email: str, target_email: str) -> None:
        with app.app_context():
            acting, target = operators.find(acting_email), operators.find(target_email)
            barrier.wait()
            try:
                team.change_role(rt, target, "admin", acting, "")
                db.session.commit()
                outcomes.append("demoted")
            except GoTrueError as error:
                db.session.rollback()
                outcomes.append(error.message)

    threads = [threading.Thread(target=demote, args=pair) for pair in
               ((OPERATOR_EMAIL, "second@example.com"), ("second@example.com", OPERATOR_EMAIL))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[0] == "demoted" and "last active owner" in sorted(outcomes)[1]
    assert sorted(row(app, email).role for email in (OPERATOR_EMAIL, "second@example.com")) \
        == ["admin", "owner"]


def test_an_owner_may_demote_another_owner_while_one_stays(app, owner):
    add_operator(app, "second@example.com", "owner")
    second = row(app, "second@example.com").id
    assert owner.post(f"{PAGE}/{second}/role", {"role": "admin"}).status_code == 303
    assert row(app, "second@example.com").role == "admin"


# --- disable, enable, two-step reset, delete ----------------------------------------------------


def test_a_disabled_operator_is_signed_out_at_once_and_refused_at_sign_in(app, owner):
    add_operator(app, "sup@example.com", "support")
    support = sign_in(app, "sup@example.com")
    assert support.get("/console/users").status_code == 200
    target = row(app, "sup@example.com").id

    response = owner.post(f"{PAGE}/{target}/disable")
    assert response.status_code == 303
    assert "sup@example.com is disabled" in owner.get(PAGE).get_data(as_text=True)
    assert row(app, "sup@example.com").disabled_at is not None
    assert signed_out(support.get("/console/users"))
    refused = console_client(app).login("sup@example.com", OPERATOR_PASSWORD)
    assert refused.status_code == 401
    assert form_error(refused) == operators.LOGIN_REFUSED  # says no more than a wrong password
    [entry] = audit_entries(app, "operator_disabled")
    assert entry["traits"]["operator_email"] == "sup@example.com"
    assert audit_entries(app, "operator_login_failed")[-1]["actor_username"] == "sup@example.com"

    assert owner.post(f"{PAGE}/{target}/disable").status_code == 303  # already: refused
    assert len(audit_entries(app, "operator_disabled")) == 1

    assert owner.post(f"{PAGE}/{target}/enable").status_code == 303
    assert row(app, "sup@example.com").disabled_at is None
    assert len(audit_entries(app, "operator_enabled")) == 1
    assert sign_in(app, "sup@example.com").get("/console/users").status_code == 200


def test_disabling_an_invited_operator_voids_their_link(app, owner):
    link = invitation_link(owner.post(PAGE + "/invite", {"email": "d@example.com",
                                                         "role": "viewer"}))
    target = row(app, "d@example.com").id
    owner.post(f"{PAGE}/{target}/disable")
    assert console_client(app).get(join_path(token_of(link))).status_code == 404
    owner.post(f"{PAGE}/{target}/enable")
    assert console_client(app).get(join_path(token_of(link))).status_code == 404


def test_resetting_two_step_sign_in_lets_the_operator_enrol_again(app, owner):
    add_operator(app, "t@example.com", "admin")
    enable_totp(app, "t@example.com")
    assert console_client(app).login("t@example.com", OPERATOR_PASSWORD).status_code == 401
    target = row(app, "t@example.com").id
    assert owner.post(f"{PAGE}/{target}/totp-reset").status_code == 303
    reset = row(app, "t@example.com")
    assert not reset.totp_enabled and reset.totp_secret is None
    assert len(audit_entries(app, "operator_totp_reset")) == 1
    signed_in = sign_in(app, "t@example.com")
    assert signed_in.post("/console/profile/totp").status_code == 303  # enrols again
    assert row(app, "t@example.com").totp_secret is not None
    # Nothing to reset now (enrolment not confirmed counts as something: the secret).
    assert owner.post(f"{PAGE}/{target}/totp-reset").status_code == 303
    assert owner.post(f"{PAGE}/{target}/totp-reset").status_code == 303
    assert len(audit_entries(app, "operator_totp_reset")) == 2


def test_deleting_an_operator_removes_the_row_and_ends_their_session(app, owner):
    add_operator(app, "gone@example.com", "viewer")
    viewer = sign_in(app, "gone@example.com")
    target = row(app, "gone@example.com").id
    response = owner.post(f"{PAGE}/{target}/delete", htmx=True)
    assert response.status_code == 200
    assert "gone@example.com was deleted." in response.headers["HX-Trigger"]
    assert "gone@example.com" not in response.get_data(as_text=True)
    assert row(app, "gone@example.com") is None
    assert signed_out(viewer.get("/console/users"))
    [entry] = audit_entries(app, "operator_deleted")
    assert entry["traits"] == {"operator_id": str(target), "operator_email": "gone@example.com",
                               "operator_role": "viewer"}
    # Again: there is nobody to delete.
    missing = owner.post(f"{PAGE}/{target}/delete", htmx=True)
    assert missing.status_code == 404
    assert owner.post(f"{PAGE}/not-an-id/delete").status_code == 303


def test_the_audit_log_reads_the_operator_actions(app, owner):
    add_operator(app, "x@example.com", "admin")
    target = row(app, "x@example.com").id
    owner.post(f"{PAGE}/{target}/disable")
    owner.post(PAGE + "/invite", {"email": "y@example.com", "role": "support"})
    body = owner.get("/console/audit").get_data(as_text=True)
    assert "operator x@example.com disabled" in body
    assert "operator y@example.com invited as support" in body
