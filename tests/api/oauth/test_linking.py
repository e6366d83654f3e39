"""Which account an external sign-in lands in (spec oauth-sso.md 1.4) and invites accepted
through a provider (1.5)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import Identity, User

from ...conftest import smtp_settings
from ...factories import audit_actions, identities, make_user, mail_to, update_user, user_row
from .conftest import Browser, entities, fragment, query

WELCOME = "http://localhost:3000/welcome"


def _refused(answer, code: str, description: str) -> None:
    assert answer.status_code == 302
    expected = {"error": "access_denied", "error_code": code, "error_description": description}
    assert query(answer.headers["Location"]) == expected
    assert fragment(answer.headers["Location"]) == {**expected, "sb": ""}


def test_a_verified_email_links_to_the_existing_account(oauth_app, github):
    app = oauth_app({"github": github})
    user_id = make_user(app, "octo@example.com", password="password-123")
    answer = Browser(app).sign_in(provider="github")
    assert "access_token" in fragment(answer.headers["Location"])
    assert [i.provider for i in identities(app, user_id)] == ["email", "github"]
    user = user_row(app, user_id)
    assert user.raw_app_meta_data["providers"] == ["email", "github"]
    assert user.raw_user_meta_data["user_name"] == "octocat"
    # A confirmed account keeps its password.
    assert user.encrypted_password
    assert sorted(audit_actions(app, user_id)) == ["identity_linked", "login"]
    assert len(entities(app, sa.select(User))) == 1


def test_signing_in_again_replaces_the_identity_data(oauth_app, github):
    app = oauth_app({"github": github})
    Browser(app).sign_in(provider="github")
    github.documents["/api/v3/user"]["name"] = "Renamed Cat"
    Browser(app).sign_in(provider="github")
    (identity,) = entities(app, sa.select(Identity))
    assert identity.identity_data["name"] == "Renamed Cat"
    (user,) = entities(app, sa.select(User))
    assert user.raw_user_meta_data["name"] == "Renamed Cat"


def test_an_unverified_email_never_links_and_the_new_account_waits_for_confirmation(
        oauth_app, github, smtp_server):
    github.documents["/api/v3/user/emails"] = [
        {"email": "victim@example.com", "verified": False, "primary": True}]
    app = oauth_app({"github": github}, **smtp_settings(smtp_server.port))
    victim = make_user(app, "victim@example.com", password="password-123")
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _refused(answer, "provider_email_needs_verification",
             "Unverified email with github. Verify the email with github in order to sign in")
    # The address belongs to someone else: the new account is created without it.
    assert [i.provider for i in identities(app, victim)] == ["email"]
    (created,) = entities(app, sa.select(User).where(User.id != victim))
    assert created.email is None and created.email_confirmed_at is None


def test_an_unverified_new_email_gets_a_confirmation_mail(oauth_app, github, smtp_server):
    github.documents["/api/v3/user/emails"] = [
        {"email": "new@example.com", "verified": False, "primary": True}]
    app = oauth_app({"github": github}, **smtp_settings(smtp_server.port))
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _refused(answer, "provider_email_needs_verification",
             "Unverified email with github. A confirmation email has been sent to your github "
             "email")
    (user,) = entities(app, sa.select(User))
    assert user.email == "new@example.com" and user.email_confirmed_at is None
    message = mail_to(smtp_server, "new@example.com")
    assert "redirect_to=" in str(message)


def test_unverified_sign_ins_can_be_allowed(oauth_app, github):
    github.documents["/api/v3/user/emails"] = [
        {"email": "new@example.com", "verified": False, "primary": True}]
    app = oauth_app({"github": github}, **{"external.allow_unverified_email_sign_ins": True})
    answer = Browser(app).sign_in(provider="github")
    assert "access_token" in fragment(answer.headers["Location"])
    (user,) = entities(app, sa.select(User))
    assert user.email_confirmed_at is None


def test_an_unconfirmed_password_account_is_taken_over_by_the_verified_provider(
        oauth_app, github):
    app = oauth_app({"github": github})
    squatter = make_user(app, "octo@example.com", password="password-123", confirmed=False)
    Browser(app).sign_in(provider="github")
    user = user_row(app, squatter)
    assert user.email_confirmed_at is not None
    # Whoever registered the address without proving it loses the password and the identity.
    assert not user.encrypted_password
    assert [i.provider for i in identities(app, squatter)] == ["github"]
    assert user.raw_app_meta_data["providers"] == ["github"]


def test_a_linking_domain_keeps_the_provider_apart(oauth_app, github):
    app = oauth_app({"github": github}, **{"external.linking_domains": {"github": "gh"}})
    existing = make_user(app, "octo@example.com", password="password-123")
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    assert [i.provider for i in identities(app, existing)] == ["email"]
    # The separate account shares the address (on MariaDB too: migration 0016).
    assert "access_token" in fragment(answer.headers["Location"])
    (separate,) = entities(app, sa.select(User).where(User.id != existing))
    assert separate.is_sso_user is True and separate.email == "octo@example.com"


def test_two_accounts_with_the_email_in_one_domain_are_an_error(oauth_app, github):
    app = oauth_app({"github": github})
    first = make_user(app, "one@example.com", providers=())
    second = make_user(app, "two@example.com", providers=())
    with app.app_context():
        for user_id, provider in ((first, "gitlab"), (second, "google")):
            identity = Identity(user_id=user_id, provider=provider, provider_id=str(user_id))
            identity.set_data({"email": "octo@example.com"})
            db.session.add(identity)
        db.session.commit()
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    values = query(answer.headers["Location"])
    assert (values["error"], values["error_code"]) == ("server_error", "unexpected_failure")
    assert values["error_description"] == (
        "Multiple accounts with the same email address in the same linking domain detected: "
        "default")
    assert entities(app, sa.select(Identity).where(Identity.provider == "github")) == []


def test_signups_can_be_disabled(oauth_app, github):
    app = oauth_app({"github": github}, disable_signup=True)
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _refused(answer, "signup_disabled", "Signups not allowed for this instance")
    assert entities(app, sa.select(User)) == []


def test_a_banned_user_is_refused(oauth_app, github):
    app = oauth_app({"github": github})
    user_id = make_user(app, "octo@example.com")
    rt = app.extensions["gotrue"]
    update_user(app, user_id, banned_until=rt.now() + timedelta(hours=1))
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _refused(answer, "user_banned", "User is banned")
    assert [i.provider for i in identities(app, user_id)] == ["email"]


def _invite(api, email: str) -> str:
    answer = api.admin("POST", "/admin/generate_link", json={"type": "invite", "email": email})
    assert answer.status_code == 200, answer.get_json()
    link = answer.get_json()["action_link"]
    return parse_qs(urlsplit(link).query)["token"][0]


def test_an_invite_is_accepted_through_the_provider(oauth_app, github, service_role_token):
    from ...conftest import api_for
    github.documents["/api/v3/user/emails"] = [
        {"email": "invitee@example.com", "verified": False, "primary": True}]
    app = oauth_app({"github": github})
    token = _invite(api_for(app, service_role_token), "invitee@example.com")
    answer = Browser(app).sign_in(provider="github", invite_token=token)
    assert "access_token" in fragment(answer.headers["Location"])
    user = user_row(app, "invitee@example.com")
    assert user.email_confirmed_at is not None
    assert user.raw_app_meta_data["provider"] == "github"
    assert [i.provider for i in identities(app, user.id)] == ["github"]
    assert "invite_accepted" in audit_actions(app, user.id)


def test_an_invite_for_another_email_is_refused(oauth_app, github, service_role_token):
    from ...conftest import api_for
    app = oauth_app({"github": github})
    token = _invite(api_for(app, service_role_token), "someone@example.com")
    answer = Browser(app).sign_in(provider="github", invite_token=token, redirect_to=WELCOME)
    values = query(answer.headers["Location"])
    assert (values["error"], values["error_code"]) == ("invalid_request", "validation_failed")
    assert values["error_description"] == (
        "Invited email does not match emails from external provider")
    assert user_row(app, "someone@example.com").email_confirmed_at is None
