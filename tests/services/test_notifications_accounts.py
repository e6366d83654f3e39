"""Account-change notifications (issue 17) of sign-in methods, MFA factors and phone numbers,
each through the real flow that makes the change: an OAuth identity linked by hand and by
signing in, unlinked by the user and by an operator; a TOTP factor verified, then removed by
the user, the admin API and the console; a phone number changed with a texted code and under
SMS_AUTOCONFIRM. Received by the SMTP sink with their template values."""

from __future__ import annotations

import dataclasses

import pytest

from gotrue_web.settings.mailer import NOTIFICATION_KINDS, NotificationSettings

from ..api.mfa.support import (
    aal2_session,
    app_now,
    challenged,
    totp_code,
    unenroll,
    verified_totp,
    verify,
)
from ..api.oauth.conftest import Browser, provider_settings
from ..conftest import api_for
from ..console.conftest import signed_in as console_signed_in
from ..factories import (
    PASSWORD,
    create_user,
    identities,
    later,
    mail_log,
    mail_to,
    make_user,
    sign_in,
    unique_email,
    user_row,
)
from ..support import smtp as smtp_support
from ..support.fake_oauth import GITHUB_ROUTES, FakeProvider

ALL_ON = {"mailer.notifications": NotificationSettings.all_on()}
OCTO = "octo@example.com"


def _sent(app) -> list[tuple[str, str, str]]:
    """(template, recipient, status) of the notifications in the mail log, oldest first."""
    return [(entry.template, entry.recipient, entry.status) for entry in mail_log(app)
            if entry.template in NOTIFICATION_KINDS]


def _body(smtp_server, address: str, count: int = 1) -> tuple[str, str]:
    message = mail_to(smtp_server, address, count)
    return message["Subject"], smtp_support.html_body(message)


# --- identities ----------------------------------------------------------------------------------


@pytest.fixture
def github(servers):
    fake = servers(FakeProvider(GITHUB_ROUTES))
    fake.documents["/api/v3/user"] = {"id": 4242, "login": "octocat", "name": "Octo Cat"}
    fake.documents["/api/v3/user/emails"] = [{"email": OCTO, "verified": True, "primary": True}]
    return fake


@pytest.fixture
def oauth_app(make_mail_app, settings, github):
    def build(**overrides):
        oauth = {**settings.external.oauth, "github": provider_settings(github, "github")}
        providers = {**settings.external.providers, "github": True}
        return make_mail_app(**{"external.oauth": oauth, "external.providers": providers,
                                "security.manual_linking_enabled": True, **overrides})
    return build


def _link_github(app, email: str):
    """GET /user/identities/authorize as ``email``, the provider, back to /callback."""
    token = sign_in(api_for(app), email)["access_token"]
    browser = Browser(app)
    started = browser.client.get(
        "/user/identities/authorize",
        query_string={"provider": "github", "skip_http_redirect": "true"},
        headers={"Authorization": f"Bearer {token}"})
    assert started.status_code == 200, started.get_data(as_text=True)
    answer = browser.callback(browser.at_provider(started.get_json()["url"]))
    assert answer.status_code == 302 and "access_token=" in answer.headers["Location"]
    return token


def test_linking_then_unlinking_an_identity(oauth_app, smtp_server):
    app = oauth_app(**ALL_ON)
    user_id = make_user(app, "pat@example.com", password=PASSWORD, name="Pat")
    token = _link_github(app, "pat@example.com")
    subject, body = _body(smtp_server, "pat@example.com")
    assert subject == "A new sign-in method was linked to your account"
    assert "You can now sign in to your account pat@example.com with github." in body
    assert "If you did not make this change" in body

    github_id = next(i.id for i in identities(app, user_id) if i.provider == "github")
    answer = api_for(app).delete(f"/user/identities/{github_id}", token=token)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    # Told at the address the GitHub identity carried.
    subject, body = _body(smtp_server, OCTO)
    assert subject == "A sign-in method was removed from your account"
    assert "github can no longer be used to sign in" in body
    assert _sent(app) == [("identity_linked", "pat@example.com", "sent"),
                          ("identity_unlinked", OCTO, "sent")]
    assert len(smtp_server.to("pat@example.com")) == 1


def test_unlinking_the_identity_of_the_accounts_address_tells_that_address(oauth_app,
                                                                           smtp_server):
    app = oauth_app(**ALL_ON)
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    token = _link_github(app, "pat@example.com")
    email_identity = next(i.id for i in identities(app, user_id) if i.provider == "email")
    answer = api_for(app).delete(f"/user/identities/{email_identity}", token=token)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    # The account now goes by GitHub's address; the email identity's own address is told.
    assert user_row(app, user_id).email == OCTO
    subject, body = _body(smtp_server, "pat@example.com", 2)
    assert subject == "A sign-in method was removed from your account"
    assert "email can no longer be used to sign in" in body
    assert smtp_server.to(OCTO) == []


def test_signing_in_with_a_provider_that_joins_an_account_tells_its_owner(oauth_app,
                                                                           smtp_server):
    app = oauth_app(**ALL_ON)
    make_user(app, OCTO, password=PASSWORD)
    answer = Browser(app).sign_in(provider="github")
    assert answer.status_code == 302 and "access_token=" in answer.headers["Location"]
    subject, body = _body(smtp_server, OCTO)
    assert subject == "A new sign-in method was linked to your account"
    assert "with github" in body
    # Signing in again with the identity links nothing new.
    assert Browser(app).sign_in(provider="github").status_code == 302
    assert _sent(app) == [("identity_linked", OCTO, "sent")]


def test_a_new_account_from_a_provider_gets_no_notification(oauth_app, smtp_server):
    app = oauth_app(**ALL_ON)
    assert Browser(app).sign_in(provider="github").status_code == 302
    assert user_row(app, OCTO) is not None
    assert _sent(app) == [] and smtp_server.messages == []


def test_an_operator_unlinking_an_identity_tells_the_user(oauth_app, smtp_server):
    app = oauth_app(**ALL_ON)
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    _link_github(app, "pat@example.com")
    github_id = next(i.id for i in identities(app, user_id) if i.provider == "github")
    console = console_signed_in(app)
    answer = console.post(f"/console/users/{user_id}/identities/{github_id}/unlink", {},
                          htmx=True)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert _body(smtp_server, OCTO)[0] == "A sign-in method was removed from your account"


# --- MFA factors ---------------------------------------------------------------------------------


def test_verifying_a_totp_factor_then_unenrolling_it(make_mail_app, smtp_server,
                                                     service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("mfa")
    factor, session = aal2_session(api, app, email)
    subject, body = _body(smtp_server, email)
    assert subject == "A new verification method was added to your account"
    assert f"A totp verification method was added to your account {email}." in body
    # Stepping up again with the same factor is no new factor.
    later(app, 60)
    fresh = sign_in(api, email)["access_token"]
    step = challenged(api, fresh, factor["id"])
    assert verify(api, fresh, factor["id"], step["id"],
                  totp_code(factor["totp"]["secret"], app_now(app))).status_code == 200
    assert len(smtp_server.to(email)) == 1

    assert unenroll(api, session["access_token"], factor["id"]).status_code == 200
    subject, body = _body(smtp_server, email, 2)
    assert subject == "A verification method was removed from your account"
    assert "A totp verification method was removed" in body
    assert _sent(app) == [("mfa_factor_enrolled", email, "sent"),
                          ("mfa_factor_unenrolled", email, "sent")]


def test_an_unfinished_enrolment_removed_is_not_notified(make_mail_app, smtp_server,
                                                         service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("half")
    create_user(api, email, password=PASSWORD)
    token = sign_in(api, email)["access_token"]
    enrolled = api.post("/factors", token=token, json={"factor_type": "totp"})
    assert enrolled.status_code == 200
    assert unenroll(api, token, enrolled.get_json()["id"]).status_code == 200
    assert _sent(app) == [] and smtp_server.messages == []


def test_the_admin_api_and_the_console_removing_factors_tell_the_user(make_mail_app,
                                                                      smtp_server,
                                                                      service_role_token):
    app = make_mail_app(**ALL_ON)
    api = api_for(app, service_role_token)
    email = unique_email("ops")
    first, session = aal2_session(api, app, email)
    second, _ = verified_totp(api, app, session, friendly_name="second")
    user_id = session["user"]["id"]

    removed = api.admin("DELETE", f"/admin/users/{user_id}/factors/{first['id']}")
    assert removed.status_code == 200, removed.get_data(as_text=True)
    assert _body(smtp_server, email, 3)[0] == (
        "A verification method was removed from your account")

    console = console_signed_in(app)
    answer = console.post(f"/console/users/{user_id}/factors/{second['id']}/delete", {},
                          htmx=True)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert _body(smtp_server, email, 4)[0] == (
        "A verification method was removed from your account")
    assert [kind for kind, _, _ in _sent(app)] == [
        "mfa_factor_enrolled", "mfa_factor_enrolled", "mfa_factor_unenrolled",
        "mfa_factor_unenrolled"]


# --- phone numbers -------------------------------------------------------------------------------

OLD_PHONE, NEW_PHONE = "15550001111", "15550002222"


def test_a_phone_change_confirmed_by_its_code(make_mail_app, smtp_server):
    app = make_mail_app(**ALL_ON, **{"external.phone_enabled": True,
                                     "sms.test_otp": {NEW_PHONE: "123456"}})
    user_id = make_user(app, "ph@example.com", phone=OLD_PHONE, password=PASSWORD)
    api = api_for(app)
    token = sign_in(api, "ph@example.com")["access_token"]
    assert api.put("/user", token=token, json={"phone": "+" + NEW_PHONE}).status_code == 200
    # Asking for the change tells nobody; confirming it does.
    assert _sent(app) == []
    verified = api.post("/verify", json={"type": "phone_change", "phone": "+" + NEW_PHONE,
                                         "token": "123456"})
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert user_row(app, user_id).phone == NEW_PHONE

    subject, body = _body(smtp_server, "ph@example.com")
    assert subject == "Your phone number was changed"
    assert f"was changed from {OLD_PHONE} to {NEW_PHONE}." in body
    # The user had a phone identity already: nothing was linked.
    assert _sent(app) == [("phone_changed", "ph@example.com", "sent")]


def test_a_first_phone_under_sms_autoconfirm_also_links_the_phone(make_mail_app, smtp_server,
                                                                  settings):
    app = make_mail_app(**ALL_ON, **{
        "external.phone_enabled": True,
        "sms": dataclasses.replace(settings.sms, autoconfirm=True)})
    user_id = make_user(app, "first@example.com", password=PASSWORD)
    api = api_for(app)
    token = sign_in(api, "first@example.com")["access_token"]
    assert api.put("/user", token=token, json={"phone": "+" + NEW_PHONE}).status_code == 200
    assert user_row(app, user_id).phone == NEW_PHONE

    mail_to(smtp_server, "first@example.com", 2)
    by_subject = {message["Subject"]: smtp_support.html_body(message)
                  for message in smtp_server.to("first@example.com")}
    assert f"was changed to {NEW_PHONE}." in by_subject["Your phone number was changed"]
    assert "with phone." in by_subject["A new sign-in method was linked to your account"]


def test_a_user_without_an_email_is_told_nothing(make_mail_app, smtp_server):
    app = make_mail_app(**ALL_ON, **{"external.phone_enabled": True,
                                     "sms.test_otp": {NEW_PHONE: "123456"}})
    make_user(app, phone=OLD_PHONE, password=PASSWORD)
    api = api_for(app)
    session = api.post("/token?grant_type=password",
                       json={"phone": "+" + OLD_PHONE, "password": PASSWORD}).get_json()
    token = session["access_token"]
    assert api.put("/user", token=token, json={"phone": "+" + NEW_PHONE}).status_code == 200
    assert api.post("/verify", json={"type": "phone_change", "phone": "+" + NEW_PHONE,
                                     "token": "123456"}).status_code == 200
    assert api.put("/user", token=token, json={"password": "another-pass-789"}
                   ).status_code == 200
    assert _sent(app) == [] and smtp_server.messages == []
