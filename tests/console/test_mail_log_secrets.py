"""The mail log holds no live secrets (issue 8, finding 6): an operator reading the console's mail
log must not be able to use a reauthentication code, an email code or a link that is still live.

Found: the default reauthentication subject, "{{ .Token }} is your verification code", put every
live code on the mail log page. The emails themselves still carry their secrets.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import MailLogEntry
from gotrue_web.services.mail import redaction, template_store
from gotrue_web.services.mail import templates as email_templates

from ..conftest import api_for, table_rows
from ..factories import unique_email
from ..support import smtp as smtp_support
from .conftest import signed_in

CODE_HIDDEN = redaction.CODE_HIDDEN
LINK_HIDDEN = redaction.LINK_HIDDEN
TOKEN_HIDDEN = redaction.TOKEN_HIDDEN
PASSWORD = "password-123"
# A subject that prints every secret a template can, in every way (the built-in subjects carry
# only the reauthentication code, but operators write their own).
GREEDY_SUBJECT = ("Code {{ .Token }} link {{ .ConfirmationURL }} token {{ .TokenHash }} "
                  "own {{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}&type=email")
GREEDY_BODY = ('<p>Code {{ .Token }}</p><a href="{{ .ConfirmationURL }}">Confirm</a>'
               '<a href="{{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}">Own link</a>'
               "<p>{{ .TokenHash }}</p>")
GREEDY_LOGGED = (f"Code {CODE_HIDDEN} link {LINK_HIDDEN} token {TOKEN_HIDDEN} "
                 f"own {LINK_HIDDEN}")


def logged(app) -> list[MailLogEntry]:
    return [row for (row,) in table_rows(app, sa.select(MailLogEntry).order_by(
        MailLogEntry.created_at))]


def store_greedy_templates(app) -> None:
    with app.app_context():
        for kind in email_templates.KINDS:
            template_store.save(kind, GREEDY_SUBJECT, GREEDY_BODY,
                                now=app.extensions["gotrue"].now(), updated_by="test")
        db.session.commit()


def sign_up_and_in(app, email: str) -> dict:
    api = api_for(app)
    assert api.signup(email, PASSWORD).status_code == 200
    response = api.login(email, PASSWORD)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_live_reauthentication_code_is_not_on_the_mail_log_page(make_mail_app, smtp_server):
    app = make_mail_app(**{"mailer.autoconfirm": True})
    console = signed_in(app)
    email = unique_email("reauth")
    session = sign_up_and_in(app, email)
    assert api_for(app).get("/reauthenticate",
                            token=session["access_token"]).status_code == 200

    [message] = smtp_server.wait_for(email)
    code = smtp_support.code(message)
    assert message["Subject"] == f"{code} is your verification code"  # the email is intact
    [entry] = logged(app)
    assert (entry.template, entry.recipient, entry.status) == ("reauthentication", email, "sent")
    assert entry.subject == f"{CODE_HIDDEN} is your verification code"

    page = console.get("/console/mail").get_data(as_text=True)
    assert email in page and "[code hidden] is your verification code" in page
    assert code not in page
    fragment = console.get("/console/mail?template=reauthentication", htmx=True)
    assert code not in fragment.get_data(as_text=True)
    # The code is still live, and usable by its owner only through their own email.
    response = api_for(app).put("/user", token=session["access_token"],
                                json={"password": "password-456", "nonce": code})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_no_email_leaves_a_code_token_or_link_in_the_log(make_mail_app, smtp_server,
                                                         service_role_token):
    """Every flow that mails a secret, with templates that print every secret."""
    app = make_mail_app()
    store_greedy_templates(app)
    console = signed_in(app)
    api = api_for(app, service_role_token)
    confirm_me, invitee = unique_email("confirm"), unique_email("invitee")
    assert api.signup(confirm_me, PASSWORD).status_code == 200  # confirmation
    assert api.admin("POST", "/invite", json={"email": invitee}).status_code == 200
    autoconfirm = make_mail_app(**{"mailer.autoconfirm": True})
    member, magic = unique_email("member"), unique_email("magic")
    session = sign_up_and_in(autoconfirm, member)
    sign_up_and_in(autoconfirm, magic)
    member_api = api_for(autoconfirm)
    assert member_api.post("/recover", json={"email": member}).status_code == 200
    assert member_api.post("/otp", json={"email": magic}).status_code == 200
    assert member_api.get("/reauthenticate",
                          token=session["access_token"]).status_code == 200
    response = member_api.put("/user", token=session["access_token"],
                              json={"email": unique_email("changed")})
    assert response.status_code == 200, response.get_data(as_text=True)

    messages = smtp_server.wait_for("@", count=6)
    assert len(messages) == 6
    secrets = set()
    for message in messages:
        body = smtp_support.html_body(message)
        secrets.add(smtp_support.code(message))
        secrets.update(link for link in smtp_support.links(message) if link)
        secrets.update(re.findall(r"[0-9a-f]{32,}", body + message["Subject"]))
    assert len(secrets) > 10
    entries = logged(app)
    assert sorted(entry.template for entry in entries) == sorted(
        ["confirmation", "invite", "recovery", "magic_link", "reauthentication",
         "email_change"])
    for entry in entries:
        # A reauthentication email has a code and no link.
        expected = GREEDY_LOGGED if entry.template != "reauthentication" else \
            GREEDY_LOGGED.replace(f"link {LINK_HIDDEN} ", "link  ")
        assert entry.subject == expected, entry.template
    page = console.get("/console/mail").get_data(as_text=True)
    for secret in secrets:
        assert secret not in page
        assert secret.replace("&", "&amp;") not in page


@pytest.mark.parametrize("kind", email_templates.KINDS)
def test_a_rendered_email_keeps_nothing_secret(kind):
    """The function the mail log uses, on the built-in and on a greedy template, for each kind:
    subjects and bodies (HTML-escaped links, percent-encoded tokens) lose every secret and keep
    the rest."""
    token = "pkce_" + "ab12" * 14
    code = "804211"
    link = (f"http://localhost:9999/verify?token={token}&type=recovery"
            "&redirect_to=http://localhost:3000/welcome")
    variables = {**email_templates.SAMPLE_VARIABLES, "Token": code, "TokenHash": token,
                 "ConfirmationURL": link, "SiteURL": "http://localhost:3000"}
    for rendered in (email_templates.render(kind, variables),
                     email_templates.render(kind, variables, subject=GREEDY_SUBJECT,
                                            body=GREEDY_BODY)):
        for text in (rendered.subject, rendered.html):
            kept = redaction.redact(text, variables)
            assert code not in kept and token not in kept and "ab12ab12" not in kept
            assert "verify?token" not in kept
    greedy = email_templates.render(kind, variables, subject=GREEDY_SUBJECT, body=GREEDY_BODY)
    assert redaction.redact(greedy.subject, variables) == GREEDY_LOGGED
    assert redaction.redact(greedy.html, variables) == (
        f'<p>Code {CODE_HIDDEN}</p><a href="{LINK_HIDDEN}">Confirm</a>'
        f'<a href="{LINK_HIDDEN}">Own link</a><p>{TOKEN_HIDDEN}</p>')
    # Text without secrets is untouched, other links included.
    plain = "Visit http://localhost:3000/help or call 0800 123 456."
    assert redaction.redact(plain, variables) == plain
