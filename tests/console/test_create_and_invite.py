"""Creating users and inviting people from the console: the create form (POST /console/users/new),
the invite form (one address or a pasted list), and the pending invitations with resend and
revoke. Every mail goes through the real SMTP sink; every link is followed through GET /verify.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import Identity, MailLogEntry, OneTimeToken, User

from ..conftest import smtp_settings, table_rows
from ..factories import audit_entries, create_user, fragment, unique_email, user_row
from ..support import smtp as smtp_support
from .conftest import ConsoleClient
from .support_users import assert_operator_entry, operator_entries, unescape

SITE = "http://localhost:3000"
DUPLICATE_EMAIL = "A user with this email address has already been registered"
NO_PENDING_INVITE = "There is no pending invitation for this user any more."


class _RecipientFilter(smtp_support._Handler):
    """The sink's handler, refusing the recipients listed in sink.refused_recipients."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.sink.refused_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class FilteringSink(smtp_support.SMTPSink):
    """An SMTP sink that can refuse chosen recipients while accepting the others, so one
    address of a batch can fail."""

    def __init__(self):
        super().__init__()
        self.refused_recipients: set[str] = set()
        # The controller builds its SMTP server from .handler when it starts.
        self.controller.handler = _RecipientFilter(self)


@pytest.fixture
def smtp_server():
    server = FilteringSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(make_mail_app):
    # Real mail, no autoconfirm: an invitation or a signup really waits for its link.
    return make_mail_app(**{"external.phone_enabled": True, "rate_limit.email_sent": "1000"})


# --- helpers ------------------------------------------------------------------------------------


def _html(response) -> str:
    return response.get_data(as_text=True)


def _toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def _invite_link(message) -> str:
    [link] = [url for url in smtp_support.links(message) if "token=" in url]
    query = parse_qs(urlsplit(link).query)
    assert query["type"] == ["invite"]
    assert query["redirect_to"] == [SITE]
    return link


def _follow(app, link: str) -> dict:
    """GET the mailed link as a browser would; the redirect's fragment."""
    response = app.test_client().get(link)
    assert response.status_code == 303, _html(response)
    return fragment(response.headers["Location"])


def _accepts(app, link: str, user_id) -> None:
    """The link signs the invitee in: a session for that user, back at the site URL."""
    response = app.test_client().get(link)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(SITE + "#")
    values = fragment(response.headers["Location"])
    assert values.get("type") == "invite", values
    assert values["access_token"] and values["refresh_token"]
    me = app.test_client().get("/user", headers={
        "Authorization": f"Bearer {values['access_token']}"})
    assert me.status_code == 200
    assert me.get_json()["id"] == str(user_id)


def _refused_link(app, link: str) -> None:
    values = _follow(app, link)
    assert "access_token" not in values
    assert values["error_code"] == "otp_expired", values


def _users(app) -> list[User]:
    return [row[0] for row in table_rows(app, sa.select(User))]


def _flashes(console, path: str) -> str:
    return _html(console.get(path))


def _pending_emails(html: str) -> list[str]:
    section = html[html.index('id="pending-invites"'):]
    return re.findall(r'<td class="primary"><a href="/console/users/[^"]+">([^<]+)</a>', section)


def _report(html: str) -> dict[str, str]:
    """address -> result text of the invite report table."""
    section = html[html.index('id="invite-report"'):html.index('id="pending-invites"')]
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>\s*<span[^>]*>([^<]+)</span>", section, re.S)
    return {re.sub(r"<[^>]+>", "", address).strip(): result for address, result in rows}


def _create(console, htmx: bool = False, **form):
    return console.post("/console/users/new", form, htmx=htmx)


def _invite(console, addresses: str, htmx: bool = False):
    return console.post("/console/invites", {"addresses": addresses}, htmx=htmx)


# --- the create form ----------------------------------------------------------------------------


def test_new_user_page_and_its_fragment(console):
    page = console.get("/console/users/new")
    assert page.status_code == 200
    html = _html(page)
    assert "<html" in html and 'id="new-user-form"' in html
    for name in ("email", "phone", "password", "auto_confirm", "user_metadata", "csrf_token"):
        assert f'name="{name}"' in html
    assert "HX-Request" in page.headers["Vary"]

    fragment = console.get("/console/users/new", htmx=True)
    assert fragment.status_code == 200
    assert "<html" not in _html(fragment) and 'id="new-user-form"' in _html(fragment)


def test_create_with_email_password_and_auto_confirm_can_sign_in(console, app, api, smtp_server):
    email = unique_email("ada")
    response = _create(console, email=email.upper(), password="Correct-horse-9",
                       auto_confirm="on", user_metadata='{"full_name": "Ada Lovelace"}')
    assert response.status_code == 303, _html(response)
    user = user_row(app, email)
    assert user is not None, "the address is stored lower-case"
    assert response.headers["Location"] == f"/console/users/{user.id}"
    assert user.email_confirmed_at is not None
    assert user.raw_user_meta_data["full_name"] == "Ada Lovelace"
    assert user.raw_app_meta_data == {"provider": "email", "providers": ["email"]}
    assert user.aud == "authenticated"
    [identity] = table_rows(app, sa.select(Identity.provider).where(Identity.user_id == user.id))
    assert identity.provider == "email"
    # The page it leads to says so.
    assert f"{email} was created." in unescape(_flashes(console, response.headers["Location"]))

    login = api.login(email, "Correct-horse-9")
    assert login.status_code == 200, _html(login)
    assert login.get_json()["user"]["id"] == str(user.id)
    # Nothing to confirm: no mail.
    assert smtp_server.messages == []
    # The same entry as POST /admin/users, by the operator.
    entry = assert_operator_entry(app, "user_signedup", user.id, user_email=email)
    through_api = create_user(api, unique_email("api"))
    [api_entry] = [e for e in audit_entries(app, "user_signedup")
                   if e["traits"]["user_id"] == through_api["id"]]
    assert sorted(api_entry["traits"]) == sorted(entry["traits"])


def test_create_answers_htmx_with_a_redirect_to_the_user(console, app):
    email = unique_email("htmx")
    response = _create(console, htmx=True, email=email, auto_confirm="on")
    assert response.status_code == 204, _html(response)
    user = user_row(app, email)
    assert response.headers["HX-Redirect"] == f"/console/users/{user.id}"
    assert f"{email} was created." in unescape(_flashes(console, f"/console/users/{user.id}"))


def test_create_with_email_and_no_password_stays_unconfirmed_and_sends_nothing(
        console, app, api, smtp_server):
    """As POST /admin/users: no confirmation mail, a random password nobody knows. The
    operator can send the confirmation from the user's page."""
    email = unique_email("quiet")
    response = _create(console, email=email, password="", user_metadata="")
    assert response.status_code == 303, _html(response)
    user = user_row(app, email)
    assert user.email_confirmed_at is None and user.confirmation_sent_at is None
    assert user.invited_at is None
    assert user.encrypted_password, "a random password, so no empty-password sign-in"
    assert user.raw_user_meta_data == {}
    assert smtp_server.messages == []
    assert table_rows(app, sa.select(MailLogEntry.id)) == []
    assert api.login(email, "").status_code == 400
    assert api.login(email, "anything-at-all-1").status_code == 400
    assert_operator_entry(app, "user_signedup", user.id, user_email=email)

    # The hint on the form holds: the confirmation is one click away on the user's page.
    sent = console.post(f"/console/users/{user.id}/confirmation")
    assert sent.status_code == 303
    [mail] = smtp_server.wait_for(email)
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]
    assert "access_token" in _follow(app, link)
    assert user_row(app, user.id).email_confirmed_at is not None


def test_create_with_a_phone_only(console, app, api):
    response = _create(console, phone=" +15550102030 ", password="Phone-pass-42",
                       auto_confirm="on")
    assert response.status_code == 303, _html(response)
    [user] = _users(app)
    assert user.phone == "15550102030" and user.email is None
    assert user.phone_confirmed_at is not None and user.email_confirmed_at is None
    assert user.raw_app_meta_data == {"provider": "phone", "providers": ["phone"]}
    [identity] = table_rows(app, sa.select(Identity.provider).where(Identity.user_id == user.id))
    assert identity.provider == "phone"
    assert response.headers["Location"] == f"/console/users/{user.id}"
    assert "+15550102030 was created." in _flashes(console, response.headers["Location"])
    login = api.post("/token?grant_type=password",
                     json={"phone": "+15550102030", "password": "Phone-pass-42"})
    assert login.status_code == 200, _html(login)
    assert_operator_entry(app, "user_signedup", user.id, user_phone="15550102030")


def test_create_a_phone_user_without_auto_confirm_leaves_it_unconfirmed(console, app):
    assert _create(console, phone="+15550109999").status_code == 303
    [user] = _users(app)
    assert user.phone_confirmed_at is None


def test_create_with_email_and_phone(console, app):
    email = unique_email("both")
    assert _create(console, email=email, phone="+15550107777",
                   auto_confirm="on").status_code == 303
    user = user_row(app, email)
    assert user.phone == "15550107777"
    assert user.email_confirmed_at is not None and user.phone_confirmed_at is not None
    assert user.raw_app_meta_data["providers"] == ["email", "phone"]


def test_invalid_metadata_is_422_with_the_values_kept(console, app):
    email = unique_email("meta")
    response = _create(console, email=email, phone="+15550101234", password="Secret-pass-77",
                       auto_confirm="on", user_metadata='{"full_name": "Ada",}')
    assert response.status_code == 422
    html = _html(response)
    assert "<html" in html
    assert "This is not valid JSON" in html
    assert f'value="{email}"' in html and 'value="+15550101234"' in html
    assert '{"full_name": "Ada",}' in unescape(html)
    assert re.search(r'name="auto_confirm" checked', html)
    # The password is never echoed back into the page.
    assert "Secret-pass-77" not in html
    assert _users(app) == []
    assert audit_entries(app, "user_signedup") == []


def test_invalid_metadata_over_htmx_is_the_form_fragment(console, app):
    response = _create(console, htmx=True, email=unique_email("frag"), user_metadata="[1, 2]")
    assert response.status_code == 422
    html = _html(response)
    assert "<html" not in html and 'id="new-user-form"' in html
    assert "Metadata must be a JSON object" in html
    assert _toast(response) == {"message": "Metadata must be a JSON object ({...}), not an array.",
                                "kind": "error"}
    assert _users(app) == []


@pytest.mark.parametrize("metadata, message", [
    ('{"n": NaN}', "This is not valid JSON"),
    ('"text"', "not a string"),
    ("[" * 100_000, "Metadata is limited to 64 KiB"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    # Each of these parses, but PostgreSQL or MariaDB would refuse to store it.
    ('{"n": 1e400}', "cannot be stored: numbers must be finite"),
    ('{"n": "a\\u0000b"}', "cannot be stored: strings must not contain NUL characters"),
    ('{"\\u0000": 1}', "cannot be stored: strings must not contain NUL characters"),
    ('{"n": "\\ud800"}', "cannot be stored: strings must be valid Unicode"),
    ('{"n": ' + "[" * 40 + "]" * 40 + "}", "cannot be stored: nested deeper than 24 levels"),
])
def test_metadata_that_is_not_a_storable_object_is_refused(console, app, metadata, message):
    response = _create(console, email=unique_email("bad"), user_metadata=metadata)
    assert response.status_code == 422
    assert message in _html(response)
    assert _users(app) == []


def test_duplicate_email_is_422_with_gotrue_message(console, app, api):
    email = unique_email("taken")
    existing = create_user(api, email)
    response = _create(console, email=email.upper(), password="Another-pass-5")
    assert response.status_code == 422
    html = _html(response)
    assert DUPLICATE_EMAIL in html
    assert f'value="{email.upper()}"' in html
    assert [str(u.id) for u in _users(app)] == [existing["id"]]
    assert operator_entries(app, "user_signedup") == []

    htmx = _create(console, htmx=True, email=email)
    assert htmx.status_code == 422
    assert _toast(htmx) == {"message": DUPLICATE_EMAIL, "kind": "error"}


def test_duplicate_phone_is_422(console, app, api):
    create_user(api, unique_email("phone"), phone="+15550106666")
    response = _create(console, phone="+15550106666")
    assert response.status_code == 422
    assert "Phone number already registered by another user" in _html(response)
    assert len(_users(app)) == 1


@pytest.mark.parametrize("form, message", [
    ({}, "Give an email address or a phone number."),
    ({"email": "   ", "phone": " "}, "Give an email address or a phone number."),
    ({"email": "not-an-address"}, "Unable to validate email address: invalid format"),
    ({"email": "a" * 300 + "@example.com"}, "An email address is too long"),
    ({"email": "nul\x00byte@example.com"}, "Unable to validate email address"),
    ({"phone": "call me"}, "Invalid phone number format"),
    ({"phone": "+1 (555) 010-2030"}, "Invalid phone number format (E.164 required)"),
    ({"phone": "+1" + "5" * 300}, "Invalid phone number format"),
    ({"email": unique_email("weak"), "password": "abc"}, "Password should be at least"),
    ({"email": unique_email("long"), "password": "x" * 200}, "Password cannot be longer"),
])
def test_bad_input_is_422_and_creates_nothing(console, app, form, message):
    response = _create(console, **form)
    assert response.status_code == 422, _html(response)
    assert message in unescape(_html(response))
    assert _users(app) == []
    assert audit_entries(app, "user_signedup") == []


def test_create_needs_the_csrf_token_and_a_signed_in_operator(console, anonymous_console, app):
    refused = console.post("/console/users/new", {"email": unique_email("csrf")}, csrf=False)
    assert refused.status_code == 400
    outsider = anonymous_console.post("/console/users/new", {"email": unique_email("anon")})
    assert outsider.status_code == 303
    assert outsider.headers["Location"].startswith("/console/login")
    assert _users(app) == []


# --- inviting -----------------------------------------------------------------------------------


def test_invite_one_address(console, app, smtp_server):
    response = _invite(console, "  New.Person@Example.com \n")
    assert response.status_code == 303, _html(response)
    assert response.headers["Location"] == "/console/invites"
    page = _html(console.get("/console/invites"))
    assert "Invitation sent to new.person@example.com." in page
    assert _pending_emails(page) == ["new.person@example.com"]

    user = user_row(app, "new.person@example.com")
    assert user.invited_at is not None and user.email_confirmed_at is None
    assert user.encrypted_password == ""
    assert user.aud == "authenticated"
    [mail] = smtp_server.wait_for("new.person@example.com")
    _accepts(app, _invite_link(mail), user.id)
    assert user_row(app, user.id).email_confirmed_at is not None
    # Same entry as POST /invite, by the operator.
    assert_operator_entry(app, "user_invited", user.id, user_email="new.person@example.com")
    assert audit_entries(app, "user_signedup") == []
    # Accepted: no longer pending.
    assert _pending_emails(_html(console.get("/console/invites"))) == []


def test_invite_over_htmx_returns_the_block_with_a_report(console, app, smtp_server):
    email = unique_email("htmx")
    response = _invite(console, email, htmx=True)
    assert response.status_code == 200
    html = _html(response)
    assert "<html" not in html and html.lstrip().startswith('<div id="invites">')
    assert _report(html) == {email: "invited"}
    assert _pending_emails(html) == [email]
    assert _toast(response) == {"message": f"Invitation sent to {email}.", "kind": "ok"}
    smtp_server.wait_for(email)


def test_invite_page_and_pending_fragment(console, app):
    page = console.get("/console/invites")
    assert page.status_code == 200
    assert "<html" in _html(page) and 'name="addresses"' in _html(page)
    assert "No pending invitations" in _html(page)
    assert "HX-Request" in page.headers["Vary"]
    fragment = console.get("/console/invites?part=pending", htmx=True)
    assert fragment.status_code == 200
    assert _html(fragment).lstrip().startswith('<section class="card flush" id="pending-invites"')


def test_invite_a_pasted_list(console, app, api, smtp_server):
    member = create_user(api, unique_email("member"))
    signed = api.signup("signed.up@example.com", "Signup-pass-11")
    assert signed.status_code == 200
    addresses = (f"ann@example.com, bob@example.com\nANN@example.com  carol@example.com;"
                 f"not-an-address\r\n\n{member['email']},,bob@example.com\tsigned.up@example.com")
    response = _invite(console, addresses, htmx=True)
    assert response.status_code == 200
    html = _html(response)
    assert _report(html) == {
        "ann@example.com": "invited",
        "bob@example.com": "invited",
        "carol@example.com": "invited",
        "not-an-address": "not a valid address",
        member["email"]: "already a user",
        "signed.up@example.com": "invited again (pending invitation or unconfirmed signup)",
    }
    assert _toast(response) == {"message": "4 of 6 invitations sent.", "kind": "error"}
    assert "Unable to validate email address: invalid format" in html

    # One mail per invited address, however often it was pasted.
    for email in ("ann@example.com", "bob@example.com", "carol@example.com"):
        [mail] = smtp_server.wait_for(email)
        _accepts(app, _invite_link(mail), user_row(app, email).id)
    assert smtp_server.to(member["email"]) == []
    # The unconfirmed signup keeps its account and gets an invitation after its confirmation.
    [_, invitation] = smtp_server.wait_for("signed.up@example.com", count=2)
    _accepts(app, _invite_link(invitation), signed.get_json()["id"])
    assert len(_users(app)) == 5
    assert len(operator_entries(app, "user_invited")) == 4
    assert user_row(app, member["id"]).invited_at is None


def test_a_list_copied_from_a_mail_program(console, app, smtp_server):
    response = _invite(console, 'Ada Lovelace <ada@example.com>; "Hopper, Grace" '
                                '<Grace@Example.com> bo@example.com,\nada@example.com',
                       htmx=True)
    assert _report(_html(response)) == {"ada@example.com": "invited",
                                        "grace@example.com": "invited",
                                        "bo@example.com": "invited"}
    smtp_server.wait_for("ada@example.com")
    smtp_server.wait_for("grace@example.com")
    assert sorted(u.email for u in _users(app)) == ["ada@example.com", "bo@example.com",
                                                    "grace@example.com"]


def test_a_pasted_address_is_shown_escaped(console, app):
    response = _invite(console, "<script>alert(1)</script>", htmx=True)
    html = _html(response)
    assert "<script>alert(1)" not in html
    assert _report(html) == {"&lt;script&gt;alert(1)&lt;/script&gt;": "not a valid address"}
    console.post("/console/invites", {"addresses": "<b>bold</b>"})
    page = _html(console.get("/console/invites"))
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;: not a valid address" in page
    assert _users(app) == []


def test_a_plain_list_post_flashes_the_problems(console, app, api, smtp_server):
    member = create_user(api, unique_email("member"))
    response = _invite(console, f"dora@example.com {member['email']} @nope")
    assert response.status_code == 303
    page = unescape(_html(console.get("/console/invites")))
    assert "1 of 3 invitations sent." in page
    assert f"{member['email']}: already a user" in page
    assert "@nope: not a valid address" in page
    smtp_server.wait_for("dora@example.com")


@pytest.mark.parametrize("addresses, message", [
    ("", "Type at least one email address."),
    (" ,;\n ", "Type at least one email address."),
    (" ".join(f"p{i}@example.com" for i in range(101)),
     "Invite at most 100 addresses at a time (101 given)."),
])
def test_an_empty_or_oversized_list_is_422(console, app, smtp_server, addresses, message):
    plain = _invite(console, addresses)
    assert plain.status_code == 422
    assert "<html" in _html(plain) and message in _html(plain)
    htmx = _invite(console, addresses, htmx=True)
    assert htmx.status_code == 422
    assert "<html" not in _html(htmx) and message in _html(htmx)
    assert _toast(htmx)["kind"] == "error"
    if addresses.strip(" ,;\n"):
        # The list is kept in the form for correcting.
        assert "p100@example.com" in _html(plain)
    assert _users(app) == []
    assert smtp_server.messages == []


def test_a_refused_address_is_reported_and_leaves_no_user(console, app, smtp_server):
    smtp_server.refused_recipients = {"bounce@example.com"}
    response = _invite(console, "first@example.com bounce@example.com last@example.com",
                       htmx=True)
    assert response.status_code == 200
    html = _html(response)
    assert _report(html) == {"first@example.com": "invited", "bounce@example.com": "not sent",
                             "last@example.com": "invited"}
    assert "Error sending invite email" in html
    assert _toast(response)["message"] == "2 of 3 invitations sent."

    assert user_row(app, "bounce@example.com") is None
    assert {u.email for u in _users(app)} == {"first@example.com", "last@example.com"}
    assert table_rows(app, sa.select(Identity.id).where(
        Identity.email == "bounce@example.com")) == []
    assert table_rows(app, sa.select(OneTimeToken.id).where(
        OneTimeToken.relates_to == "bounce@example.com")) == []
    assert [e["traits"]["user_email"] for e in operator_entries(app, "user_invited")] == [
        "first@example.com", "last@example.com"]
    [failed] = table_rows(app, sa.select(MailLogEntry).where(
        MailLogEntry.recipient == "bounce@example.com"))
    assert failed[0].status == "failed" and "550" in failed[0].error
    # The others' links work.
    _accepts(app, _invite_link(smtp_server.wait_for("last@example.com")[0]),
             user_row(app, "last@example.com").id)


def test_smtp_down_sends_nothing_and_keeps_nothing(make_app, make_operator, smtp_server,
                                                   closed_port):
    app = make_app(**smtp_settings(closed_port))
    make_operator()
    console = ConsoleClient(app.test_client())
    console.login()
    response = _invite(console, "one@example.com, two@example.com")
    assert response.status_code == 303
    page = unescape(_html(console.get("/console/invites")))
    assert "0 of 2 invitations sent." in page
    assert "one@example.com: not sent (Error sending invite email)" in page
    assert table_rows(app, sa.select(User.id)) == []
    assert table_rows(app, sa.select(Identity.id)) == []
    assert audit_entries(app, "user_invited") == []
    assert {row.status for row in table_rows(app, sa.select(MailLogEntry.status))} == {"failed"}


def test_with_mail_switched_off_nothing_is_invited(make_app, make_operator, service_role_token):
    """POST /invite answers 200 without SMTP (as GoTrue); the console refuses instead of
    reporting invitations nobody will receive."""
    app = make_app(**{"mailer.autoconfirm": False})
    make_operator()
    console = ConsoleClient(app.test_client())
    console.login()
    assert "No SMTP server is configured" in _html(console.get("/console/invites"))
    response = _invite(console, "quiet@example.com", htmx=True)
    assert response.status_code == 422
    assert "Mail is switched off" in _toast(response)["message"]
    assert table_rows(app, sa.select(User.id)) == []

    through_api = app.test_client().post(
        "/invite", json={"email": "api@example.com"},
        headers={"Authorization": f"Bearer {service_role_token}"})
    assert through_api.status_code == 200
    invited_at = user_row(app, "api@example.com").invited_at
    resend = console.post(f"/console/invites/{through_api.get_json()['id']}/resend", htmx=True)
    assert resend.status_code == 422
    assert "Mail is switched off" in _html(resend)
    assert user_row(app, "api@example.com").invited_at == invited_at
    assert operator_entries(app, "user_invited") == []


def test_over_the_email_budget_the_rest_is_not_sent(make_mail_app, make_operator):
    app = make_mail_app(**{"rate_limit.email_sent": "2"})
    make_operator()
    console = ConsoleClient(app.test_client())
    console.login()
    response = _invite(console, "r1@example.com r2@example.com r3@example.com", htmx=True)
    assert _report(_html(response)) == {"r1@example.com": "invited", "r2@example.com": "invited",
                                        "r3@example.com": "not sent"}
    assert "email rate limit exceeded" in _html(response)
    assert user_row(app, "r3@example.com") is None


def test_invite_needs_the_csrf_token(console, app, smtp_server):
    assert console.post("/console/invites", {"addresses": "x@example.com"},
                        csrf=False).status_code == 400
    assert console.post("/console/invites", {"addresses": "x@example.com"}, htmx=True,
                        csrf=False).status_code == 400
    assert _users(app) == [] and smtp_server.messages == []


# --- the pending list ---------------------------------------------------------------------------


def test_pending_lists_only_invited_unconfirmed_users(console, app, api, clock, smtp_server):
    create_user(api, unique_email("member"))
    assert api.signup("signup@example.com", "Signup-pass-11").status_code == 200
    _invite(console, "older@example.com")
    clock.advance(minutes=5)
    _invite(console, "newer@example.com")
    clock.advance(minutes=5)
    _invite(console, "accepted@example.com")
    accepted = user_row(app, "accepted@example.com")
    _accepts(app, _invite_link(smtp_server.wait_for("accepted@example.com")[0]), accepted.id)

    html = _html(console.get("/console/invites"))
    assert _pending_emails(html) == ["newer@example.com", "older@example.com"]
    assert re.search(r"Pending invitations <span class=\"muted\">2</span>", html)


def test_pending_list_pages(console, app, clock):
    batch = [f"page-{i:02d}@example.com" for i in range(53)]
    # Same clock for the whole batch: the pages must break the ties by id.
    response = _invite(console, "\n".join(batch[:40]), htmx=True)
    assert _toast(response)["message"] == "40 invitations sent."
    clock.advance(seconds=1)
    _invite(console, "\n".join(batch[40:]), htmx=True)

    first = _html(console.get("/console/invites"))
    assert re.search(r"Pending invitations <span class=\"muted\">53</span>", first)
    first_page = _pending_emails(first)
    assert len(first_page) == 50
    # The newest batch first.
    assert set(first_page[:13]) == set(batch[40:])
    more = re.search(r'href="(/console/invites\?after=[^"]+)">More \(older\)', first).group(1)
    second = console.get(unescape(more))
    assert second.status_code == 200
    second_page = _pending_emails(_html(second))
    assert len(second_page) == 3
    assert sorted(first_page + second_page) == sorted(batch)
    assert "More (older)" not in _html(second) and "Newest" in _html(second)

    # The same page as a fragment for htmx.
    fragment = console.get(unescape(more) + "&part=pending", htmx=True)
    assert "<html" not in _html(fragment)
    assert _pending_emails(_html(fragment)) == second_page


@pytest.mark.parametrize("cursor", ["garbage", "1.zz", "99999999999999999999999.00", "", "-1.0"])
def test_a_bad_cursor_shows_the_first_page(console, app, cursor):
    _invite(console, "cursor@example.com")
    response = console.get(f"/console/invites?after={cursor}")
    assert response.status_code == 200
    assert _pending_emails(_html(response)) == ["cursor@example.com"]


# --- resend and revoke --------------------------------------------------------------------------


def _invited(console, app, smtp_server, email: str | None = None):
    email = email or unique_email("invitee")
    _invite(console, email)
    user = user_row(app, email)
    [mail] = smtp_server.wait_for(email)
    return user, _invite_link(mail)


def test_resend_sends_a_new_link_and_the_old_one_stops_working(console, app, clock,
                                                               smtp_server):
    user, old_link = _invited(console, app, smtp_server)
    clock.advance(minutes=10)
    response = console.post(f"/console/invites/{user.id}/resend", htmx=True)
    assert response.status_code == 200, _html(response)
    assert _html(response).lstrip().startswith('<section class="card flush" id="pending-invites"')
    assert _pending_emails(_html(response)) == [user.email]
    assert _toast(response) == {"message": f"Invitation sent again to {user.email}.",
                                "kind": "ok"}
    [_, second] = smtp_server.wait_for(user.email, count=2)
    new_link = _invite_link(second)
    assert new_link != old_link
    assert user_row(app, user.id).invited_at == clock.now
    assert len(operator_entries(app, "user_invited")) == 2
    # One invitation at a time: the new link replaces the old one.
    _refused_link(app, old_link)
    _accepts(app, new_link, user.id)


def test_resend_plain_post_redirects_with_a_flash(console, app, smtp_server):
    user, _ = _invited(console, app, smtp_server)
    response = console.post(f"/console/invites/{user.id}/resend")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/invites"
    assert f"Invitation sent again to {user.email}." in _flashes(console, "/console/invites")
    assert len(smtp_server.wait_for(user.email, count=2)) == 2


def test_a_failed_resend_is_refused_and_keeps_the_old_link(console, app, smtp_server):
    user, old_link = _invited(console, app, smtp_server)
    smtp_server.refused_recipients = {user.email}
    response = console.post(f"/console/invites/{user.id}/resend", htmx=True)
    assert response.status_code == 422
    assert "Error sending invite email" in _html(response)
    assert _toast(response)["kind"] == "error"
    assert len(operator_entries(app, "user_invited")) == 1
    _accepts(app, old_link, user.id)


def test_revoke_deletes_the_invitee_and_the_link_fails(console, app, smtp_server):
    user, link = _invited(console, app, smtp_server)
    keep, _ = _invited(console, app, smtp_server)
    response = console.post(f"/console/invites/{user.id}/revoke", htmx=True)
    assert response.status_code == 200, _html(response)
    assert _pending_emails(_html(response)) == [keep.email]
    assert _toast(response) == {
        "message": f"Invitation to {user.email} revoked; its link no longer works.",
        "kind": "ok"}
    assert user_row(app, user.id) is None
    assert table_rows(app, sa.select(Identity.id).where(Identity.user_id == user.id)) == []
    assert table_rows(app, sa.select(OneTimeToken.id).where(
        OneTimeToken.user_id == user.id)) == []
    assert_operator_entry(app, "user_deleted", user.id, invite_revoked=True,
                          user_email=user.email)
    _refused_link(app, link)
    assert user_row(app, keep.id) is not None


def test_revoke_plain_post_redirects_with_a_flash(console, app, smtp_server):
    user, _ = _invited(console, app, smtp_server)
    response = console.post(f"/console/invites/{user.id}/revoke")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/invites"
    page = _flashes(console, "/console/invites")
    assert f"Invitation to {user.email} revoked" in page
    assert "No pending invitations" in page


@pytest.mark.parametrize("action", ["resend", "revoke"])
def test_resend_or_revoke_of_a_non_pending_user_is_refused(console, app, api, smtp_server,
                                                           action):
    member = create_user(api, unique_email("member"))
    accepted, link = _invited(console, app, smtp_server)
    _accepts(app, link, accepted.id)
    signed = api.signup(unique_email("signup"), "Signup-pass-11").get_json()
    mails_before = len(smtp_server.messages)
    for target in (member["id"], accepted.id, signed["id"], uuid.uuid4(), "not-a-uuid"):
        htmx = console.post(f"/console/invites/{target}/{action}", htmx=True)
        assert htmx.status_code == 422, (target, _html(htmx))
        assert NO_PENDING_INVITE in _html(htmx)
        assert _toast(htmx) == {"message": NO_PENDING_INVITE, "kind": "error"}
        plain = console.post(f"/console/invites/{target}/{action}")
        assert plain.status_code == 303
        assert NO_PENDING_INVITE in unescape(_flashes(console, "/console/invites"))
    for user_id in (member["id"], accepted.id, signed["id"]):
        assert user_row(app, user_id) is not None
    assert len(smtp_server.messages) == mails_before
    assert operator_entries(app, "user_deleted") == []


def test_revoking_twice_is_refused_the_second_time(console, app, smtp_server):
    user, _ = _invited(console, app, smtp_server)
    assert console.post(f"/console/invites/{user.id}/revoke", htmx=True).status_code == 200
    again = console.post(f"/console/invites/{user.id}/revoke", htmx=True)
    assert again.status_code == 422
    assert NO_PENDING_INVITE in _html(again)
    assert len(operator_entries(app, "user_deleted")) == 1


@pytest.mark.parametrize("action", ["resend", "revoke"])
def test_resend_and_revoke_need_a_post_with_csrf(console, app, smtp_server, action):
    user, _ = _invited(console, app, smtp_server)
    assert console.get(f"/console/invites/{user.id}/{action}").status_code == 405
    assert console.post(f"/console/invites/{user.id}/{action}", csrf=False).status_code == 400
    assert console.post(f"/console/invites/{user.id}/{action}", htmx=True,
                        csrf=False).status_code == 400
    assert user_row(app, user.id) is not None
    assert len(smtp_server.messages) == 1
