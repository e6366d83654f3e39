"""Email change through PUT /user, secure and not, with links, codes and PKCE (contract §3, §7)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, FlowState, Identity

from ..conftest import ApiClient, api_for, table_rows
from ..factories import (
    PASSWORD,
    create_user,
    fragment,
    link_hash,
    query,
    sign_in,
    token_hash,
    token_hashes,
    user_row,
    verify_link,
)
from ..support import smtp as smtp_support

HALF_WAY = ("Confirmation link accepted. Please proceed to confirm link sent to the other "
            "email")
CHANGE_SETTINGS = {"mailer.subjects": {"email_change": "Change to {{ .NewEmail }}"},
                   "uri_allow_list": ("https://app.example.com/**",)}


@pytest.fixture
def mail_app(make_mail_app):
    return make_mail_app(**CHANGE_SETTINGS)


def _signed_in(api: ApiClient, email: str, password: str = PASSWORD) -> dict:
    """A confirmed user (made by the admin API, no mail) and a password session."""
    create_user(api, email, password=password)
    return sign_in(api, email, password)


def _change(client: ApiClient, session: dict, email: str, path: str = "/user", **body):
    return client.put(path, token=session["access_token"], json={"email": email, **body})


def _assert_applied(app, client: ApiClient, user_id: str, old: str, new: str,
                    password: str = "password-123") -> None:
    row = user_row(app, user_id)
    assert row.email == new
    assert row.email_change == "" and row.email_change_confirm_status == 0
    assert row.email_change_token_new == "" and row.email_change_token_current == ""
    assert row.email_confirmed_at is not None and row.is_anonymous is False
    assert token_hashes(app, user_id) == {}
    [(identity,)] = table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(user_id), Identity.provider == "email"))
    assert identity.email == new and identity.identity_data["email"] == new
    assert identity.identity_data["email_verified"] is True
    assert client.login(new, password).status_code == 200
    assert client.login(old, password).status_code == 400


# --- secure email change (the default) --------------------------------------------------------


def test_secure_change_mails_both_addresses(mail_api, mail_app, smtp_server):
    session = _signed_in(mail_api, "old@example.com")
    response = _change(mail_api, session, "New@Example.com",
                       path="/user?redirect_to=https://app.example.com/changed")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["email"] == "old@example.com" and body["new_email"] == "new@example.com"
    assert "email_change_sent_at" in body

    [to_current] = smtp_server.wait_for("old@example.com")
    [to_new] = smtp_server.wait_for("new@example.com")
    assert to_new["Subject"] == "Change to new@example.com"
    assert to_current["Subject"] == "Change to new@example.com"
    current_code, new_code = smtp_support.code(to_current), smtp_support.code(to_new)
    current_link, new_link = verify_link(to_current), verify_link(to_new)
    assert current_link != new_link
    for link in (current_link, new_link):
        params = query(link)
        assert params["type"] == "email_change"
        assert params["redirect_to"] == "https://app.example.com/changed"

    user_id = session["user"]["id"]
    row = user_row(mail_app, user_id)
    assert row.email_change == "new@example.com"
    assert row.email_change_confirm_status == 0
    assert row.email_change_sent_at is not None
    assert row.email_change_token_current == token_hash("old@example.com", current_code)
    assert row.email_change_token_new == token_hash("new@example.com", new_code)
    assert token_hashes(mail_app, user_id) == {
        "email_change_token_current": (link_hash(query(current_link)["token"]),
                                       "old@example.com"),
        "email_change_token_new": (link_hash(query(new_link)["token"]), "new@example.com")}


@pytest.mark.parametrize("first", ["current", "new"])
def test_secure_change_by_links_needs_both(mail_api, mail_app, smtp_server, first):
    session = _signed_in(mail_api, "links@example.com")
    user_id = session["user"]["id"]
    assert _change(mail_api, session, "links.new@example.com",
                   path="/user?redirect_to=https://app.example.com/changed").status_code == 200
    links = {"current": verify_link(smtp_server.wait_for("links@example.com")[0]),
             "new": verify_link(smtp_server.wait_for("links.new@example.com")[0])}
    second = "new" if first == "current" else "current"

    half = mail_api.get(links[first])
    assert half.status_code == 303
    location = half.headers["Location"]
    assert location.startswith("https://app.example.com/changed#")
    assert fragment(location) == {"message": HALF_WAY, "sb": ""}
    row = user_row(mail_app, user_id)
    assert row.email == "links@example.com" and row.email_change_confirm_status == 1
    assert set(token_hashes(mail_app, user_id)) == {f"email_change_token_{second}"}
    # The same link cannot count twice.
    again = mail_api.get(links[first])
    assert fragment(again.headers["Location"])["error_code"] == "otp_expired"
    assert user_row(mail_app, user_id).email == "links@example.com"

    done = mail_api.get(links[second])
    assert done.status_code == 303
    values = fragment(done.headers["Location"])
    assert values["type"] == "email_change" and values["access_token"]
    me = mail_api.get("/user", token=values["access_token"]).get_json()
    assert me["email"] == "links.new@example.com" and "new_email" not in me
    _assert_applied(mail_app, mail_api, user_id, "links@example.com", "links.new@example.com")
    actions = [p["action"] for (p,) in table_rows(mail_app, sa.select(AuditLogEntry.payload))]
    assert "user_modified" in actions


def test_secure_change_by_codes_needs_both(mail_api, mail_app, smtp_server):
    session = _signed_in(mail_api, "codes@example.com")
    user_id = session["user"]["id"]
    assert _change(mail_api, session, "codes.new@example.com").status_code == 200
    current_code = smtp_support.code(smtp_server.wait_for("codes@example.com")[0])
    new_code = smtp_support.code(smtp_server.wait_for("codes.new@example.com")[0])

    half = mail_api.post("/verify", json={"type": "email_change", "email": "codes@example.com",
                                          "token": current_code})
    assert half.status_code == 200, half.get_data(as_text=True)
    assert half.get_json() == {"msg": HALF_WAY, "code": "200"}
    assert user_row(mail_app, user_id).email_change_confirm_status == 1

    wrong = mail_api.post("/verify", json={"type": "email_change",
                                           "email": "codes.new@example.com",
                                           "token": "000000" if new_code != "000000" else "111111"})
    assert wrong.status_code == 403
    assert wrong.get_json()["code"] == "otp_expired"

    done = mail_api.post("/verify", json={"type": "email_change",
                                          "email": "codes.new@example.com", "token": new_code})
    assert done.status_code == 200, done.get_data(as_text=True)
    body = done.get_json()
    assert body["access_token"] and body["user"]["email"] == "codes.new@example.com"
    _assert_applied(mail_app, mail_api, user_id, "codes@example.com", "codes.new@example.com")


def test_the_session_that_asked_keeps_working_after_the_change(mail_api, mail_app, smtp_server):
    session = _signed_in(mail_api, "keep@example.com")
    assert _change(mail_api, session, "keep.new@example.com").status_code == 200
    for address in ("keep@example.com", "keep.new@example.com"):
        code = smtp_support.code(smtp_server.wait_for(address)[0])
        mail_api.post("/verify", json={"type": "email_change", "email": address, "token": code})
    me = mail_api.get("/user", token=session["access_token"])
    assert me.status_code == 200
    assert me.get_json()["email"] == "keep.new@example.com"


# --- not secure -------------------------------------------------------------------------------


def test_insecure_change_mails_only_the_new_address(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**CHANGE_SETTINGS, **{"mailer.secure_email_change_enabled": False})
    client = api_for(app, service_role_token)
    session = _signed_in(client, "single@example.com")
    user_id = session["user"]["id"]
    assert _change(client, session, "single.new@example.com").status_code == 200
    [mail] = smtp_server.wait_for("single.new@example.com")
    assert smtp_server.to("single@example.com") == []
    assert len(smtp_server.messages) == 1
    row = user_row(app, user_id)
    assert row.email_change_token_current == ""
    assert set(token_hashes(app, user_id)) == {"email_change_token_new"}

    done = client.get(verify_link(mail))
    values = fragment(done.headers["Location"])
    assert values["type"] == "email_change" and values["access_token"]
    _assert_applied(app, client, user_id, "single@example.com", "single.new@example.com")


# --- what is refused or ignored ---------------------------------------------------------------


def test_the_same_email_changes_nothing(mail_api, mail_app, smtp_server):
    session = _signed_in(mail_api, "same@example.com")
    response = _change(mail_api, session, "SAME@example.com")
    assert response.status_code == 200
    assert "new_email" not in response.get_json()
    row = user_row(mail_app, session["user"]["id"])
    assert row.email_change == "" and row.email_change_sent_at is None
    assert token_hashes(mail_app, session["user"]["id"]) == {}
    assert smtp_server.messages == []


def test_a_taken_email_is_422(mail_api, mail_app, smtp_server):
    _signed_in(mail_api, "holder@example.com")
    session = _signed_in(mail_api, "wanter@example.com")
    response = _change(mail_api, session, "Holder@Example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert user_row(mail_app, session["user"]["id"]).email_change == ""
    assert smtp_server.messages == []


def test_an_email_held_by_another_users_identity_is_422(mail_api, mail_app, smtp_server):
    holder = _signed_in(mail_api, "primary@example.com")
    now = datetime.now(timezone.utc)
    with mail_app.app_context():
        identity = Identity(id=uuid.uuid4(), user_id=uuid.UUID(holder["user"]["id"]),
                            provider="github", provider_id="gh-1", created_at=now,
                            updated_at=now)
        identity.set_data({"sub": "gh-1", "email": "octo@example.com"})
        db.session.add(identity)
        db.session.commit()
    session = _signed_in(mail_api, "claimer@example.com")
    response = _change(mail_api, session, "octo@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert smtp_server.messages == []


@pytest.mark.parametrize("email", ["not-an-email", "a@b@example.com", "x" * 250 + "@e.com"])
def test_an_invalid_email_is_400(mail_api, mail_app, smtp_server, email):
    session = _signed_in(mail_api, "valid@example.com")
    response = _change(mail_api, session, email)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert user_row(mail_app, session["user"]["id"]).email_change == ""
    assert smtp_server.messages == []


def test_a_second_change_within_the_frequency_window_is_429(mail_api, mail_app, smtp_server):
    rt = mail_app.extensions["gotrue"]
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    session = _signed_in(mail_api, "often@example.com")
    user_id = session["user"]["id"]
    assert _change(mail_api, session, "often.one@example.com").status_code == 200
    first_token = user_row(mail_app, user_id).email_change_token_new

    rt.clock = lambda: start + timedelta(seconds=20)
    response = _change(mail_api, session, "often.two@example.com")
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == "over_email_send_rate_limit"
    assert body["message"] == ("For security purposes, you can only request this after 40 "
                               "seconds.")
    row = user_row(mail_app, user_id)
    assert row.email_change == "often.one@example.com"
    assert row.email_change_token_new == first_token
    assert smtp_server.to("often.two@example.com") == []

    rt.clock = lambda: start + timedelta(seconds=61)
    assert _change(mail_api, session, "often.two@example.com").status_code == 200
    assert user_row(mail_app, user_id).email_change == "often.two@example.com"
    assert smtp_server.wait_for("often.two@example.com")


def test_an_expired_link_is_refused(mail_api, mail_app, smtp_server):
    rt = mail_app.extensions["gotrue"]
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    session = _signed_in(mail_api, "slow@example.com")
    assert _change(mail_api, session, "slow.new@example.com").status_code == 200
    link = verify_link(smtp_server.wait_for("slow.new@example.com")[0])
    rt.clock = lambda: start + timedelta(seconds=86400 + 1)
    response = mail_api.get(link)
    assert response.status_code == 303
    assert fragment(response.headers["Location"])["error_code"] == "otp_expired"
    assert user_row(mail_app, session["user"]["id"]).email_change_confirm_status == 0


def test_smtp_failure_leaves_no_pending_change(mail_api, mail_app, smtp_server):
    session = _signed_in(mail_api, "down@example.com")
    smtp_server.reject_with = "554 5.7.1 Transaction failed"
    response = _change(mail_api, session, "down.new@example.com", data={"kept": False})
    assert response.status_code == 500
    assert response.get_json()["message"] == "Error sending email change email"
    row = user_row(mail_app, session["user"]["id"])
    assert row.email_change == "" and row.email_change_sent_at is None
    assert "kept" not in (row.raw_user_meta_data or {})
    assert token_hashes(mail_app, session["user"]["id"]) == {}


# --- anonymous users --------------------------------------------------------------------------


def test_anonymous_user_under_autoconfirm_gets_the_email_at_once(make_mail_app, smtp_server,
                                                                 service_role_token):
    app = make_mail_app(**CHANGE_SETTINGS, **{"mailer.autoconfirm": True,
                                              "external.anonymous_users_enabled": True})
    client = api_for(app, service_role_token)
    session = client.post("/signup", json={}).get_json()
    user_id = session["user"]["id"]
    response = _change(client, session, "Anon@Example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["email"] == "anon@example.com" and body["is_anonymous"] is False
    assert "new_email" not in body and "email_confirmed_at" in body
    assert body["user_metadata"]["email"] == "anon@example.com"
    assert body["user_metadata"]["email_verified"] is True
    row = user_row(app, user_id)
    assert row.email == "anon@example.com" and row.email_change == ""
    assert row.is_anonymous is False and row.email_confirmed_at is not None
    assert token_hashes(app, user_id) == {}
    [(identity,)] = table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(user_id)))
    assert identity.provider == "email" and identity.email == "anon@example.com"
    assert smtp_server.messages == []


def test_anonymous_user_without_autoconfirm_confirms_one_link(make_mail_app, smtp_server,
                                                              service_role_token):
    app = make_mail_app(**CHANGE_SETTINGS, **{"external.anonymous_users_enabled": True})
    client = api_for(app, service_role_token)
    session = client.post("/signup", json={}).get_json()
    user_id = session["user"]["id"]
    response = _change(client, session, "anon2@example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["is_anonymous"] is True
    # No current address: only the new one is asked, and one confirmation applies it.
    [mail] = smtp_server.wait_for("anon2@example.com")
    assert len(smtp_server.messages) == 1
    done = client.post("/verify", json={"type": "email_change", "email": "anon2@example.com",
                                        "token": smtp_support.code(mail)})
    assert done.status_code == 200, done.get_data(as_text=True)
    user = done.get_json()["user"]
    assert user["email"] == "anon2@example.com" and user["is_anonymous"] is False
    assert [i["provider"] for i in user["identities"]] == ["email"]
    assert user["app_metadata"]["providers"] == ["email"]
    row = user_row(app, user_id)
    assert row.is_anonymous is False and row.email_confirmed_at is not None


# --- PKCE -------------------------------------------------------------------------------------


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_pkce_email_change(mail_api, mail_app, smtp_server):
    verifier, challenge = _pkce_pair()
    session = _signed_in(mail_api, "pkce@example.com")
    user_id = session["user"]["id"]
    response = _change(mail_api, session, "pkce.new@example.com",
                       path="/user?redirect_to=https://app.example.com/cb",
                       code_challenge=challenge, code_challenge_method="s256")
    assert response.status_code == 200, response.get_data(as_text=True)
    [(flow,)] = table_rows(mail_app, sa.select(FlowState).where(
        FlowState.user_id == uuid.UUID(user_id)))
    assert flow.authentication_method == "email_change"
    assert flow.code_challenge == challenge and flow.auth_code_issued_at is None
    row = user_row(mail_app, user_id)
    assert row.email_change_token_new.startswith("pkce_")
    assert row.email_change_token_current.startswith("pkce_")

    current_link = verify_link(smtp_server.wait_for("pkce@example.com")[0])
    new_link = verify_link(smtp_server.wait_for("pkce.new@example.com")[0])
    assert query(current_link)["token"].startswith("pkce_")
    half = mail_api.get(current_link)
    assert half.status_code == 303
    # PKCE flows repeat the message in the query.
    assert fragment(half.headers["Location"])["message"] == HALF_WAY
    assert query(half.headers["Location"])["message"] == HALF_WAY

    done = mail_api.get(new_link)
    assert done.status_code == 303
    location = done.headers["Location"]
    assert location.startswith("https://app.example.com/cb?")
    auth_code = query(location)["code"]
    assert auth_code == flow.auth_code
    assert user_row(mail_app, user_id).email == "pkce.new@example.com"

    wrong = mail_api.post("/token?grant_type=pkce",
                          json={"auth_code": auth_code, "code_verifier": "x" * 50})
    assert wrong.status_code == 400
    assert wrong.get_json()["code"] == "bad_code_verifier"
    exchanged = mail_api.post("/token?grant_type=pkce",
                              json={"auth_code": auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)
    assert exchanged.get_json()["user"]["email"] == "pkce.new@example.com"
    assert table_rows(mail_app, sa.select(FlowState.id)) == []
    reused = mail_api.post("/token?grant_type=pkce",
                           json={"auth_code": auth_code, "code_verifier": verifier})
    assert reused.status_code == 404
    assert reused.get_json()["code"] == "flow_state_not_found"


def test_pkce_email_change_codes_still_give_a_session(mail_api, mail_app, smtp_server):
    _, challenge = _pkce_pair()
    session = _signed_in(mail_api, "pkcecode@example.com")
    assert _change(mail_api, session, "pkcecode.new@example.com", code_challenge=challenge,
                   code_challenge_method="S256").status_code == 200
    for address in ("pkcecode@example.com", "pkcecode.new@example.com"):
        code = smtp_support.code(smtp_server.wait_for(address)[0])
        response = mail_api.post("/verify", json={"type": "email_change", "email": address,
                                                  "token": code})
        assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["access_token"]
    assert response.get_json()["user"]["email"] == "pkcecode.new@example.com"


def test_half_pkce_parameters_are_400(mail_api, mail_app, smtp_server):
    session = _signed_in(mail_api, "halfpkce@example.com")
    response = _change(mail_api, session, "halfpkce.new@example.com",
                       code_challenge="a" * 43)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert user_row(mail_app, session["user"]["id"]).email_change == ""
    assert smtp_server.messages == []
