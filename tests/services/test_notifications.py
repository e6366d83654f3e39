"""Account-change notifications (issue 17): password and email changes through the real flows
(PUT /user, a recovery link, an email change confirmed by both links), received by the SMTP
sink with their template values; off by default; a custom subject and a stored template; a
refused or failed send that leaves the change in place with a failed mail log entry; none for
what an operator does when creating or editing a user; the send_email hook's event."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from supabase_auth import SyncGoTrueClient

from gotrue_web.extensions import db
from gotrue_web.models import MailOutboxRow
from gotrue_web.services.mail import template_store
from gotrue_web.settings import HookConfig, from_env
from gotrue_web.settings.mailer import NOTIFICATION_KINDS, NotificationSettings

from ..conftest import api_for
from ..factories import (
    PASSWORD,
    count,
    create_user,
    fragment,
    mail_log,
    mail_to,
    path_of,
    sign_in,
    unique_email,
    user_row,
    verify_link,
)
from ..support import smtp as smtp_support
from ..support.fake_hooks import SECRET, FakeHookReceiver

NEW_PASSWORD = "another-password-456"
ALL_ON = {"mailer.notifications": NotificationSettings.all_on()}
SITE = "http://localhost:3000"


def _notifications(app) -> list[tuple[str, str, str, str]]:
    """(template, recipient, subject, status) of the notification entries in the mail log."""
    return [(entry.template, entry.recipient, entry.subject, entry.status)
            for entry in mail_log(app) if entry.template in NOTIFICATION_KINDS]


def _change_password(api, email: str, password: str = NEW_PASSWORD):
    session = sign_in(api, email)
    return api.put("/user", token=session["access_token"], json={"password": password})


# --- settings ------------------------------------------------------------------------------------


def test_the_variables_are_gotrues_and_every_notification_is_off_by_default():
    base = {"GOTRUE_JWT_SECRET": "s" * 32, "GOTRUE_SITE_URL": SITE,
            "API_EXTERNAL_URL": "http://localhost:9999"}
    defaults = from_env(base, env_file=None).mailer
    assert defaults.notifications == NotificationSettings()
    assert not any(defaults.notifications.enabled(kind) for kind in NOTIFICATION_KINDS)
    assert defaults.subjects["mfa_factor_unenrolled"] == (
        "A verification method was removed from your account")

    mailer = from_env({
        **base,
        "GOTRUE_MAILER_NOTIFICATIONS_PASSWORD_CHANGED_ENABLED": "true",
        "GOTRUE_MAILER_NOTIFICATIONS_MFA_FACTOR_UNENROLLED_ENABLED": "true",
        "GOTRUE_MAILER_SUBJECTS_EMAIL_CHANGED_NOTIFICATION": "Moved: {{ .Email }}",
        "GOTRUE_MAILER_TEMPLATES_IDENTITY_LINKED_NOTIFICATION": "/mail/linked.html",
        # The other emails' variables are untouched by the suffix.
        "GOTRUE_MAILER_SUBJECTS_RECOVERY": "Lost it?",
    }, env_file=None).mailer
    assert [kind for kind in NOTIFICATION_KINDS if mailer.notifications.enabled(kind)] == [
        "password_changed", "mfa_factor_unenrolled"]
    assert mailer.subjects["email_changed"] == "Moved: {{ .Email }}"
    assert mailer.subjects["recovery"] == "Lost it?"
    assert mailer.templates == {"identity_linked": "/mail/linked.html"}


def test_nothing_is_sent_while_the_notifications_are_off(make_mail_app, smtp_server,
                                                         service_role_token):
    app = make_mail_app()
    api = api_for(app, service_role_token)
    email = unique_email("quiet")
    create_user(api, email, password=PASSWORD)
    assert _change_password(api, email).status_code == 200
    assert api.login(email, NEW_PASSWORD).status_code == 200
    assert smtp_server.to(email) == []
    assert _notifications(app) == [] and count(app, MailOutboxRow) == 0


# --- password ------------------------------------------------------------------------------------


def test_put_user_password_sends_password_changed(make_mail_app, smtp_server,
                                                  service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("pw")
    create_user(api, email, password=PASSWORD, user_metadata={"full_name": "Ada"})
    response = _change_password(api, email)
    assert response.status_code == 200, response.get_data(as_text=True)

    message = mail_to(smtp_server, email)
    assert message["Subject"] == "Your password was changed"
    body = smtp_support.html_body(message)
    assert f"The password of your account {email} was just changed." in body
    assert "If you did not make this change" in body
    assert _notifications(app) == [("password_changed", email, "Your password was changed",
                                    "sent")]
    # Only a change of password tells: a metadata edit does not.
    session = sign_in(api, email, NEW_PASSWORD)
    assert api.put("/user", token=session["access_token"],
                   json={"data": {"x": 1}}).status_code == 200
    assert len(smtp_server.to(email)) == 1


def test_a_password_set_after_a_recovery_link_is_notified(make_mail_app, smtp_server,
                                                          service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("lost")
    create_user(api, email, password=PASSWORD)
    assert api.post("/recover", json={"email": email}).status_code == 200
    link = verify_link(mail_to(smtp_server, email))
    landed = api.get(path_of(link))
    assert landed.status_code == 303
    token = fragment(landed.headers["Location"])["access_token"]

    assert api.put("/user", token=token, json={"password": NEW_PASSWORD}).status_code == 200
    notice = mail_to(smtp_server, email, count=2)
    assert notice["Subject"] == "Your password was changed"
    assert [entry[0] for entry in _notifications(app)] == ["password_changed"]


def test_custom_subject_and_stored_template_per_language(make_mail_app, smtp_server,
                                                         service_role_token):
    app = make_mail_app(**ALL_ON, **{"mailer.subjects": {
        "password_changed": "Security notice for {{ .Email }}"}})
    with app.app_context():
        template_store.save(
            "password_changed", "Mot de passe changé ({{ .Data.full_name }})",
            "<p>Bonjour {{ .Data.full_name }}, nouveau mot de passe sur {{ .SiteURL }}.</p>",
            now=app.extensions["gotrue"].now(), updated_by="ops@example.com", locale="fr")
        db.session.commit()
    api = api_for(app, service_role_token)
    english, french = unique_email("en"), unique_email("fr")
    create_user(api, english, password=PASSWORD)
    create_user(api, french, password=PASSWORD,
                user_metadata={"locale": "fr-CA", "full_name": "Zoé"})
    assert _change_password(api, english).status_code == 200
    assert _change_password(api, french).status_code == 200

    assert mail_to(smtp_server, english)["Subject"] == f"Security notice for {english}"
    to_french = mail_to(smtp_server, french)
    assert to_french["Subject"] == "Mot de passe changé (Zoé)"
    assert smtp_support.html_body(to_french).strip() == (
        f"<p>Bonjour Zoé, nouveau mot de passe sur {SITE}.</p>")


# --- email change --------------------------------------------------------------------------------


def test_a_confirmed_email_change_tells_the_old_address(make_mail_app, smtp_server,
                                                        service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    old, new = unique_email("old"), unique_email("new")
    create_user(api, old, password=PASSWORD)
    session = sign_in(api, old)
    assert api.put("/user", token=session["access_token"],
                   json={"email": new}).status_code == 200
    links = [verify_link(mail_to(smtp_server, address)) for address in (old, new)]
    # The first of the two confirmations changes nothing yet: no notification.
    assert api.get(path_of(links[0])).status_code == 303
    assert _notifications(app) == []
    assert api.get(path_of(links[1])).status_code == 303
    assert user_row(app, session["user"]["id"]).email == new

    notice = mail_to(smtp_server, old, count=2)
    assert notice["Subject"] == "Your email address was changed"
    assert f"changed from {old} to {new}." in smtp_support.html_body(notice)
    assert len(smtp_server.to(new)) == 1
    assert _notifications(app) == [("email_changed", old, "Your email address was changed",
                                    "sent")]


# --- failures ------------------------------------------------------------------------------------


def test_a_failed_send_keeps_the_change_and_is_in_the_mail_log(make_mail_app, smtp_server,
                                                                service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("down")
    create_user(api, email, password=PASSWORD)
    smtp_server.reject_with = "554 Transaction failed"
    assert _change_password(api, email).status_code == 200

    assert api.login(email, NEW_PASSWORD).status_code == 200
    [entry] = [entry for entry in mail_log(app) if entry.template == "password_changed"]
    assert (entry.recipient, entry.status) == (email, "failed")
    assert "554" in entry.error
    assert entry.user_id is not None and str(entry.user_id) == str(user_row(app, email).id)
    assert smtp_server.to(email) == []


def test_an_unauthorised_address_or_no_budget_is_logged_not_refused(make_mail_app,
                                                                     smtp_server,
                                                                     service_role_token,
                                                                     settings):
    allowed = unique_email("allowed")
    app = make_mail_app(**ALL_ON, **{"external.email": dataclasses.replace(
        settings.external.email, authorized_addresses=(allowed,))})
    api = api_for(app, service_role_token)
    email = unique_email("elsewhere")
    create_user(api, email, password=PASSWORD)
    assert _change_password(api, email).status_code == 200
    assert api.login(email, NEW_PASSWORD).status_code == 200
    [entry] = mail_log(app)
    assert (entry.template, entry.status) == ("password_changed", "failed")
    assert entry.error.startswith("not sent: ") and "not authorized" in entry.error
    assert smtp_server.messages == [] and count(app, MailOutboxRow) == 0

    app = make_mail_app(**ALL_ON, **{"rate_limit.email_sent": "0"})
    api = api_for(app, service_role_token)
    email = unique_email("budget")
    create_user(api, email, password=PASSWORD)
    assert _change_password(api, email).status_code == 200
    assert api.login(email, NEW_PASSWORD).status_code == 200
    [entry] = [e for e in mail_log(app) if e.recipient == email]
    assert entry.status == "failed" and "rate limit" in entry.error


# --- what sends none -----------------------------------------------------------------------------


def test_an_operator_creating_or_editing_a_user_sends_none(make_mail_app, smtp_server,
                                                           service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("made")
    user = create_user(api, email, password=PASSWORD, phone="15550003333",
                       phone_confirm=True, user_metadata={"full_name": "Made"})
    changed = api.admin("PUT", f"/admin/users/{user['id']}",
                        json={"password": NEW_PASSWORD, "phone": "15550004444"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert api.login(email, NEW_PASSWORD).status_code == 200
    assert smtp_server.messages == []
    assert _notifications(app) == [] and count(app, MailOutboxRow) == 0


# --- the send_email hook -------------------------------------------------------------------------


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver())


def test_with_the_send_email_hook_the_hook_gets_the_notification(make_mail_app, smtp_server,
                                                                  receiver,
                                                                  service_role_token):
    app = make_mail_app(**ALL_ON, **{
        "hooks.send_email": HookConfig(True, receiver.uri(), (SECRET,))})
    api = api_for(app, service_role_token)
    email = unique_email("hooked")
    create_user(api, email, password=PASSWORD)
    assert _change_password(api, email).status_code == 200

    [request] = receiver.received
    event = FakeHookReceiver.verify(request, SECRET)
    assert event["user"]["email"] == email
    assert event["email_data"] == {
        "token": "", "token_hash": "", "redirect_to": SITE,
        "email_action_type": "password_changed_notification",
        "site_url": "http://localhost:9999", "token_new": "", "token_hash_new": "",
        "old_email": "", "old_phone": "", "provider": "", "factor_type": ""}
    assert smtp_server.messages == []
    [entry] = mail_log(app)
    assert (entry.template, entry.recipient, entry.status) == ("password_changed", email, "sent")


# --- the official Python client ------------------------------------------------------------------


@pytest.fixture
def app(make_mail_app):
    """The app ``live_server`` serves: every notification on."""
    return make_mail_app(**ALL_ON)


@pytest.mark.live
def test_supabase_auth_update_user_password_is_notified(live_server, smtp_server,
                                                        service_role_token):
    email = unique_email("client")
    create_user(api_for(live_server.app, service_role_token), email, password=PASSWORD)
    with httpx.Client(timeout=30) as http:
        client = SyncGoTrueClient(url=live_server.url + "/auth/v1",
                                  headers={"apikey": "anon-key"}, auto_refresh_token=False,
                                  persist_session=False, http_client=http)
        client.sign_in_with_password({"email": email, "password": PASSWORD})
        updated = client.update_user({"password": NEW_PASSWORD})
    assert updated.user.email == email
    # Served over real HTTP: the email goes out after the answer, so wait for it.
    [message] = smtp_server.wait_for(email, timeout=30)
    assert message["Subject"] == "Your password was changed"
    assert f"The password of your account {email}" in smtp_support.html_body(message)
