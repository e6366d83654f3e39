"""POST /invite (contract section 3, Admin): invitations through a real SMTP server."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry, Identity, MailLogEntry, OneTimeToken, User

from ..conftest import ApiClient, make_jwt, table_rows
from ..support import smtp as smtp_support

SITE = "http://localhost:3000"


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(**{"smtp.host": "127.0.0.1", "smtp.port": smtp_server.port,
                       "smtp.admin_email": "auth@example.com", "mailer.autoconfirm": False,
                       "mailer.subjects": {"invite": "Join us, {{ .Email }}"},
                       "mailer.url_paths": {"invite": "/auth/v1/verify"},
                       "uri_allow_list": ("https://app.example.com/**",)})


@pytest.fixture
def admin(mail_app, service_role_token) -> ApiClient:
    return ApiClient(mail_app.test_client(), service_role_token)


def _sha224(text: str) -> str:
    return hashlib.sha224(text.encode()).hexdigest()


def _user_row(app, email: str) -> User | None:
    rows = table_rows(app, sa.select(User).where(User.email == email))
    return rows[0][0] if rows else None


def _otts(app, user_id) -> list[tuple]:
    return [(row.token_type.value, row.token_hash, row.relates_to) for row in table_rows(
        app, sa.select(OneTimeToken).where(OneTimeToken.user_id == uuid.UUID(str(user_id))))
        for row in row]


def _actions(app) -> list[str]:
    return [row.payload["action"] for row in table_rows(
        app, sa.select(AuditLogEntry.payload).order_by(AuditLogEntry.created_at))]


def _fragment(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment,
                                          keep_blank_values=True).items()}


def _invite(admin: ApiClient, email: str, redirect_to: str | None = None, **body):
    path = "/invite" + (f"?redirect_to={redirect_to}" if redirect_to else "")
    return admin.admin("POST", path, json={"email": email, **body})


# --- who may invite ---------------------------------------------------------------------------


def test_invite_without_a_token_is_401(admin, mail_app, smtp_server):
    response = admin.post("/invite", json={"email": "someone@example.com"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"
    assert _user_row(mail_app, "someone@example.com") is None
    assert smtp_server.messages == []


def test_invite_by_a_user_is_403_not_admin(admin, mail_app, smtp_server):
    token = make_jwt({"sub": str(uuid.uuid4()), "role": "authenticated",
                      "aud": "authenticated", "exp": 4102444800})
    response = admin.post("/invite", token=token, json={"email": "someone@example.com"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "not_admin"
    assert _user_row(mail_app, "someone@example.com") is None
    assert smtp_server.messages == []


# --- a new address ----------------------------------------------------------------------------


def test_invite_creates_a_user_and_mails_the_link(admin, mail_app, smtp_server):
    response = _invite(admin, "New.Person@Example.com",
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
    expected_hash = _sha224("new.person@example.com" + code)
    assert query["token"] == expected_hash

    row = _user_row(mail_app, "new.person@example.com")
    assert str(row.id) == body["id"]
    assert row.encrypted_password == ""
    assert row.invited_at is not None and row.email_confirmed_at is None
    assert row.confirmation_token == expected_hash
    assert row.raw_user_meta_data["full_name"] == "New Person"
    assert _otts(mail_app, row.id) == [
        ("confirmation_token", expected_hash, "new.person@example.com")]
    [identity] = table_rows(mail_app, sa.select(Identity).where(Identity.user_id == row.id))
    assert identity[0].provider == "email" and identity[0].provider_id == str(row.id)
    assert "user_invited" in _actions(mail_app)
    assert "user_signedup" not in _actions(mail_app)


def test_redirect_outside_the_allow_list_becomes_the_site_url(admin, smtp_server):
    assert _invite(admin, "redir@example.com",
                   redirect_to="https://evil.example.net/steal").status_code == 200
    [mail] = smtp_server.wait_for("redir@example.com")
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]
    assert parse_qs(urlsplit(link).query)["redirect_to"] == [SITE]


def test_invite_link_confirms_and_the_invitee_sets_a_password(admin, mail_app, smtp_server):
    invited = _invite(admin, "joiner@example.com",
                      redirect_to="https://app.example.com/welcome").get_json()
    [mail] = smtp_server.wait_for("joiner@example.com")
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]

    response = admin.get(link)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("https://app.example.com/welcome#")
    fragment = _fragment(location)
    assert fragment["type"] == "invite" and fragment["token_type"] == "bearer"
    assert fragment["refresh_token"] and "sb" in fragment

    row = _user_row(mail_app, "joiner@example.com")
    assert row.email_confirmed_at is not None
    assert row.encrypted_password, "an invitee gets a password nobody knows"
    assert row.confirmation_token == ""
    assert _otts(mail_app, row.id) == []
    assert "invite_accepted" in _actions(mail_app)

    session_user = admin.get("/user", token=fragment["access_token"]).get_json()
    assert session_user["id"] == invited["id"]
    assert session_user["user_metadata"]["email_verified"] is True
    # Before choosing a password the invitee cannot log in with any guess.
    assert admin.login("joiner@example.com", "chosen-password-1").status_code == 400
    update = admin.put("/user", token=fragment["access_token"],
                       json={"password": "chosen-password-1"})
    assert update.status_code == 200, update.get_data(as_text=True)
    login = admin.login("joiner@example.com", "chosen-password-1")
    assert login.status_code == 200
    assert login.get_json()["user"]["id"] == invited["id"]
    # The link is spent.
    again = admin.get(link)
    assert again.status_code == 303
    assert _fragment(again.headers["Location"])["error_code"] == "otp_expired"


def test_invite_code_works_with_post_verify(admin, mail_app, smtp_server):
    _invite(admin, "coder@example.com")
    code = smtp_support.code(smtp_server.wait_for("coder@example.com")[0])
    response = admin.post("/verify", json={"type": "invite", "email": "coder@example.com",
                                           "token": code})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["access_token"] and body["user"]["email"] == "coder@example.com"
    assert "email_confirmed_at" in body["user"]
    assert _user_row(mail_app, "coder@example.com").email_confirmed_at is not None


# --- inviting again ---------------------------------------------------------------------------


def test_reinviting_an_unconfirmed_user_replaces_the_link_at_once(admin, mail_app, smtp_server):
    first = _invite(admin, "twice@example.com").get_json()
    second_response = _invite(admin, "twice@example.com", data={"ignored": True})
    assert second_response.status_code == 200, second_response.get_data(as_text=True)
    assert second_response.get_json()["id"] == first["id"]
    mails = smtp_server.wait_for("twice@example.com", count=2)
    assert len(mails) == 2
    old_link, new_link = ([url for url in smtp_support.links(m) if "token=" in url][0]
                          for m in mails)
    assert old_link != new_link
    assert len(table_rows(mail_app, sa.select(User.id).where(
        User.email == "twice@example.com"))) == 1
    row = _user_row(mail_app, "twice@example.com")
    assert len(_otts(mail_app, row.id)) == 1

    stale = admin.get(old_link)
    assert stale.status_code == 303
    assert _fragment(stale.headers["Location"])["error_code"] == "otp_expired"
    assert _user_row(mail_app, "twice@example.com").email_confirmed_at is None
    fresh = admin.get(new_link)
    assert "access_token" in _fragment(fresh.headers["Location"])


def test_inviting_a_confirmed_address_is_422_email_exists(admin, mail_app, smtp_server):
    _invite(admin, "done@example.com")
    code = smtp_support.code(smtp_server.wait_for("done@example.com")[0])
    assert admin.post("/verify", json={"type": "invite", "email": "done@example.com",
                                       "token": code}).status_code == 200
    response = _invite(admin, "DONE@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert len(smtp_server.to("done@example.com")) == 1


def test_inviting_a_signed_up_unconfirmed_user_reuses_the_account(admin, mail_app,
                                                                   smtp_server):
    signed = admin.signup("pending@example.com", "signup-password-1")
    assert signed.status_code == 200
    response = _invite(admin, "pending@example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["id"] == signed.get_json()["id"]
    assert "invited_at" in response.get_json()
    [_, invitation] = smtp_server.wait_for("pending@example.com", count=2)
    assert invitation["Subject"] == "Join us, pending@example.com"


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": "not-an-address"}])
def test_invite_without_a_valid_email_is_400(admin, mail_app, smtp_server, body):
    response = admin.admin("POST", "/invite", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert table_rows(mail_app, sa.select(User.id)) == []
    assert smtp_server.messages == []


def test_invite_with_a_non_object_data_is_400_bad_json(admin, mail_app):
    response = admin.admin("POST", "/invite", json={"email": "x@example.com", "data": [1]})
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_json"
    assert table_rows(mail_app, sa.select(User.id)) == []


def test_invite_of_an_address_held_in_another_audience_is_422(admin, mail_app, smtp_server):
    other = admin.admin("POST", "/invite", json={"email": "aud@example.com"},
                        headers={"X-JWT-AUD": "other-audience"})
    assert other.status_code == 200
    response = _invite(admin, "aud@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert len(table_rows(mail_app, sa.select(User.id))) == 1


def test_admin_may_invite_when_signups_are_disabled(make_app, smtp_server, service_role_token):
    app = make_app(**{"smtp.host": "127.0.0.1", "smtp.port": smtp_server.port,
                      "smtp.admin_email": "auth@example.com", "mailer.autoconfirm": False,
                      "disable_signup": True})
    admin = ApiClient(app.test_client(), service_role_token)
    assert _invite(admin, "closed@example.com").status_code == 200
    assert smtp_server.wait_for("closed@example.com")


# --- SMTP down --------------------------------------------------------------------------------


def test_smtp_refusal_leaves_no_user_behind(admin, mail_app, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Transaction failed"
    response = _invite(admin, "refused@example.com")
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


def test_unreachable_smtp_server_leaves_no_user_behind(make_app, service_role_token):
    app = make_app(**{"smtp.host": "127.0.0.1", "smtp.port": smtp_support.free_port(),
                      "smtp.admin_email": "auth@example.com", "mailer.autoconfirm": False})
    admin = ApiClient(app.test_client(), service_role_token)
    response = _invite(admin, "nowhere@example.com")
    assert response.status_code == 500
    assert response.get_json()["message"] == "Error sending invite email"
    assert table_rows(app, sa.select(User.id)) == []
    [entry] = table_rows(app, sa.select(MailLogEntry.status, MailLogEntry.error))
    assert entry.status == "failed" and entry.error


def test_a_failed_reinvite_keeps_the_previous_link(admin, mail_app, smtp_server):
    _invite(admin, "keep@example.com")
    [mail] = smtp_server.wait_for("keep@example.com")
    [link] = [url for url in smtp_support.links(mail) if "token=" in url]
    smtp_server.reject_with = "451 4.3.0 Try later"
    assert _invite(admin, "keep@example.com").status_code == 500
    smtp_server.reject_with = None
    response = admin.get(link)
    assert "access_token" in _fragment(response.headers["Location"])
