"""The account-change notifications in the console (issue 17): grouped as "Notifications" on
the templates page with their switch, edited with their own variables and sample values,
previewed, saved per language (and then used by a real notification), sent as a test; the
user page lists the notifications the user was sent, failed ones with the error, queued ones
as waiting; the mail log names them."""

from __future__ import annotations

import html
import re

import pytest

from gotrue_web.settings.mailer import NOTIFICATION_KINDS, NotificationSettings

from ..api.mfa.support import aal2_session, verified_totp
from ..conftest import api_for
from ..factories import PASSWORD, create_user, mail_log, mail_to, sign_in, unique_email
from ..support import smtp as smtp_support
from ..support.mail_servers import TemplateServer
from .conftest import signed_in

ALL_ON = {"mailer.notifications": NotificationSettings.all_on()}
AUTH_KINDS = ("confirmation", "invite", "magic_link", "recovery", "email_change",
              "reauthentication")


def _section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start:page.index("</section>", start)]


def _srcdoc(page: str) -> str:
    [srcdoc] = re.findall(r'srcdoc="([^"]*)"', page)
    return html.unescape(srcdoc)


def _change_password(api, email: str, password: str, current: str = PASSWORD):
    session = sign_in(api, email, current)
    answer = api.put("/user", token=session["access_token"], json={"password": password})
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.fixture
def mail_console(make_mail_app):
    """An app mailing the SMTP sink with every notification on, and a signed-in operator."""
    app = make_mail_app(**ALL_ON)
    return app, signed_in(app)


# --- the list ------------------------------------------------------------------------------------


def test_the_list_groups_the_notifications_with_their_switch(make_app):
    app = make_app(**{"mailer.notifications": NotificationSettings(
        password_changed_enabled=True)})
    page = signed_in(app).get("/console/templates").get_data(as_text=True)
    auth, notifications = (_section(page, "templates-auth"),
                           _section(page, "templates-notifications"))
    assert "<h2>Notifications</h2>" in notifications
    for kind in AUTH_KINDS:
        assert f'id="template-{kind}"' in auth and f'id="template-{kind}"' not in notifications
    for kind in NOTIFICATION_KINDS:
        assert f'id="template-{kind}"' in notifications
        assert f"GOTRUE_MAILER_NOTIFICATIONS_{kind.upper()}_ENABLED" in notifications
    row = notifications[notifications.index('id="template-password_changed"'):]
    row = row[:row.index("</tr>")]
    assert ('<span class="badge ok" title="GOTRUE_MAILER_NOTIFICATIONS_PASSWORD_CHANGED_ENABLED'
            '=true">On</span>') in row
    assert "Password changed" in row and "<code>Your password was changed</code>" in row
    assert notifications.count('">Off</span>') == len(NOTIFICATION_KINDS) - 1


# --- the editor ----------------------------------------------------------------------------------


def test_the_editor_lists_the_notifications_values_and_previews_samples(make_app):
    console = signed_in(make_app())
    page = console.get("/console/templates/email_changed").get_data(as_text=True)
    assert 'value="Your email address was changed"' in page
    assert "GOTRUE_MAILER_NOTIFICATIONS_EMAIL_CHANGED_ENABLED=true" in page
    assert '<span class="badge">Off</span> This notification is not sent' in page
    for name in ("Email", "OldEmail", "SiteURL", "Data", "SendingTo"):
        assert f"<code>{{{{ .{name} }}}}</code>" in page
    for name in ("ConfirmationURL", "Token", "Phone", "Provider"):
        assert f"<code>{{{{ .{name} }}}}</code>" not in page
    assert ("changed from ada@example.com to ada.lovelace@example.com."
            in _srcdoc(page))

    page = console.get("/console/templates/mfa_factor_unenrolled").get_data(as_text=True)
    assert "<code>{{ .FactorType }}</code>" in page
    assert "A totp verification method was removed" in _srcdoc(page)


def test_a_notification_template_url_is_named_by_its_variable(make_app):
    server = TemplateServer({"/linked.html": "<p>Linked {{ .Provider }}</p>"})
    server.start()
    try:
        app = make_app(**{"mailer.templates": {"identity_linked": f"{server.url}/linked.html"}})
        page = signed_in(app).get("/console/templates/identity_linked").get_data(as_text=True)
    finally:
        server.stop()
    assert "GOTRUE_MAILER_TEMPLATES_IDENTITY_LINKED_NOTIFICATION" in page
    assert "<p>Linked github</p>" in _srcdoc(page)


def test_preview_of_an_edit(make_app):
    console = signed_in(make_app())
    answer = console.post("/console/templates/phone_changed/preview", {
        "subject": "New number {{ .Phone }}",
        "body": "<p>{{ .OldPhone }} is now {{ .Phone }} for {{ .Data.full_name }}</p>"},
        htmx=True)
    fragment = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert '<dd id="preview-subject">New number 15550001111</dd>' in fragment
    assert _srcdoc(fragment) == "<p>15550002222 is now 15550001111 for Ada Lovelace</p>"


def test_a_saved_language_variant_is_what_that_user_receives(mail_console, smtp_server,
                                                             service_role_token):
    app, console = mail_console
    saved = console.post("/console/templates/mfa_factor_enrolled", {
        "subject": "Neuer Faktor ({{ .FactorType }})",
        "body": "<p>Hallo {{ .Data.full_name }}: {{ .FactorType }} hinzugefügt.</p>",
        "locale": "de"})
    assert saved.status_code == 303
    api = api_for(app, service_role_token)
    german, other = unique_email("de"), unique_email("en")
    create_user(api, german, password=PASSWORD,
                user_metadata={"locale": "de", "full_name": "Grete"})
    verified_totp(api, app, sign_in(api, german))
    aal2_session(api, app, other)

    message = mail_to(smtp_server, german)
    assert message["Subject"] == "Neuer Faktor (totp)"
    assert "<p>Hallo Grete: totp hinzugefügt.</p>" in smtp_support.html_body(message)
    assert mail_to(smtp_server, other)["Subject"] == (
        "A new verification method was added to your account")


def test_send_a_test_of_a_notification(mail_console, smtp_server):
    app, console = mail_console
    answer = console.post("/console/templates/identity_unlinked/test", {"to": "qa@example.com"},
                          htmx=True)
    assert answer.status_code == 200
    message = mail_to(smtp_server, "qa@example.com")
    assert message["Subject"] == "[Test] A sign-in method was removed from your account"
    assert "github can no longer be used" in smtp_support.html_body(message)
    [entry] = mail_log(app)
    assert (entry.template, entry.status) == ("identity_unlinked", "sent")


# --- the user page and the mail log --------------------------------------------------------------


def test_the_user_page_lists_the_notifications_sent(mail_console, smtp_server,
                                                    service_role_token):
    app, console = mail_console
    api = api_for(app, service_role_token)
    email = unique_email("page")
    user = create_user(api, email, password=PASSWORD)
    empty = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert "No notification sent" in _section(empty, "notifications")

    _change_password(api, email, "second-password-1")
    smtp_server.reject_with = "554 5.7.1 Relay access denied"
    _change_password(api, email, "third-password-22", current="second-password-1")

    section = _section(console.get(f"/console/users/{user['id']}").get_data(as_text=True),
                       "notifications")
    rows = section.split('<tr id="notification-')[1:]
    assert len(rows) == 2
    # Newest first: the failed one with its error, then the one that went out.
    assert "Password changed" in rows[0] and "Failed" in rows[0]
    assert "554 5.7.1 Relay access denied" in rows[0]
    assert "Sent" in rows[1] and email in rows[1]
    assert "waiting" not in section


def test_a_notification_still_queued_shows_as_waiting(make_mail_app, service_role_token):
    app = make_mail_app(**ALL_ON, **{"mailer.outbox_dispatcher": "external"})
    api = api_for(app, service_role_token)
    email = unique_email("queued")
    user = create_user(api, email, password=PASSWORD)
    _change_password(api, email, "second-password-1")
    page = signed_in(app).get(f"/console/users/{user['id']}").get_data(as_text=True)
    section = _section(page, "notifications")
    assert 'id="notifications-waiting"' in section and "1 waiting" in section
    assert "No notification sent" in section


def test_the_mail_log_names_and_filters_the_notifications(mail_console, service_role_token):
    app, console = mail_console
    api = api_for(app, service_role_token)
    email = unique_email("logged")
    create_user(api, email, password=PASSWORD)
    _change_password(api, email, "second-password-1")
    page = console.get("/console/mail?template=password_changed").get_data(as_text=True)
    assert '<option value="password_changed" selected>Password changed</option>' in page
    results = _section(page, "mail-results")
    assert "Password changed" in results and email in results
