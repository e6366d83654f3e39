"""POST /invite (contract section 3, Admin): invitations through a real SMTP server."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import Identity, MailLogEntry, OneTimeToken, User

from ..conftest import ApiClient, api_for, make_jwt, smtp_settings, table_rows
from ..factories import (
    audit_actions,
    fragment,
    link_hash,
    token_hash,
    token_hashes,
    user_row,
)
from ..support import smtp as smtp_support

SITE = "http://localhost:3000"


@pytest.fixture
def mail_app(make_mail_app):
    return make_mail_app(**{"mailer.subjects": {"invite": "Join us, {{ .Email }}"},
                            "mailer.url_paths": {"invite": "/auth/v1/verify"},
                            "uri_allow_list": ("https://app.example.com/**",)})


def _invite(api: ApiClient, email: str, redirect_to: str | None = None, **body):
    path = "/invite" + (f"?redirect_to={redirect_to}" if redirect_to else "")
    return api.admin("POST", path, json={"email": email, **body})


# --- who may invite ---------------------------------------------------------------------------


def test_invite_without_a_token_is_401(mail_api, mail_app, smtp_server):
    response = mail_api.post("/invite", json={"email": "someone@example.com"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"
    assert user_row(mail_app, "someone@example.com") is None
    assert smtp_server.messages == []


def test_invite_by_a_user_is_403_not_admin(mail_api, mail_app, smtp_server):
    token = make_jwt({"sub": str(uuid.uuid4()), "role": "authenticated",
                      "aud": "authenticated", "exp": 4102444800})
    response = mail_api.post("/invite", token=token, json={"email": "someone@example.com"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "not_admin"
    assert user_row(mail_app, "someone@example.com") is None
    assert smtp_server.messages == []


# --- a new address ----------------------------------------------------------------------------


def test_invite_creates_a_user_and_mails_the_link(mail_api, mail_app, smtp_server):
    response = _invite(mail_api, "New.Person@Example.com",
                       redirect_to="https://app.example.com/welcome",
                       data={"full_name": "New Person", "plan": "pro"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["email"] == "new.person@example.com"
    assert "invited_at" in body and "confirmation_sent_at" in body
    assert "email_confirmed_at" not in body and "confirmed_at" not in body
    assert body["user_metadata"]["full_name"] == "New Person"
    assert body["user_metadata"]["plan"] == "pro"
    assert [i["provider"] for i in body["identities"]] == ["email"]
    assert body["identities"][0]["identity_data"]["email"] == "new.person@example.com"
    assert body["app_metadata"] == {"provider": "email", "providers": ["email"]}

    [mail] = smtp_server.wait_for("new.person@example.com")
    assert mail["Subject"] == "Join us, new.person@example.com"
    assert "auth@example.com" in mail["From"]
    code = smtp_support.code(mail)
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://localhost:9999/auth/v1/verify"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["type"] == "invite"
    assert query["redirect_to"] == "https://app.example.com/welcome"
    expected_hash = token_hash("new.person@example.com", code)
    assert len(query["token"]) == 56

    row = user_row(mail_app, "new.person@example.com")
    assert str(row.id) == body["id"]
    assert row.encrypted_password == ""
    assert row.invited_at is not None and row.email_confirmed_at is None
    assert row.confirmation_token == expected_hash
    assert row.raw_user_meta_data["full_name"] == "New Person"
    assert token_hashes(mail_app, row.id) == {
        "confirmation_token": (link_hash(query["token"]), "new.person@example.com")}
    [identity] = table_rows(mail_app, sa.select(Identity).where(Identity.user_id == row.id))
    assert identity[0].provider == "email" and identity[0].provider_id == str(row.id)
    assert "user_invited" in audit_actions(mail_app)
    assert "user_signedup" not in audit_actions(mail_app)


def test_redirect_outside_the_allow_list_becomes_the_site_url(mail_api, smtp_server):
    assert _invite(mail_api, "redir@example.com",
                   redirect_to="https://evil.example.net/steal").status_code == 200
    [mail] = smtp_server.wait_for("redir@example.com")
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]
    assert parse_qs(urlsplit(link).query)["redirect_to"] == [SITE]


def test_invite_link_confirms_and_the_invitee_sets_a_password(mail_api, mail_app, smtp_server):
    invited = _invite(mail_api, "joiner@example.com",
                      redirect_to="https://app.example.com/welcome").get_json()
    [mail] = smtp_server.wait_for("joiner@example.com")
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]

    response = mail_api.get(link)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("https://app.example.com/welcome#")
    values = fragment(location)
    assert values["type"] == "invite" and values["token_type"] == "bearer"
    assert values["refresh_token"] and "sb" in values

    row = user_row(mail_app, "joiner@example.com")
    assert row.email_confirmed_at is not None
    assert row.encrypted_password, "an invitee gets a password nobody knows"
    assert row.confirmation_token == ""
    assert token_hashes(mail_app, row.id) == {}
    assert "invite_accepted" in audit_actions(mail_app)

    session_user = mail_api.get("/user", token=values["access_token"]).get_json()
    assert session_user["id"] == invited["id"]
    assert session_user["user_metadata"]["email_verified"] is True
    # Before choosing a password the invitee cannot log in with any guess.
    assert mail_api.login("joiner@example.com", "chosen-password-1").status_code == 400
    update = mail_api.put("/user", token=values["access_token"],
                          json={"password": "chosen-password-1"})
    assert update.status_code == 200, update.get_data(as_text=True)
    login = mail_api.login("joiner@example.com", "chosen-password-1")
    assert login.status_code == 200
    assert login.get_json()["user"]["id"] == invited["id"]
    # The link is spent.
    again = mail_api.get(link)
    assert again.status_code == 303
    assert fragment(again.headers["Location"])["error_code"] == "otp_expired"


def test_invite_code_works_with_post_verify(mail_api, mail_app, smtp_server):
    _invite(mail_api, "coder@example.com")
    code = smtp_support.code(smtp_server.wait_for("coder@example.com")[0])
    response = mail_api.post("/verify", json={"type": "invite", "email": "coder@example.com",
                                              "token": code})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["access_token"] and body["user"]["email"] == "coder@example.com"
    assert "email_confirmed_at" in body["user"]
    assert user_row(mail_app, "coder@example.com").email_confirmed_at is not None


# --- inviting again ---------------------------------------------------------------------------


def test_reinviting_an_unconfirmed_user_replaces_the_link_at_once(mail_api, mail_app, smtp_server):
    first = _invite(mail_api, "twice@example.com").get_json()
    second_response = _invite(mail_api, "twice@example.com", data={"ignored": True})
    assert second_response.status_code == 200, second_response.get_data(as_text=True)
    assert second_response.get_json()["id"] == first["id"]
    mails = smtp_server.wait_for("twice@example.com", count=2)
    assert len(mails) == 2
    old_link, new_link = ([url for url in smtp_support.links(m) if "token=" in url][0]
                          for m in mails)
    assert old_link != new_link
    assert len(table_rows(mail_app, sa.select(User.id).where(
        User.email == "twice@example.com"))) == 1
    row = user_row(mail_app, "twice@example.com")
    assert len(token_hashes(mail_app, row.id)) == 1

    stale = mail_api.get(old_link)
    assert stale.status_code == 303
    assert fragment(stale.headers["Location"])["error_code"] == "otp_expired"
    assert user_row(mail_app, "twice@example.com").email_confirmed_at is None
    fresh = mail_api.get(new_link)
    assert "access_token" in fragment(fresh.headers["Location"])


def test_inviting_a_confirmed_address_is_422_email_exists(mail_api, mail_app, smtp_server):
    _invite(mail_api, "done@example.com")
    code = smtp_support.code(smtp_server.wait_for("done@example.com")[0])
    assert mail_api.post("/verify", json={"type": "invite", "email": "done@example.com",
                                          "token": code}).status_code == 200
    response = _invite(mail_api, "DONE@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert len(smtp_server.to("done@example.com")) == 1


def test_inviting_a_signed_up_unconfirmed_user_reuses_the_account(mail_api, mail_app, smtp_server):
    signed = mail_api.signup("pending@example.com", "signup-password-1")
    assert signed.status_code == 200
    response = _invite(mail_api, "pending@example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["id"] == signed.get_json()["id"]
    assert "invited_at" in response.get_json()
    [_, invitation] = smtp_server.wait_for("pending@example.com", count=2)
    assert invitation["Subject"] == "Join us, pending@example.com"


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": "not-an-address"}])
def test_invite_without_a_valid_email_is_400(mail_api, mail_app, smtp_server, body):
    response = mail_api.admin("POST", "/invite", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert table_rows(mail_app, sa.select(User.id)) == []
    assert smtp_server.messages == []


def test_invite_with_a_non_object_data_is_400_bad_json(mail_api, mail_app):
    response = mail_api.admin("POST", "/invite", json={"email": "x@example.com", "data": [1]})
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_json"
    assert table_rows(mail_app, sa.select(User.id)) == []


def test_invite_of_an_address_held_in_another_audience_is_422(mail_api, mail_app, smtp_server):
    other = mail_api.admin("POST", "/invite", json={"email": "aud@example.com"},
                           headers={"X-JWT-AUD": "other-audience"})
    assert other.status_code == 200
    response = _invite(mail_api, "aud@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert len(table_rows(mail_app, sa.select(User.id))) == 1


def test_admin_may_invite_when_signups_are_disabled(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(disable_signup=True)
    api = api_for(app, service_role_token)
    assert _invite(api, "closed@example.com").status_code == 200
    assert smtp_server.wait_for("closed@example.com")


# --- SMTP down --------------------------------------------------------------------------------


def test_smtp_refusal_leaves_no_user_behind(mail_api, mail_app, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Transaction failed"
    response = _invite(mail_api, "refused@example.com")
    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "unexpected_failure"
    assert body["message"] == "Error sending invite email"
    assert table_rows(mail_app, sa.select(User.id)) == []
    assert table_rows(mail_app, sa.select(Identity.id)) == []
    assert table_rows(mail_app, sa.select(OneTimeToken.id)) == []
    [entry] = table_rows(mail_app, sa.select(MailLogEntry))
    assert entry[0].status == "failed" and entry[0].template == "invite"
    assert entry[0].recipient == "refused@example.com"
    assert "554" in entry[0].error


def test_unreachable_smtp_server_leaves_no_user_behind(make_app, service_role_token, closed_port):
    app = make_app(**smtp_settings(closed_port))
    api = api_for(app, service_role_token)
    response = _invite(api, "nowhere@example.com")
    assert response.status_code == 500
    assert response.get_json()["message"] == "Error sending invite email"
    assert table_rows(app, sa.select(User.id)) == []
    [entry] = table_rows(app, sa.select(MailLogEntry.status, MailLogEntry.error))
    assert entry.status == "failed" and entry.error


def test_a_failed_reinvite_keeps_the_previous_link(mail_api, mail_app, smtp_server):
    _invite(mail_api, "keep@example.com")
    [mail] = smtp_server.wait_for("keep@example.com")
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]
    smtp_server.reject_with = "451 4.3.0 Try later"
    assert _invite(mail_api, "keep@example.com").status_code == 500
    smtp_server.reject_with = None
    response = mail_api.get(link)
    assert "access_token" in fragment(response.headers["Location"])
