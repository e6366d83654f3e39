"""Email change through PUT /user, secure and not, with links, codes and PKCE (contract §3, §7)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, FlowState, Identity, OneTimeToken, User

from ..conftest import ApiClient, table_rows
from ..support import smtp as smtp_support

HALF_WAY = ("Confirmation link accepted. Please proceed to confirm link sent to the other "
            "email")


def _mail_settings(smtp_server, **extra) -> dict:
    return {"smtp.host": "127.0.0.1", "smtp.port": smtp_server.port,
            "smtp.admin_email": "auth@example.com", "mailer.autoconfirm": False,
            "mailer.subjects": {"email_change": "Change to {{ .NewEmail }}"},
            "uri_allow_list": ("https://app.example.com/**",), **extra}


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(**_mail_settings(smtp_server))


@pytest.fixture
def client(mail_app, service_role_token) -> ApiClient:
    return ApiClient(mail_app.test_client(), service_role_token)


def _sha224(text: str) -> str:
    return hashlib.sha224(text.encode()).hexdigest()


def _signed_in(client: ApiClient, email: str, password: str = "password-123") -> dict:
    """A confirmed user (made by the admin API, no mail) and a password session."""
    created = client.admin("POST", "/admin/users", json={
        "email": email, "password": password, "email_confirm": True})
    assert created.status_code == 200, created.get_data(as_text=True)
    login = client.login(email, password)
    assert login.status_code == 200, login.get_data(as_text=True)
    return login.get_json()


def _user_row(app, user_id: str) -> User:
    return table_rows(app, sa.select(User).where(User.id == uuid.UUID(user_id)))[0][0]


def _otts(app, user_id: str) -> dict:
    return {row.token_type.value: (row.token_hash, row.relates_to) for (row,) in table_rows(
        app, sa.select(OneTimeToken).where(OneTimeToken.user_id == uuid.UUID(user_id)))}


def _link(message) -> str:
    [link] = [url for url in smtp_support.links(message) if "token=" in url]
    return link


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def _fragment(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment,
                                          keep_blank_values=True).items()}


def _change(client: ApiClient, session: dict, email: str, path: str = "/user", **body):
    return client.put(path, token=session["access_token"], json={"email": email, **body})


def _assert_applied(app, client: ApiClient, user_id: str, old: str, new: str,
                    password: str = "password-123") -> None:
    row = _user_row(app, user_id)
    assert row.email == new
    assert row.email_change == "" and row.email_change_confirm_status == 0
    assert row.email_change_token_new == "" and row.email_change_token_current == ""
    assert row.email_confirmed_at is not None and row.is_anonymous is False
    assert _otts(app, user_id) == {}
    [(identity,)] = table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(user_id), Identity.provider == "email"))
    assert identity.email == new and identity.identity_data["email"] == new
    assert identity.identity_data["email_verified"] is True
    assert client.login(new, password).status_code == 200
    assert client.login(old, password).status_code == 400


# --- secure email change (the default) --------------------------------------------------------


def test_secure_change_mails_both_addresses(client, mail_app, smtp_server):
    session = _signed_in(client, "old@example.com")
    response = _change(client, session, "New@Example.com",
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
    current_link, new_link = _link(to_current), _link(to_new)
    assert current_link != new_link
    for link in (current_link, new_link):
        query = _query(link)
        assert query["type"] == "email_change"
        assert query["redirect_to"] == "https://app.example.com/changed"

    user_id = session["user"]["id"]
    row = _user_row(mail_app, user_id)
    assert row.email_change == "new@example.com"
    assert row.email_change_confirm_status == 0
    assert row.email_change_sent_at is not None
    assert row.email_change_token_current == _sha224("old@example.com" + current_code)
    assert row.email_change_token_new == _sha224("new@example.com" + new_code)
    assert _query(current_link)["token"] == row.email_change_token_current
    assert _query(new_link)["token"] == row.email_change_token_new
    assert _otts(mail_app, user_id) == {
        "email_change_token_current": (row.email_change_token_current, "old@example.com"),
        "email_change_token_new": (row.email_change_token_new, "new@example.com")}


@pytest.mark.parametrize("first", ["current", "new"])
def test_secure_change_by_links_needs_both(client, mail_app, smtp_server, first):
    session = _signed_in(client, "links@example.com")
    user_id = session["user"]["id"]
    assert _change(client, session, "links.new@example.com",
                   path="/user?redirect_to=https://app.example.com/changed").status_code == 200
    links = {"current": _link(smtp_server.wait_for("links@example.com")[0]),
             "new": _link(smtp_server.wait_for("links.new@example.com")[0])}
    second = "new" if first == "current" else "current"

    half = client.get(links[first])
    assert half.status_code == 303
    location = half.headers["Location"]
    assert location.startswith("https://app.example.com/changed#")
    assert _fragment(location) == {"message": HALF_WAY, "sb": ""}
    row = _user_row(mail_app, user_id)
    assert row.email == "links@example.com" and row.email_change_confirm_status == 1
    assert set(_otts(mail_app, user_id)) == {f"email_change_token_{second}"}
    # The same link cannot count twice.
    again = client.get(links[first])
    assert _fragment(again.headers["Location"])["error_code"] == "otp_expired"
    assert _user_row(mail_app, user_id).email == "links@example.com"

    done = client.get(links[second])
    assert done.status_code == 303
    fragment = _fragment(done.headers["Location"])
    assert fragment["type"] == "email_change" and fragment["access_token"]
    me = client.get("/user", token=fragment["access_token"]).get_json()
    assert me["email"] == "links.new@example.com" and "new_email" not in me
    _assert_applied(mail_app, client, user_id, "links@example.com", "links.new@example.com")
    actions = [p["action"] for (p,) in table_rows(mail_app, sa.select(AuditLogEntry.payload))]
    assert "user_modified" in actions


def test_secure_change_by_codes_needs_both(client, mail_app, smtp_server):
    session = _signed_in(client, "codes@example.com")
    user_id = session["user"]["id"]
    assert _change(client, session, "codes.new@example.com").status_code == 200
    current_code = smtp_support.code(smtp_server.wait_for("codes@example.com")[0])
    new_code = smtp_support.code(smtp_server.wait_for("codes.new@example.com")[0])

    half = client.post("/verify", json={"type": "email_change", "email": "codes@example.com",
                                        "token": current_code})
    assert half.status_code == 200, half.get_data(as_text=True)
    assert half.get_json() == {"msg": HALF_WAY, "code": "200"}
    assert _user_row(mail_app, user_id).email_change_confirm_status == 1

    wrong = client.post("/verify", json={"type": "email_change",
                                         "email": "codes.new@example.com",
                                         "token": "000000" if new_code != "000000" else "111111"})
    assert wrong.status_code == 403
    assert wrong.get_json()["code"] == "otp_expired"

    done = client.post("/verify", json={"type": "email_change",
                                        "email": "codes.new@example.com", "token": new_code})
    assert done.status_code == 200, done.get_data(as_text=True)
    body = done.get_json()
    assert body["access_token"] and body["user"]["email"] == "codes.new@example.com"
    _assert_applied(mail_app, client, user_id, "codes@example.com", "codes.new@example.com")


def test_the_session_that_asked_keeps_working_after_the_change(client, mail_app, smtp_server):
    session = _signed_in(client, "keep@example.com")
    assert _change(client, session, "keep.new@example.com").status_code == 200
    for address in ("keep@example.com", "keep.new@example.com"):
        code = smtp_support.code(smtp_server.wait_for(address)[0])
        client.post("/verify", json={"type": "email_change", "email": address, "token": code})
    me = client.get("/user", token=session["access_token"])
    assert me.status_code == 200
    assert me.get_json()["email"] == "keep.new@example.com"


# --- not secure -------------------------------------------------------------------------------


def test_insecure_change_mails_only_the_new_address(make_app, smtp_server, service_role_token):
    app = make_app(**_mail_settings(smtp_server,
                                    **{"mailer.secure_email_change_enabled": False}))
    client = ApiClient(app.test_client(), service_role_token)
    session = _signed_in(client, "single@example.com")
    user_id = session["user"]["id"]
    assert _change(client, session, "single.new@example.com").status_code == 200
    [mail] = smtp_server.wait_for("single.new@example.com")
    assert smtp_server.to("single@example.com") == []
    assert len(smtp_server.messages) == 1
    row = _user_row(app, user_id)
    assert row.email_change_token_current == ""
    assert set(_otts(app, user_id)) == {"email_change_token_new"}

    done = client.get(_link(mail))
    fragment = _fragment(done.headers["Location"])
    assert fragment["type"] == "email_change" and fragment["access_token"]
    _assert_applied(app, client, user_id, "single@example.com", "single.new@example.com")


# --- what is refused or ignored ---------------------------------------------------------------


def test_the_same_email_changes_nothing(client, mail_app, smtp_server):
    session = _signed_in(client, "same@example.com")
    response = _change(client, session, "SAME@example.com")
    assert response.status_code == 200
    assert "new_email" not in response.get_json()
    row = _user_row(mail_app, session["user"]["id"])
    assert row.email_change == "" and row.email_change_sent_at is None
    assert _otts(mail_app, session["user"]["id"]) == {}
    assert smtp_server.messages == []


def test_a_taken_email_is_422(client, mail_app, smtp_server):
    _signed_in(client, "holder@example.com")
    session = _signed_in(client, "wanter@example.com")
    response = _change(client, session, "Holder@Example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert _user_row(mail_app, session["user"]["id"]).email_change == ""
    assert smtp_server.messages == []


def test_an_email_held_by_another_users_identity_is_422(client, mail_app, smtp_server):
    holder = _signed_in(client, "primary@example.com")
    now = datetime.now(timezone.utc)
    with mail_app.app_context():
        identity = Identity(id=uuid.uuid4(), user_id=uuid.UUID(holder["user"]["id"]),
                            provider="github", provider_id="gh-1", created_at=now,
                            updated_at=now)
        identity.set_data({"sub": "gh-1", "email": "octo@example.com"})
        db.session.add(identity)
        db.session.commit()
    session = _signed_in(client, "claimer@example.com")
    response = _change(client, session, "octo@example.com")
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"
    assert smtp_server.messages == []


@pytest.mark.parametrize("email", ["not-an-email", "a@b@example.com", "x" * 250 + "@e.com"])
def test_an_invalid_email_is_400(client, mail_app, smtp_server, email):
    session = _signed_in(client, "valid@example.com")
    response = _change(client, session, email)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert _user_row(mail_app, session["user"]["id"]).email_change == ""
    assert smtp_server.messages == []


def test_a_second_change_within_the_frequency_window_is_429(client, mail_app, smtp_server):
    rt = mail_app.extensions["gotrue"]
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    session = _signed_in(client, "often@example.com")
    user_id = session["user"]["id"]
    assert _change(client, session, "often.one@example.com").status_code == 200
    first_token = _user_row(mail_app, user_id).email_change_token_new

    rt.clock = lambda: start + timedelta(seconds=20)
    response = _change(client, session, "often.two@example.com")
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == "over_email_send_rate_limit"
    assert body["message"] == ("For security purposes, you can only request this after 40 "
                               "seconds.")
    row = _user_row(mail_app, user_id)
    assert row.email_change == "often.one@example.com"
    assert row.email_change_token_new == first_token
    assert smtp_server.to("often.two@example.com") == []

    rt.clock = lambda: start + timedelta(seconds=61)
    assert _change(client, session, "often.two@example.com").status_code == 200
    assert _user_row(mail_app, user_id).email_change == "often.two@example.com"
    assert smtp_server.wait_for("often.two@example.com")


def test_an_expired_link_is_refused(client, mail_app, smtp_server):
    rt = mail_app.extensions["gotrue"]
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    session = _signed_in(client, "slow@example.com")
    assert _change(client, session, "slow.new@example.com").status_code == 200
    link = _link(smtp_server.wait_for("slow.new@example.com")[0])
    rt.clock = lambda: start + timedelta(seconds=86400 + 1)
    response = client.get(link)
    assert response.status_code == 303
    assert _fragment(response.headers["Location"])["error_code"] == "otp_expired"
    assert _user_row(mail_app, session["user"]["id"]).email_change_confirm_status == 0


def test_smtp_failure_leaves_no_pending_change(client, mail_app, smtp_server):
    session = _signed_in(client, "down@example.com")
    smtp_server.reject_with = "554 5.7.1 Transaction failed"
    response = _change(client, session, "down.new@example.com", data={"kept": False})
    assert response.status_code == 500
    assert response.get_json()["message"] == "Error sending email change email"
    row = _user_row(mail_app, session["user"]["id"])
    assert row.email_change == "" and row.email_change_sent_at is None
    assert "kept" not in (row.raw_user_meta_data or {})
    assert _otts(mail_app, session["user"]["id"]) == {}


# --- anonymous users --------------------------------------------------------------------------


def test_anonymous_user_under_autoconfirm_gets_the_email_at_once(make_app, smtp_server,
                                                                   service_role_token):
    app = make_app(**_mail_settings(smtp_server, **{"mailer.autoconfirm": True,
                                                    "external.anonymous_users_enabled": True}))
    client = ApiClient(app.test_client(), service_role_token)
    session = client.post("/signup", json={}).get_json()
    user_id = session["user"]["id"]
    response = _change(client, session, "Anon@Example.com")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["email"] == "anon@example.com" and body["is_anonymous"] is False
    assert "new_email" not in body and "email_confirmed_at" in body
    assert body["user_metadata"]["email"] == "anon@example.com"
    assert body["user_metadata"]["email_verified"] is True
    row = _user_row(app, user_id)
    assert row.email == "anon@example.com" and row.email_change == ""
    assert row.is_anonymous is False and row.email_confirmed_at is not None
    assert _otts(app, user_id) == {}
    [(identity,)] = table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(user_id)))
    assert identity.provider == "email" and identity.email == "anon@example.com"
    assert smtp_server.messages == []


def test_anonymous_user_without_autoconfirm_confirms_one_link(make_app, smtp_server,
                                                              service_role_token):
    app = make_app(**_mail_settings(smtp_server, **{"external.anonymous_users_enabled": True}))
    client = ApiClient(app.test_client(), service_role_token)
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
    row = _user_row(app, user_id)
    assert row.is_anonymous is False and row.email_confirmed_at is not None


# --- PKCE -------------------------------------------------------------------------------------


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_pkce_email_change(client, mail_app, smtp_server):
    verifier, challenge = _pkce_pair()
    session = _signed_in(client, "pkce@example.com")
    user_id = session["user"]["id"]
    response = _change(client, session, "pkce.new@example.com",
                       path="/user?redirect_to=https://app.example.com/cb",
                       code_challenge=challenge, code_challenge_method="s256")
    assert response.status_code == 200, response.get_data(as_text=True)
    [(flow,)] = table_rows(mail_app, sa.select(FlowState).where(
        FlowState.user_id == uuid.UUID(user_id)))
    assert flow.authentication_method == "email_change"
    assert flow.code_challenge == challenge and flow.auth_code_issued_at is None
    row = _user_row(mail_app, user_id)
    assert row.email_change_token_new.startswith("pkce_")
    assert row.email_change_token_current.startswith("pkce_")

    current_link = _link(smtp_server.wait_for("pkce@example.com")[0])
    new_link = _link(smtp_server.wait_for("pkce.new@example.com")[0])
    assert _query(current_link)["token"].startswith("pkce_")
    half = client.get(current_link)
    assert half.status_code == 303
    # PKCE flows repeat the message in the query.
    assert _fragment(half.headers["Location"])["message"] == HALF_WAY
    assert _query(half.headers["Location"])["message"] == HALF_WAY

    done = client.get(new_link)
    assert done.status_code == 303
    location = done.headers["Location"]
    assert location.startswith("https://app.example.com/cb?")
    auth_code = _query(location)["code"]
    assert auth_code == flow.auth_code
    assert _user_row(mail_app, user_id).email == "pkce.new@example.com"

    wrong = client.post("/token?grant_type=pkce",
                        json={"auth_code": auth_code, "code_verifier": "x" * 50})
    assert wrong.status_code == 400
    assert wrong.get_json()["code"] == "bad_code_verifier"
    exchanged = client.post("/token?grant_type=pkce",
                            json={"auth_code": auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)
    assert exchanged.get_json()["user"]["email"] == "pkce.new@example.com"
    assert table_rows(mail_app, sa.select(FlowState.id)) == []
    reused = client.post("/token?grant_type=pkce",
                         json={"auth_code": auth_code, "code_verifier": verifier})
    assert reused.status_code == 404
    assert reused.get_json()["code"] == "flow_state_not_found"


def test_pkce_email_change_codes_still_give_a_session(client, mail_app, smtp_server):
    _, challenge = _pkce_pair()
    session = _signed_in(client, "pkcecode@example.com")
    assert _change(client, session, "pkcecode.new@example.com", code_challenge=challenge,
                   code_challenge_method="S256").status_code == 200
    for address in ("pkcecode@example.com", "pkcecode.new@example.com"):
        code = smtp_support.code(smtp_server.wait_for(address)[0])
        response = client.post("/verify", json={"type": "email_change", "email": address,
                                                "token": code})
        assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["access_token"]
    assert response.get_json()["user"]["email"] == "pkcecode.new@example.com"


def test_half_pkce_parameters_are_400(client, mail_app, smtp_server):
    session = _signed_in(client, "halfpkce@example.com")
    response = _change(client, session, "halfpkce.new@example.com",
                       code_challenge="a" * 43)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert _user_row(mail_app, session["user"]["id"]).email_change == ""
    assert smtp_server.messages == []
