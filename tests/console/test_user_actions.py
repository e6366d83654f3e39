"""Every action on the console's user detail page, over htmx and as a plain form post.

For each action: the effect in the database, the audit entry (the operator as actor, the admin
API's action name, the target user, the IP), the htmx answer (the detail block and a toast) and
the plain answer (303 and a flash on the next page), the refusals (422 with the message and
nothing changed, 404 for a user that does not exist), and for the email actions the message the
SMTP sink receives, whose link is followed to prove it works. The metadata editor is covered in
test_user_detail.py.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from gotrue_web.console.operations import operators
from gotrue_web.console.operations import user_actions as console_actions
from gotrue_web.extensions import db

from ..conftest import email_provider
from ..factories import (
    PASSWORD,
    add_factor,
    audit_entries,
    claims,
    create_user,
    factor_ids,
    fragment,
    identities,
    mail_log,
    mail_to,
    path_of,
    session_ids,
    sign_in,
    unique_email,
    user_row,
    verify_link,
)
from .conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, ConsoleClient
from .support_users import assert_operator_entry, operator_entries, unescape

SITE = "http://localhost:3000"
OPERATOR_IP = "198.51.100.23"


# Ids no row has; fixed, so that every pytest-xdist worker collects the same tests.
NO_USER = "6e1d0c9b-3a2f-4e8d-9c7b-5a4f3e2d1c0b"
NO_FACTOR = "2f4e6a8c-1b3d-4f5a-8e7c-9d0b1a2c3e4f"
NO_SESSION = "7a9c1e3f-5b7d-4a9e-b1c3-d5e7f9a1b3c5"


@pytest.fixture
def app(mail_app):
    """Mail goes to the SMTP sink; nothing is confirmed without a link."""
    return mail_app


# --- helpers ------------------------------------------------------------------------------------


def act(console, user_id, action: str, data: dict | None = None, *, htmx: bool = False,
        **kwargs):
    return console.post(f"/console/users/{user_id}/{action}", data or {}, htmx=htmx, **kwargs)


def assert_done(console, response, user_id, message: str, *, htmx: bool) -> str:
    """The success answer: the detail block with an ok toast (htmx), or a 303 back to the page
    whose flash says ``message``. Returns the HTML that shows the result."""
    if htmx:
        html = response.get_data(as_text=True)
        assert response.status_code == 200, html
        assert "<html" not in html and html.lstrip().startswith('<div id="user-detail">')
        toast = json.loads(response.headers["HX-Trigger"])["toast"]
        assert toast == {"message": message, "kind": "ok"}
        return html
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/console/users/{user_id}"
    page = console.get(f"/console/users/{user_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'<div class="flash ok" role="status">{message}</div>' in unescape(html)
    return html


def assert_refused(response, message: str, form_key: str | None = None, *, htmx: bool) -> str:
    """422 with ``message`` beside the form: the block and an error toast (htmx), or the page."""
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert re.search(r'<div class="form-error" role="alert">([^<]*)</div>', html).group(1) \
        == _escape_like_jinja(message)
    if htmx:
        assert "<html" not in html and 'id="user-detail"' in html
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {
            "message": message, "kind": "error"}
    else:
        assert "<html" in html and "HX-Trigger" not in response.headers
    return html


def _escape_like_jinja(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def audit_count(app) -> int:
    return len(audit_entries(app))


def user_with_sessions(api, count: int = 2) -> tuple[dict, list[dict]]:
    email = unique_email()
    user = create_user(api, email, password=PASSWORD)
    return user, [sign_in(api, email) for _ in range(count)]


def follow_link(api, link: str) -> dict:
    """GET the emailed /verify link; the values of the session fragment it redirects with."""
    response = api.get(path_of(link))
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(SITE + "#"), location
    values = fragment(location)
    assert values.get("access_token"), location
    return values


# --- password recovery --------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_send_recovery_mails_a_link_that_signs_the_user_in(app, console, api, smtp_server,
                                                           htmx):
    email = unique_email("lost")
    user = create_user(api, email, password=PASSWORD)
    response = act(console, user["id"], "recovery", htmx=htmx)
    html = assert_done(console, response, user["id"],
                       f"Password recovery email sent to {email}.", htmx=htmx)
    assert "Recovery sent</dt><dd><time" in html

    row = user_row(app, user["id"])
    assert row.recovery_token and row.recovery_sent_at is not None
    assert_operator_entry(app, "user_recovery_requested", user["id"], user_email=email,
                          email_type="recovery")
    message = mail_to(smtp_server, email)
    assert message["Subject"] == "Reset your password"
    link = verify_link(message)
    assert parse_qs(urlsplit(link).query)["type"] == ["recovery"]
    session = follow_link(api, link)
    assert session["type"] == "recovery"
    assert api.get("/user", token=session["access_token"]).get_json()["id"] == user["id"]
    assert [(e.template, e.recipient, e.status) for e in mail_log(app)] == [
        ("recovery", email, "sent")]


def test_send_recovery_twice_within_a_minute_is_refused(app, console, api, smtp_server):
    email = unique_email()
    user = create_user(api, email)
    assert act(console, user["id"], "recovery").status_code == 303
    token = user_row(app, user["id"]).recovery_token
    before = audit_count(app)
    response = act(console, user["id"], "recovery", htmx=True)
    html = assert_refused(response, "For security purposes, you can only request this after "
                          "60 seconds.", htmx=True)
    assert "Send password recovery" in html
    assert user_row(app, user["id"]).recovery_token == token
    assert audit_count(app) == before
    assert len(smtp_server.wait_for(email, count=2, timeout=0.5)) == 1


@pytest.mark.parametrize("action, template, message", [
    ("recovery", "recovery", "Error sending recovery email"),
    ("magic-link", "magic_link", "Error sending magic link email"),
    ("confirmation", "confirmation", "Error sending confirmation email"),
])
def test_smtp_refusal_is_reported_and_nothing_is_kept_but_the_mail_log(app, console, api,
                                                                       smtp_server, action,
                                                                       template, message):
    email = unique_email()
    user = create_user(api, email, email_confirm=action != "confirmation")
    smtp_server.reject_with = "554 5.7.1 Message rejected"
    before = audit_count(app)
    response = act(console, user["id"], action, htmx=True)
    assert_refused(response, message, htmx=True)
    row = user_row(app, user["id"])
    assert row.recovery_token == "" and row.recovery_sent_at is None
    assert row.confirmation_token == "" and row.confirmation_sent_at is None
    assert audit_count(app) == before
    assert [(e.template, e.recipient, e.status) for e in mail_log(app)] == [
        (template, email, "failed")]


def test_email_actions_for_a_user_without_email_are_refused(app, console, api, smtp_server):
    user = create_user(api, phone="+15550002222", phone_confirm=True)
    before = audit_count(app)
    for action in ("recovery", "magic-link", "confirmation", "confirm"):
        response = act(console, user["id"], action)
        assert_refused(response, "This user has no email address to write to.", htmx=False)
    assert audit_count(app) == before
    assert mail_log(app) == []


# --- magic link ---------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_send_magic_link_mails_a_sign_in_link(app, console, api, smtp_server, htmx):
    email = unique_email("magic")
    user = create_user(api, email, password=PASSWORD)
    response = act(console, user["id"], "magic-link", htmx=htmx)
    assert_done(console, response, user["id"], f"Sign-in link sent to {email}.", htmx=htmx)
    assert_operator_entry(app, "user_recovery_requested", user["id"], email_type="magiclink")
    message = mail_to(smtp_server, email)
    link = verify_link(message)
    assert parse_qs(urlsplit(link).query)["type"] == ["magiclink"]
    session = follow_link(api, link)
    assert session["type"] == "magiclink"
    assert api.get("/user", token=session["access_token"]).get_json()["email"] == email


def test_magic_link_to_an_unconfirmed_address_confirms_it_when_used(app, console, api,
                                                                    smtp_server):
    email = unique_email()
    user = create_user(api, email, email_confirm=False)
    assert act(console, user["id"], "magic-link").status_code == 303
    link = verify_link(mail_to(smtp_server, email))
    follow_link(api, link)
    assert user_row(app, user["id"]).email_confirmed_at is not None


def test_magic_link_refused_when_magic_links_are_off(make_mail_app, settings, api):
    app = make_mail_app(**email_provider(settings, magic_link_enabled=False))
    console = _signed_in(app)
    user = create_user(api, unique_email())
    response = act(console, user["id"], "magic-link", htmx=True)
    assert_refused(response, "Login with magic link is disabled", htmx=True)
    assert operator_entries(app, "user_recovery_requested") == []
    assert mail_log(app) == []


def _signed_in(app) -> ConsoleClient:
    """The operator signed in to ``app`` (all test apps share the database)."""
    with app.app_context():
        if operators.find(OPERATOR_EMAIL) is None:
            operators.create(app.extensions["gotrue"], OPERATOR_EMAIL, OPERATOR_PASSWORD)
            db.session.commit()
    client = ConsoleClient(app.test_client())
    assert client.login().status_code == 303
    return client


# --- resend confirmation ------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_resend_confirmation_mails_a_link_that_confirms(app, console, api, smtp_server, htmx):
    email = unique_email("new")
    user = create_user(api, email, password=PASSWORD, email_confirm=False)
    response = act(console, user["id"], "confirmation", htmx=htmx)
    assert_done(console, response, user["id"], f"Confirmation email sent again to {email}.",
                htmx=htmx)
    assert_operator_entry(app, "user_confirmation_requested", user["id"], provider="email")
    message = mail_to(smtp_server, email)
    link = verify_link(message)
    assert parse_qs(urlsplit(link).query)["type"] == ["signup"]
    assert user_row(app, user["id"]).email_confirmed_at is None
    follow_link(api, link)
    assert user_row(app, user["id"]).email_confirmed_at is not None


@pytest.mark.parametrize("htmx", [False, True])
def test_resend_confirmation_of_an_invited_user_sends_the_invitation(app, console, api,
                                                                     smtp_server, htmx):
    email = unique_email("invitee")
    invited = api.admin("POST", "/invite", json={"email": email})
    assert invited.status_code == 200, invited.get_json()
    user_id = invited.get_json()["id"]
    first = mail_to(smtp_server, email)
    response = act(console, user_id, "confirmation", htmx=htmx)
    html = assert_done(console, response, user_id, f"Invitation sent again to {email}.",
                       htmx=htmx)
    assert "Resend invitation" in html
    entries = [e for e in operator_entries(app, "user_invited")
               if e["traits"]["user_id"] == user_id]
    assert len(entries) == 1 and entries[0]["ip_address"] == "127.0.0.1"
    second = mail_to(smtp_server, email, count=2)
    old_link = verify_link(first)
    link = verify_link(second)
    assert parse_qs(urlsplit(link).query)["type"] == ["invite"]
    # The new invitation replaces the old one.
    assert "access_token" not in api.get(path_of(old_link)).headers["Location"]
    session = follow_link(api, link)
    assert session["type"] == "invite"
    assert user_row(app, user_id).email_confirmed_at is not None


def test_resend_confirmation_refused_for_a_confirmed_address(app, console, api, smtp_server):
    user = create_user(api, unique_email())
    before = audit_count(app)
    response = act(console, user["id"], "confirmation", htmx=True)
    assert_refused(response, "This email address is confirmed already.", htmx=True)
    assert audit_count(app) == before
    assert mail_log(app) == []


# --- confirm by hand ----------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_confirm_email_by_hand(app, console, api, smtp_server, htmx):
    email = unique_email()
    user = create_user(api, email, password=PASSWORD, email_confirm=False)
    assert api.login(email).status_code == 400  # email_not_confirmed
    response = act(console, user["id"], "confirm", htmx=htmx)
    html = assert_done(console, response, user["id"], f"{email} is now confirmed.", htmx=htmx)
    assert 'class="badge ok">Confirmed' in html and "Confirm email by hand" not in html
    row = user_row(app, user["id"])
    assert row.email_confirmed_at is not None
    assert row.raw_user_meta_data.get("email_verified") is True
    assert_operator_entry(app, "user_modified", user["id"], change="email_confirmed",
                          user_email=email)
    sign_in(api, email)
    assert smtp_server.to(email) == []


def test_confirming_a_confirmed_address_is_refused(app, console, api):
    user = create_user(api, unique_email())
    confirmed_at = user_row(app, user["id"]).email_confirmed_at
    before = audit_count(app)
    response = act(console, user["id"], "confirm")
    assert_refused(response, "This email address is confirmed already.", htmx=False)
    assert user_row(app, user["id"]).email_confirmed_at == confirmed_at
    assert audit_count(app) == before


# --- set password -------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_set_password_changes_it_and_ends_the_sessions(app, console, api, htmx):
    user, sessions = user_with_sessions(api)
    response = act(console, user["id"], "password",
                   {"password": "a-new-password-7", "password_confirm": "a-new-password-7"},
                   htmx=htmx)
    html = assert_done(console, response, user["id"],
                       "Password set. The user's sessions have ended.", htmx=htmx)
    assert "No sessions" in html
    assert session_ids(app, user["id"]) == set()
    for session in sessions:
        assert api.refresh(session["refresh_token"]).status_code == 400
    assert api.login(user["email"]).status_code == 400
    sign_in(api, user["email"], "a-new-password-7")
    entry = assert_operator_entry(app, "user_modified", user["id"], change="password")
    assert "a-new-password-7" not in json.dumps(entry)


def test_set_password_voids_a_pending_recovery_link(app, console, api, smtp_server):
    user = create_user(api, unique_email(), password=PASSWORD)
    act(console, user["id"], "recovery")
    link = verify_link(mail_to(smtp_server, user["email"]))
    act(console, user["id"], "password",
        {"password": "a-new-password-7", "password_confirm": "a-new-password-7"})
    assert user_row(app, user["id"]).recovery_token == ""
    response = api.get(path_of(link))
    assert response.status_code == 303 and "access_token" not in response.headers["Location"]


@pytest.mark.parametrize("form, message", [
    ({"password": "a-new-password-7", "password_confirm": "a-new-password-8"},
     "The two passwords differ. Nothing was changed."),
    ({"password": "a-new-password-7"}, "The two passwords differ. Nothing was changed."),
    ({"password": "", "password_confirm": ""}, "Type the new password."),
    ({}, "Type the new password."),
    ({"password": "abc", "password_confirm": "abc"},
     "Password should be at least 6 characters."),
    ({"password": "x" * 73, "password_confirm": "x" * 73},
     "Password cannot be longer than 72 characters"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_set_password_refusals_change_nothing(app, console, api, form, message, htmx):
    user, _ = user_with_sessions(api, 1)
    before_sessions = session_ids(app, user["id"])
    hashed = user_row(app, user["id"]).encrypted_password
    before = audit_count(app)
    response = act(console, user["id"], "password", form, htmx=htmx)
    html = assert_refused(response, message, htmx=htmx)
    assert 'value="a-new-password-7"' not in html  # passwords are not echoed
    assert user_row(app, user["id"]).encrypted_password == hashed
    assert session_ids(app, user["id"]) == before_sessions
    assert audit_count(app) == before
    sign_in(api, user["email"])


# --- ban and unban ------------------------------------------------------------------------------


@pytest.mark.parametrize("choice, custom, length", [
    ("1h", "", timedelta(hours=1)),
    ("168h", "", timedelta(days=7)),
    (console_actions.PERMANENT_BAN, "", timedelta(hours=876000)),
    ("custom", " 2h30m ", timedelta(hours=2, minutes=30)),
    ("custom", "7d", timedelta(days=7)),
    ("custom", "1d12h30m", timedelta(hours=36, minutes=30)),
])
def test_ban_for_a_chosen_duration_revokes_sessions_and_audits_the_reason(
        app, console, api, clock, choice, custom, length):
    user, sessions = user_with_sessions(api)
    other, other_sessions = user_with_sessions(api, 1)
    clock.advance(seconds=1)  # after the sign-ins, so the timeline order is defined
    response = act(console, user["id"], "ban", {"duration": choice, "custom_duration": custom,
                                                "reason": "  Chargeback fraud  "}, htmx=True)
    until = clock.now + length
    html = assert_done(console, response, user["id"],
                       f"{user['email']} is banned until {until:%Y-%m-%d %H:%M} UTC; "
                       "2 sessions ended.", htmx=True)
    assert 'class="badge danger">Banned' in html
    assert "Reason: <q>Chargeback fraud</q>" in html and OPERATOR_EMAIL in html
    timeline = html[html.index('id="timeline"'):]
    assert re.findall(r"<td><code>([a-z_]+)</code></td>", timeline)[0] == "user_modified"
    assert ("(permanent)" in html) is (choice == console_actions.PERMANENT_BAN)
    assert user_row(app, user["id"]).banned_until == until
    assert session_ids(app, user["id"]) == set()
    assert api.refresh(sessions[0]["refresh_token"]).status_code == 400
    login = api.login(user["email"])
    assert login.status_code == 400 and login.get_json()["code"] == "user_banned"
    # Days are written as Go's hours: the audit entry reads as the admin API's would.
    go_duration = {"7d": "168h", "1d12h30m": "36h30m"}.get(custom, custom.strip() or choice)
    assert_operator_entry(app, "user_modified", user["id"], user_email=user["email"],
                          ban_duration=go_duration,
                          ban_reason="Chargeback fraud", sessions_revoked=2)
    # Nobody else is touched.
    assert len(session_ids(app, other["id"])) == 1
    assert user_row(app, other["id"]).banned_until is None
    assert api.refresh(other_sessions[0]["refresh_token"]).status_code == 200


def test_ban_as_a_plain_form_post_flashes_and_shows_the_ban(app, console, api, clock):
    user = create_user(api, unique_email())
    response = act(console, user["id"], "ban", {"duration": "24h", "reason": "spam"})
    until = clock.now + timedelta(hours=24)
    html = assert_done(console, response, user["id"],
                       f"{user['email']} is banned until {until:%Y-%m-%d %H:%M} UTC; "
                       "0 sessions ended.", htmx=False)
    assert "Reason: <q>spam</q>" in html and "Unban</button>" in html
    assert user_row(app, user["id"]).banned_until == until


def test_console_ban_and_admin_api_ban_write_the_same_audit_action(app, console, api):
    by_console = create_user(api, unique_email())
    by_api = create_user(api, unique_email())
    act(console, by_console["id"], "ban", {"duration": "24h", "reason": "abuse"})
    response = api.admin("PUT", f"/admin/users/{by_api['id']}", json={"ban_duration": "24h"})
    assert response.status_code == 200
    [console_entry] = [e for e in audit_entries(app)
                       if (e.get("traits") or {}).get("user_id") == by_console["id"]
                       and e["action"] != "user_signedup"]
    [api_entry] = [e for e in audit_entries(app)
                   if (e.get("traits") or {}).get("user_id") == by_api["id"]
                   and e["action"] != "user_signedup"]
    assert console_entry["action"] == api_entry["action"] == "user_modified"
    assert console_entry["traits"]["ban_duration"] == api_entry["traits"]["ban_duration"] == "24h"
    assert console_entry["actor_username"] == OPERATOR_EMAIL
    assert api_entry["actor_username"] == "service_role"


def not_a_duration(text: str) -> str:
    return (f"'{text}' is not a duration. Use days, hours and minutes, such as 7d, 90m, 12h or "
            "1d12h.")


@pytest.mark.parametrize("form, message", [
    ({"duration": "custom", "custom_duration": "forever", "reason": "r"},
     not_a_duration("forever")),
    ({"duration": "custom", "custom_duration": "7 d", "reason": "r"},
     not_a_duration("7 d")),
    ({"duration": "custom", "custom_duration": "1.5d", "reason": "r"},
     not_a_duration("1.5d")),
    ({"duration": "custom", "custom_duration": "d", "reason": "r"},
     not_a_duration("d")),
    ({"duration": "custom", "custom_duration": "-1h", "reason": "r"},
     not_a_duration("-1h")),
    ({"duration": "custom", "custom_duration": "99999999999h", "reason": "r"},
     not_a_duration("99999999999h")),
    ({"duration": "custom", "custom_duration": "0s", "reason": "r"},
     "A ban must last longer than zero. Use Unban to lift a ban."),
    ({"duration": "custom", "custom_duration": "none", "reason": "r"},
     "A ban must last longer than zero. Use Unban to lift a ban."),
    ({"duration": "custom", "custom_duration": "  ", "reason": "r"},
     "Type a duration such as 7d, 90m, 12h or 2h30m."),
    ({"duration": "2h", "reason": "r"}, "Choose how long the ban lasts."),
    ({"reason": "r"}, "Choose how long the ban lasts."),
    ({"duration": "24h", "reason": "   "},
     "Say why the user is banned; the reason goes into the audit log."),
    ({"duration": "24h"}, "Say why the user is banned; the reason goes into the audit log."),
    ({"duration": "24h", "reason": "x" * 501}, "Keep the reason under 500 characters."),
    ({"duration": "24h", "reason": "nul\x00byte"}, "The reason cannot contain control characters."),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_ban_refusals_change_nothing(app, console, api, form, message, htmx):
    user, _ = user_with_sessions(api, 1)
    before_sessions = session_ids(app, user["id"])
    before = audit_count(app)
    response = act(console, user["id"], "ban", form, htmx=htmx)
    html = assert_refused(response, message, htmx=htmx)
    # The operator's input comes back to be fixed.
    if form.get("custom_duration", "").strip():
        assert f'value="{_escape_like_jinja(form["custom_duration"])}"' in html
    if form.get("duration") == "custom":
        assert '<option value="custom" selected>' in html
    assert user_row(app, user["id"]).banned_until is None
    assert session_ids(app, user["id"]) == before_sessions
    assert audit_count(app) == before


@pytest.mark.parametrize("htmx", [False, True])
def test_unban_lifts_the_ban(app, console, api, htmx):
    user = create_user(api, unique_email(), password=PASSWORD)
    act(console, user["id"], "ban", {"duration": "24h", "reason": "mistake"})
    response = act(console, user["id"], "unban", htmx=htmx)
    html = assert_done(console, response, user["id"], f"{user['email']} is no longer banned.",
                       htmx=htmx)
    assert 'class="badge danger">Banned' not in html and "Unban</button>" not in html
    row = user_row(app, user["id"])
    assert row.banned_until is None
    entries = [e for e in operator_entries(app, "user_modified")
               if e["traits"].get("ban_duration") == "none"]
    assert len(entries) == 1 and entries[0]["traits"]["user_id"] == user["id"]
    sign_in(api, user["email"])


def test_unban_of_a_user_who_is_not_banned_is_refused(app, console, api):
    user = create_user(api, unique_email())
    before = audit_count(app)
    response = act(console, user["id"], "unban", htmx=True)
    assert_refused(response, "This user is not banned.", htmx=True)
    assert audit_count(app) == before


def test_unban_after_an_api_ban_works_from_the_console(app, console, api):
    user = create_user(api, unique_email())
    api.admin("PUT", f"/admin/users/{user['id']}", json={"ban_duration": "1h"})
    html = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert "No reason recorded (banned through the admin API)." in html
    assert act(console, user["id"], "unban").status_code == 303
    assert user_row(app, user["id"]).banned_until is None


# --- MFA factors --------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_remove_one_factor(app, console, api, htmx):
    user = create_user(api, unique_email())
    removed = add_factor(app, user["id"], name="old phone")
    kept = add_factor(app, user["id"], name="new phone")
    response = act(console, user["id"], f"factors/{removed}/delete", htmx=htmx)
    html = assert_done(console, response, user["id"], "MFA factor removed.", htmx=htmx)
    assert "new phone" in html and "old phone" not in html
    assert factor_ids(app, user["id"]) == {kept}
    assert_operator_entry(app, "factor_deleted", user["id"], factor_id=str(removed),
                          factor_type="totp")


@pytest.mark.parametrize("htmx", [False, True])
def test_remove_all_factors(app, console, api, htmx):
    user = create_user(api, unique_email())
    first, second = add_factor(app, user["id"]), add_factor(app, user["id"], name="key")
    other = create_user(api, unique_email())
    others = add_factor(app, other["id"])
    response = act(console, user["id"], "factors/delete", htmx=htmx)
    html = assert_done(console, response, user["id"], "2 MFA factors removed.", htmx=htmx)
    assert "No MFA factors" in html
    assert factor_ids(app, user["id"]) == set()
    assert factor_ids(app, other["id"]) == {others}
    entries = [e for e in operator_entries(app, "factor_deleted")
               if e["traits"]["user_id"] == user["id"]]
    assert sorted(e["traits"]["factor_id"] for e in entries) == sorted([str(first),
                                                                        str(second)])
    assert all(e["ip_address"] == "127.0.0.1" for e in entries)


def test_remove_all_factors_when_there_are_none_says_so(app, console, api):
    user = create_user(api, unique_email())
    response = act(console, user["id"], "factors/delete", htmx=True)
    assert_done(console, response, user["id"], "0 MFA factors removed.", htmx=True)
    assert operator_entries(app, "factor_deleted") == []


@pytest.mark.parametrize("factor", ["unknown", "malformed", "another users"])
@pytest.mark.parametrize("htmx", [False, True])
def test_removing_a_factor_that_is_not_the_users_is_refused(app, console, api, factor, htmx):
    user = create_user(api, unique_email())
    own = add_factor(app, user["id"])
    other = create_user(api, unique_email())
    others = add_factor(app, other["id"])
    factor_id = {"unknown": str(uuid.uuid4()), "malformed": "not-a-uuid",
                 "another users": str(others)}[factor]
    before = audit_count(app)
    response = act(console, user["id"], f"factors/{factor_id}/delete", htmx=htmx)
    message = "factor_id must be an UUID" if factor == "malformed" else "Factor not found"
    assert_refused(response, message, htmx=htmx)
    assert factor_ids(app, user["id"]) == {own}
    assert factor_ids(app, other["id"]) == {others}
    assert audit_count(app) == before


# --- sessions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_revoke_one_session(app, console, api, htmx):
    user, (revoked, kept) = user_with_sessions(api)
    revoked_id = _session_id(revoked)
    response = act(console, user["id"], f"sessions/{revoked_id}/revoke", htmx=htmx)
    html = assert_done(console, response, user["id"],
                       "Session revoked; its refresh token no longer works.", htmx=htmx)
    assert "Sessions <span class=\"muted\">1</span>" in html
    assert session_ids(app, user["id"]) == {uuid.UUID(_session_id(kept))}
    assert api.refresh(revoked["refresh_token"]).status_code == 400
    assert api.refresh(kept["refresh_token"]).status_code == 200
    assert_operator_entry(app, "token_revoked", user["id"], session_id=revoked_id,
                          user_email=user["email"])


@pytest.mark.parametrize("htmx", [False, True])
def test_revoke_all_sessions(app, console, api, htmx):
    user, sessions = user_with_sessions(api, 3)
    other, other_sessions = user_with_sessions(api, 1)
    response = act(console, user["id"], "sessions/revoke", htmx=htmx)
    html = assert_done(console, response, user["id"], "3 sessions revoked.", htmx=htmx)
    assert "No sessions" in html
    assert session_ids(app, user["id"]) == set()
    assert all(api.refresh(s["refresh_token"]).status_code == 400 for s in sessions)
    assert len(session_ids(app, other["id"])) == 1
    assert api.refresh(other_sessions[0]["refresh_token"]).status_code == 200
    assert_operator_entry(app, "token_revoked", user["id"], sessions_revoked=3)


def _session_id(session: dict) -> str:
    return claims(session["access_token"])["session_id"]


@pytest.mark.parametrize("target", ["unknown", "malformed", "another users"])
@pytest.mark.parametrize("htmx", [False, True])
def test_revoking_a_session_that_is_not_the_users_is_refused(app, console, api, target, htmx):
    user, _ = user_with_sessions(api, 1)
    other, (other_session,) = user_with_sessions(api, 1)
    session_id = {"unknown": str(uuid.uuid4()), "malformed": "x' OR 1=1 --",
                  "another users": _session_id(other_session)}[target]
    own = session_ids(app, user["id"])
    before = audit_count(app)
    response = act(console, user["id"], f"sessions/{session_id}/revoke", htmx=htmx)
    assert_refused(response, "This session has ended already.", htmx=htmx)
    assert session_ids(app, user["id"]) == own
    assert len(session_ids(app, other["id"])) == 1
    assert audit_count(app) == before
    assert api.refresh(other_session["refresh_token"]).status_code == 200


# --- delete -------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_delete_after_typing_the_email(app, console, api, htmx):
    email = unique_email("gone")
    user = create_user(api, email, password=PASSWORD)
    session = sign_in(api, email)
    add_factor(app, user["id"])
    response = act(console, user["id"], "delete", {"confirm": f"  {email.upper()} "},
                   htmx=htmx)
    if htmx:
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/console/users"
        page = console.get("/console/users")
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == "/console/users"
        page = console.get(response.headers["Location"])
    assert f'<div class="flash ok" role="status">{email} was deleted.</div>' in \
        page.get_data(as_text=True)
    assert user_row(app, user["id"]) is None
    assert identities(app, user["id"]) == [] and factor_ids(app, user["id"]) == set()
    assert_operator_entry(app, "user_deleted", user["id"], user_email=email, soft=False)
    assert api.refresh(session["refresh_token"]).status_code == 400
    assert console.get(f"/console/users/{user['id']}").status_code == 404


def test_delete_of_a_user_without_email_asks_for_the_id(app, console, api):
    user = create_user(api, phone="+15550003333", phone_confirm=True)
    html = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert f"Type <code>{user['id']}</code> to confirm" in html
    response = act(console, user["id"], "delete", {"confirm": user["id"]})
    assert response.status_code == 303
    assert user_row(app, user["id"]) is None
    assert_operator_entry(app, "user_deleted", user["id"], user_phone="15550003333")


@pytest.mark.parametrize("action", ["delete", "soft-delete"])
@pytest.mark.parametrize("typed", ["", "someone@example.com", "wrong", "{id}"])
@pytest.mark.parametrize("htmx", [False, True])
def test_delete_with_the_wrong_confirmation_deletes_nothing(app, console, api, action, typed,
                                                            htmx):
    email = unique_email()
    user = create_user(api, email, password=PASSWORD)
    before = audit_count(app)
    response = act(console, user["id"], action, {"confirm": typed.format(id=user["id"])},
                   htmx=htmx)
    assert_refused(response, f"Type {email} to confirm. Nothing was deleted.", htmx=htmx)
    row = user_row(app, user["id"])
    assert row is not None and row.email == email and row.deleted_at is None
    assert audit_count(app) == before
    sign_in(api, email)


@pytest.mark.parametrize("htmx", [False, True])
def test_soft_delete_frees_the_address_and_keeps_a_scrambled_row(app, console, api, htmx):
    email = unique_email()
    user = create_user(api, email, password=PASSWORD, user_metadata={"name": "Ada"})
    session = sign_in(api, email)
    add_factor(app, user["id"])
    response = act(console, user["id"], "soft-delete", {"confirm": email}, htmx=htmx)
    html = assert_done(console, response, user["id"],
                       f"{email} was soft-deleted: the address is free again and the user "
                       "cannot sign in.", htmx=htmx)
    assert 'class="badge danger">Deleted' in html
    assert f"Type <code>{user['id']}</code> to confirm" in html
    row = user_row(app, user["id"])
    assert row.deleted_at is not None and row.email != email and email not in row.email
    assert row.raw_user_meta_data == {}
    assert session_ids(app, user["id"]) == set() and factor_ids(app, user["id"]) == set()
    assert api.refresh(session["refresh_token"]).status_code == 400
    assert api.login(email).status_code == 400
    assert_operator_entry(app, "user_deleted", user["id"], user_email=email, soft=True)
    # The address can be used again.
    create_user(api, email)


def test_soft_deleted_user_can_then_be_deleted_with_its_id_but_not_soft_deleted_again(
        app, console, api):
    email = unique_email()
    user = create_user(api, email)
    act(console, user["id"], "soft-delete", {"confirm": email})
    before = audit_count(app)
    response = act(console, user["id"], "soft-delete", {"confirm": user["id"]})
    assert_refused(response, "This user is soft-deleted already.", htmx=False)
    assert audit_count(app) == before
    response = act(console, user["id"], "delete", {"confirm": email})
    assert_refused(response, f"Type {user['id']} to confirm. Nothing was deleted.", htmx=False)
    assert act(console, user["id"], "delete", {"confirm": user["id"]}).status_code == 303
    assert user_row(app, user["id"]) is None
    assert len([e for e in operator_entries(app, "user_deleted")
                if e["traits"]["user_id"] == user["id"]]) == 2


NO_EMAIL = "This user has no email address to write to."


@pytest.mark.parametrize("action, data, message", [
    ("recovery", {}, NO_EMAIL), ("magic-link", {}, NO_EMAIL), ("confirmation", {}, NO_EMAIL),
    ("confirm", {}, NO_EMAIL),
    ("password", {"password": "a-new-password-7", "password_confirm": "a-new-password-7"},
     "This user is deleted."),
    ("ban", {"duration": "24h", "reason": "r"}, "This user is deleted."),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_actions_on_a_soft_deleted_user_are_refused(app, console, api, action, data, message,
                                                    htmx):
    """Posted from a page opened before the soft delete: refused, and the page says why."""
    email = unique_email()
    user = create_user(api, email, email_confirm=False)
    act(console, user["id"], "soft-delete", {"confirm": email})
    row = user_row(app, user["id"])
    before = audit_count(app)
    response = act(console, user["id"], action, data, htmx=htmx)
    assert_refused(response, message, htmx=htmx)
    after = user_row(app, user["id"])
    assert (after.encrypted_password, after.banned_until, after.email_confirmed_at) == (
        row.encrypted_password, row.banned_until, row.email_confirmed_at)
    assert audit_count(app) == before
    assert mail_log(app) == []


# --- every action -------------------------------------------------------------------------------

ACTIONS = [
    ("recovery", {}), ("magic-link", {}), ("confirmation", {}), ("confirm", {}),
    ("password", {"password": "a-new-password-7", "password_confirm": "a-new-password-7"}),
    ("ban", {"duration": "24h", "reason": "r"}), ("unban", {}),
    (f"factors/{NO_FACTOR}/delete", {}), ("factors/delete", {}),
    ("delete", {"confirm": "x"}), ("soft-delete", {"confirm": "x"}),
    (f"sessions/{NO_SESSION}/revoke", {}), ("sessions/revoke", {}),
]


@pytest.mark.parametrize("action, data", ACTIONS, ids=[a.split("/")[0] + str(i)
                                                      for i, (a, _) in enumerate(ACTIONS)])
@pytest.mark.parametrize("user_id", [NO_USER, "not-a-uuid"])
@pytest.mark.parametrize("htmx", [False, True])
def test_action_on_a_user_that_does_not_exist_is_404(app, console, action, data, user_id, htmx):
    before = audit_count(app)
    response = act(console, user_id, action, data, htmx=htmx)
    assert response.status_code == 404
    assert "no user with this id" in response.get_data(as_text=True)
    assert audit_count(app) == before


@pytest.mark.parametrize("action, data", ACTIONS, ids=[a.split("/")[0] + str(i)
                                                      for i, (a, _) in enumerate(ACTIONS)])
def test_actions_need_a_signed_in_operator(app, anonymous_console, api, action, data):
    user = create_user(api, unique_email(), password=PASSWORD, email_confirm=False)
    response = act(anonymous_console, user["id"], action, data)
    assert response.status_code in (303, 400)
    row = user_row(app, user["id"])
    assert row is not None and row.banned_until is None and row.email_confirmed_at is None
    assert audit_entries(app, "user_modified") == []


def test_actions_are_audited_with_the_operators_ip(make_mail_app, api):
    app = make_mail_app()
    console = _signed_in(app)
    console.client.environ_base["REMOTE_ADDR"] = OPERATOR_IP
    user, _ = user_with_sessions(api, 1)
    assert act(console, user["id"], "recovery").status_code == 303
    assert act(console, user["id"], "ban", {"duration": "1h", "reason": "r"}).status_code == 303
    entries = [e for e in audit_entries(app)
               if e.get("actor_username") == OPERATOR_EMAIL
               and (e.get("traits") or {}).get("user_id") == user["id"]]
    assert [e["action"] for e in entries] == ["user_recovery_requested", "user_modified"]
    assert {e["ip_address"] for e in entries} == {OPERATOR_IP}


@pytest.mark.parametrize("action, data", [
    ("ban", {"duration": "custom", "custom_duration": "1h\x00", "reason": "r"}),
    ("ban", {"duration": "\x00", "reason": "r"}),
    ("password", {"password": "pass\x00word-12", "password_confirm": "pass\x00word-12"}),
    ("password", {"password": "\U0001F512" * 18, "password_confirm": "\U0001F512" * 18}),
    ("delete", {"confirm": "\x00"}),
    ("soft-delete", {"confirm": "a\x00"}),
    ("sessions/%00/revoke", {}),
    ("factors/%00/delete", {}),
])
def test_odd_input_is_answered_not_a_500(app, console, api, action, data):
    user, _ = user_with_sessions(api, 1)
    response = act(console, user["id"], action, data)
    assert response.status_code in (303, 422), response.get_data(as_text=True)[:2000]


# --- a banned user, a ban changed, mail switched off ---------------------------------------------


def test_a_banned_user_is_offered_no_sign_in_email_and_a_post_is_refused(app, console, api,
                                                                         smtp_server):
    email = unique_email()
    user = create_user(api, email, password=PASSWORD)
    act(console, user["id"], "ban", {"duration": "168h", "reason": "chargeback"})
    page = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert "Send password recovery" not in page and "Send magic link" not in page
    assert "no recovery or sign-in link is offered" in page
    before = audit_count(app)
    for action in ("recovery", "magic-link"):
        response = act(console, user["id"], action, htmx=True)
        assert_refused(response, "This user is banned and cannot sign in: lift the ban first.",
                       htmx=True)
    assert audit_count(app) == before
    assert mail_log(app) == []
    assert user_row(app, user["id"]).recovery_token == ""


def test_changing_a_ban_starts_from_no_choice_and_says_it_was_shortened(app, console, api,
                                                                          clock):
    user = create_user(api, unique_email())
    act(console, user["id"], "ban", {"duration": "custom", "custom_duration": "7d",
                                     "reason": "chargeback"})
    week = clock.now + timedelta(days=7)
    page = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    select = page[page.index('<select id="ban-duration"'):]
    select = select[:select.index("</select>")]
    assert re.findall(r"<option[^>]*selected", select) == ['<option value="" selected']
    # No choice made: refused, the 7-day ban stays.
    response = act(console, user["id"], "ban", {"duration": "", "reason": "shorter"}, htmx=True)
    assert_refused(response, "Choose how long the ban lasts.", htmx=True)
    assert user_row(app, user["id"]).banned_until == week
    response = act(console, user["id"], "ban", {"duration": "24h", "reason": "appeal"},
                   htmx=True)
    day = clock.now + timedelta(hours=24)
    assert_done(console, response, user["id"],
                f"The ban on {user['email']} is shortened: it now ends {day:%Y-%m-%d %H:%M} UTC "
                f"(it was to end {week:%Y-%m-%d %H:%M} UTC).", htmx=True)
    assert user_row(app, user["id"]).banned_until == day
    response = act(console, user["id"], "ban", {"duration": "720h", "reason": "again"},
                   htmx=True)
    month = clock.now + timedelta(days=30)
    assert_done(console, response, user["id"],
                f"The ban on {user['email']} is extended: it now ends "
                f"{month:%Y-%m-%d %H:%M} UTC (it was to end {day:%Y-%m-%d %H:%M} UTC).",
                htmx=True)


@pytest.mark.parametrize("action, template, what", [
    ("recovery", "recovery", "Password recovery email"),
    ("magic-link", "magic_link", "Sign-in link"),
    ("confirmation", "confirmation", "Confirmation email"),
])
def test_without_smtp_the_page_says_mail_is_not_sent(make_app, api, action, template, what):
    app = make_app(**{"smtp.host": ""})
    console = _signed_in(app)
    email = unique_email()
    user = create_user(api, email, email_confirm=action != "confirmation")
    page = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert 'id="smtp-notice"' in page and "GOTRUE_SMTP_HOST" in page
    response = act(console, user["id"], action, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.headers["HX-Trigger"])["toast"] == {
        "message": f"{what} to {email} was not sent: this server has no SMTP server "
                   "(GOTRUE_SMTP_HOST is empty). The mail log records it as not sent.",
        "kind": "error"}
    assert [(e.template, e.recipient, e.status) for e in mail_log(app)] == [
        (template, email, "not_sent")]


def test_with_smtp_the_user_page_has_no_mail_notice(app, console, api):
    user = create_user(api, unique_email())
    page = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert 'id="smtp-notice"' not in page
