"""The send_email hook (spec phone-sms.md 4.4, issue 12) through the real routes: every email
goes to the hook as a signed ``{user, email_data}`` event instead of the SMTP server, the mail
log says the hook sent it, RATE_LIMIT_EMAIL_SENT still applies, and a hook error is the
client's answer with nothing written (in the request), or a failed mail log entry with the code
released (the flows that mail after the answer, as an SMTP failure there)."""

from __future__ import annotations

import json

import pytest

from gotrue_web.models import User
from gotrue_web.security.codes import pkce_link_token
from gotrue_web.services.mail.send_hook import SUBJECT
from gotrue_web.settings import HookConfig

from ..conftest import api_for, smtp_settings
from ..factories import (PASSWORD, count, create_user, link_hash, mail_log, one_time_tokens,
                         sign_in, token_hash, user_row)
from ..support.fake_hooks import SECRET, FakeHookReceiver, Reply

SITE = "http://localhost:3000"
API_URL = "http://localhost:9999"
APP = "https://app.example.com/welcome"
EMAIL_DATA_KEYS = ["token", "token_hash", "redirect_to", "email_action_type", "site_url",
                   "token_new", "token_hash_new", "old_email", "old_phone", "provider",
                   "factor_type"]
NOPE = {"error": {"http_code": 422, "message": "nope"}}


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver())


@pytest.fixture
def hook_app(make_app, smtp_server, receiver):
    """``hook_app(**overrides)``: an app with an SMTP server and the send_email hook on (so
    the SMTP server must get nothing); autoconfirm off."""

    def build(**overrides):
        return make_app(**smtp_settings(smtp_server.port, **{
            "hooks.send_email": HookConfig(True, receiver.uri(), (SECRET,)),
            "uri_allow_list": ("https://app.example.com/**",), **overrides}))

    return build


def the_event(receiver, index: int = -1) -> dict:
    """A request the receiver got, its signature checked: the event."""
    request = receiver.received[index]
    assert request.path == "/hook"
    event = FakeHookReceiver.verify(request, SECRET)
    assert event["metadata"]["name"] == "send-email"
    assert list(event) == ["metadata", "user", "email_data"]
    assert list(event["email_data"]) == EMAIL_DATA_KEYS
    return event


def unused(data: dict, *used: str) -> dict:
    """The email_data keys outside ``used``: all "" ."""
    return {key: value for key, value in data.items() if key not in used}


def log_rows(app) -> list[tuple]:
    return [(entry.template, entry.recipient, entry.subject, entry.status, entry.error)
            for entry in mail_log(app)]


# --- the event, per flow --------------------------------------------------------------------


def test_signup_mails_through_the_hook_and_not_smtp(hook_app, receiver, smtp_server):
    app = hook_app()
    api = api_for(app)
    response = api.post(f"/signup?redirect_to={APP}",
                        json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200
    user_id = response.get_json()["id"]
    [_] = receiver.received
    event = the_event(receiver)
    assert event["user"]["id"] == user_id and event["user"]["email"] == "ada@example.com"
    assert event["user"]["identities"][0]["provider"] == "email"
    data = event["email_data"]
    assert (data["email_action_type"], data["redirect_to"], data["site_url"]) == (
        "signup", APP, API_URL)
    assert data["token"].isdigit() and len(data["token"]) == 6
    assert unused(data, "token", "token_hash", "redirect_to", "email_action_type",
                  "site_url") == dict.fromkeys(EMAIL_DATA_KEYS[5:], "")
    user = user_row(app, user_id)
    assert user.confirmation_token == token_hash("ada@example.com", data["token"])
    assert one_time_tokens(app, user.id)["confirmation_token"].token_hash == \
        link_hash(data["token_hash"])
    assert smtp_server.messages == []
    assert log_rows(app) == [("confirmation", "ada@example.com", SUBJECT, "sent", None)]
    # The hook's token_hash confirms the address.
    verified = api.post("/verify", json={"type": "signup", "token_hash": data["token_hash"]})
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert verified.get_json()["user"]["email_confirmed_at"]


def test_recovery_with_pkce_keeps_the_prefix(hook_app, receiver, smtp_server,
                                             service_role_token):
    app = hook_app()
    api = api_for(app, service_role_token)
    create_user(api, "rec@example.com")
    response = api.post("/recover", json={
        "email": "rec@example.com", "code_challenge": "c" * 43,
        "code_challenge_method": "plain"})
    assert response.status_code == 200
    data = the_event(receiver)["email_data"]
    assert data["email_action_type"] == "recovery" and data["redirect_to"] == SITE
    assert data["token_hash"].startswith("pkce_")
    user = user_row(app, "rec@example.com")
    # token_hash is the flow's TokenHash; the row holds the hash of the link made from it.
    assert one_time_tokens(app, user.id)["recovery_token"].token_hash == \
        link_hash(pkce_link_token(data["token_hash"]))
    assert smtp_server.messages == []
    assert log_rows(app) == [("recovery", "rec@example.com", SUBJECT, "sent", None)]


@pytest.mark.parametrize("path", ["/otp", "/magiclink"])
def test_magic_link_and_otp(hook_app, receiver, smtp_server, service_role_token, path):
    app = hook_app()
    api = api_for(app, service_role_token)
    create_user(api, "link@example.com")
    assert api.post(path, json={"email": "link@example.com"}).status_code == 200
    data = the_event(receiver)["email_data"]
    assert data["email_action_type"] == "magiclink"
    # The emailed code signs in.
    signed_in = api.post("/verify", json={"type": "email", "email": "link@example.com",
                                          "token": data["token"]})
    assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
    assert smtp_server.messages == []
    assert log_rows(app) == [("magic_link", "link@example.com", SUBJECT, "sent", None)]


def test_invite(hook_app, receiver, smtp_server, service_role_token):
    app = hook_app()
    response = api_for(app, service_role_token).admin(
        "POST", f"/invite?redirect_to={APP}", json={"email": "guest@example.com"})
    assert response.status_code == 200, response.get_data(as_text=True)
    event = the_event(receiver)
    assert event["user"]["email"] == "guest@example.com" and event["user"]["invited_at"]
    data = event["email_data"]
    assert (data["email_action_type"], data["redirect_to"]) == ("invite", APP)
    user = user_row(app, "guest@example.com")
    assert user.confirmation_token == token_hash("guest@example.com", data["token"])
    assert smtp_server.messages == []
    assert log_rows(app) == [("invite", "guest@example.com", SUBJECT, "sent", None)]


def test_reauthentication(hook_app, receiver, smtp_server, service_role_token):
    app = hook_app()
    api = api_for(app, service_role_token)
    create_user(api, "me@example.com", password=PASSWORD)
    session = sign_in(api, "me@example.com")
    response = api.get("/reauthenticate", token=session["access_token"])
    assert response.status_code == 200
    data = the_event(receiver)["email_data"]
    # No redirect of its own: GoTrue's referrer, the site URL.
    assert (data["email_action_type"], data["redirect_to"]) == ("reauthentication", SITE)
    assert user_row(app, "me@example.com").reauthentication_token == \
        token_hash("me@example.com", data["token"])
    assert smtp_server.messages == []
    assert log_rows(app) == [("reauthentication", "me@example.com", SUBJECT, "sent", None)]


def test_secure_email_change_is_one_event_with_crossed_tokens(hook_app, receiver, smtp_server,
                                                              service_role_token):
    app = hook_app()
    api = api_for(app, service_role_token)
    create_user(api, "old@example.com", password=PASSWORD)
    session = sign_in(api, "old@example.com")
    response = api.put("/user", token=session["access_token"],
                       json={"email": "new@example.com"})
    assert response.status_code == 200, response.get_data(as_text=True)
    [_] = receiver.received
    event = the_event(receiver)
    assert (event["user"]["email"], event["user"]["new_email"]) == (
        "old@example.com", "new@example.com")
    data = event["email_data"]
    assert data["email_action_type"] == "email_change"
    user = user_row(app, "old@example.com")
    tokens = one_time_tokens(app, user.id)
    # GoTrue's crossing: the current address's code with the new address's hash, and the
    # other way round.
    assert user.email_change_token_current == token_hash("old@example.com", data["token"])
    assert tokens["email_change_token_new"].token_hash == link_hash(data["token_hash"])
    assert user.email_change_token_new == token_hash("new@example.com", data["token_new"])
    assert tokens["email_change_token_current"].token_hash == link_hash(data["token_hash_new"])
    assert data["token"] != data["token_new"]
    assert smtp_server.messages == []
    # One entry per address the hook was asked to mail.
    assert sorted(log_rows(app)) == [
        ("email_change", "new@example.com", SUBJECT, "sent", None),
        ("email_change", "old@example.com", SUBJECT, "sent", None)]
    # Both hashes together complete the change.
    first = api.post("/verify", json={"type": "email_change",
                                      "token_hash": data["token_hash_new"]})
    assert first.status_code == 200, first.get_data(as_text=True)
    second = api.post("/verify", json={"type": "email_change", "token_hash": data["token_hash"]})
    assert second.status_code == 200, second.get_data(as_text=True)
    assert user_row(app, user.id).email == "new@example.com"


def test_plain_email_change_has_the_new_address_tokens_only(hook_app, receiver, smtp_server,
                                                            service_role_token):
    app = hook_app(**{"mailer.secure_email_change_enabled": False})
    api = api_for(app, service_role_token)
    create_user(api, "old@example.com", password=PASSWORD)
    session = sign_in(api, "old@example.com")
    response = api.put("/user", token=session["access_token"],
                       json={"email": "new@example.com"})
    assert response.status_code == 200
    data = the_event(receiver)["email_data"]
    user = user_row(app, "old@example.com")
    assert user.email_change_token_new == token_hash("new@example.com", data["token"])
    assert one_time_tokens(app, user.id)["email_change_token_new"].token_hash == \
        link_hash(data["token_hash"])
    assert (data["token_new"], data["token_hash_new"]) == ("", "")
    assert log_rows(app) == [("email_change", "new@example.com", SUBJECT, "sent", None)]
    assert smtp_server.messages == []


def test_the_hook_works_without_an_smtp_server(make_app, receiver):
    app = make_app(**smtp_settings(None, **{
        "hooks.send_email": HookConfig(True, receiver.uri(), (SECRET,))}))
    assert api_for(app).signup("nosmtp@example.com").status_code == 200
    assert the_event(receiver)["email_data"]["email_action_type"] == "signup"
    assert log_rows(app) == [("confirmation", "nosmtp@example.com", SUBJECT, "sent", None)]


def test_the_email_budget_still_applies(hook_app, receiver, service_role_token):
    app = hook_app(**{"rate_limit.email_sent": "1"})
    api = api_for(app, service_role_token)
    assert api.signup("one@example.com").status_code == 200
    response = api.signup("two@example.com")
    assert response.status_code == 429
    assert response.get_json()["code"] == "over_email_send_rate_limit"
    assert len(receiver.received) == 1
    assert user_row(app, "two@example.com") is None


# --- errors ---------------------------------------------------------------------------------


def test_invite_passes_the_hook_error_through_and_writes_nothing(
        hook_app, receiver, smtp_server, service_role_token):
    receiver.answer_json(NOPE)
    app = hook_app()
    response = api_for(app, service_role_token).admin("POST", "/invite",
                                                      json={"email": "guest@example.com"})
    assert response.status_code == 422
    # A hook error has no error code (spec 4.2).
    assert response.get_json() == {"code": "unknown", "message": "nope"}
    assert "x-sb-error-code" not in response.headers
    assert count(app, User) == 0
    assert smtp_server.messages == []
    assert log_rows(app) == [("invite", "guest@example.com", SUBJECT, "failed", "nope")]


def test_reauthentication_error_keeps_the_old_state(hook_app, receiver, service_role_token):
    app = hook_app()
    api = api_for(app, service_role_token)
    create_user(api, "me@example.com", password=PASSWORD)
    session = sign_in(api, "me@example.com")
    receiver.answer_json(NOPE)
    response = api.get("/reauthenticate", token=session["access_token"])
    assert response.status_code == 422 and response.get_json()["message"] == "nope"
    user = user_row(app, "me@example.com")
    assert not user.reauthentication_token and user.reauthentication_sent_at is None
    assert one_time_tokens(app, user.id) == {}


def test_email_change_error_leaves_no_pending_change(hook_app, receiver, service_role_token):
    app = hook_app()
    api = api_for(app, service_role_token)
    create_user(api, "old@example.com", password=PASSWORD)
    session = sign_in(api, "old@example.com")
    receiver.script(Reply(200, json.dumps(NOPE)))
    response = api.put("/user", token=session["access_token"],
                       json={"email": "new@example.com"})
    assert response.status_code == 422 and response.get_json()["message"] == "nope"
    user = user_row(app, "old@example.com")
    assert (user.email_change or "", user.email_change_token_new or "",
            user.email_change_token_current or "", user.email_change_sent_at) == (
        "", "", "", None)
    assert one_time_tokens(app, user.id) == {}
    assert sorted(log_rows(app)) == [
        ("email_change", "new@example.com", SUBJECT, "failed", "nope"),
        ("email_change", "old@example.com", SUBJECT, "failed", "nope")]
    # Nothing is left to wait for: the next try goes out at once.
    again = api.put("/user", token=session["access_token"], json={"email": "new@example.com"})
    assert again.status_code == 200
    assert len(receiver.received) == 2


def test_a_hook_that_fails_outright_is_its_mapped_error(hook_app, receiver, service_role_token):
    receiver.script(Reply(500, "boom", "text/plain"))
    app = hook_app()
    response = api_for(app, service_role_token).admin("POST", "/invite",
                                                      json={"email": "guest@example.com"})
    assert response.status_code == 500
    assert response.get_json()["message"] == "Unexpected status code returned from hook: 500"
    assert count(app, User) == 0


@pytest.mark.parametrize("flow", ["signup", "recover", "otp"])
def test_after_the_answer_a_hook_error_is_a_failed_entry_and_the_code_is_released(
        hook_app, receiver, smtp_server, service_role_token, flow):
    """Like an SMTP failure there: the answer (sent before the hook was called) does not tell
    whether the address has an account, so it cannot carry the hook's error either."""
    app = hook_app()
    api = api_for(app, service_role_token)
    receiver.answer_json(NOPE)
    if flow == "signup":
        response = api.signup("late@example.com")
        template, column, sent = "confirmation", "confirmation_token", "confirmation_sent_at"
    else:
        create_user(api, "late@example.com")
        response = api.post(f"/{flow}", json={"email": "late@example.com"})
        template, column, sent = ("recovery" if flow == "recover" else "magic_link",
                                  "recovery_token", "recovery_sent_at")
    assert response.status_code == 200
    assert log_rows(app) == [(template, "late@example.com", SUBJECT, "failed", "nope")]
    user = user_row(app, "late@example.com")
    assert getattr(user, column) == "" and getattr(user, sent) is None
    assert one_time_tokens(app, user.id) == {}
    assert smtp_server.messages == []
    # The user may ask again at once, and this time the hook sends it.
    receiver.answer_json({})
    if flow == "signup":
        again = api.post("/resend", json={"type": "signup", "email": "late@example.com"})
    else:
        again = api.post(f"/{flow}", json={"email": "late@example.com"})
    assert again.status_code == 200, again.get_data(as_text=True)
    assert [entry.status for entry in mail_log(app)] == ["failed", "sent"]
    assert len(receiver.received) == 2



# --- a PostgreSQL function as the hook --------------------------------------------------------


@pytest.fixture
def pg_hook(pg_schema, make_app, smtp_server):
    """``pg_hook(function)``: an app whose send_email hook is the PostgreSQL function
    ``h_mail_ok`` (answers {}) or ``h_mail_raise`` (raises)."""
    schema = pg_schema.name
    pg_schema.run(
        f'create or replace function "{schema}".h_mail_ok(e jsonb) returns jsonb '
        "language sql as $fn$ select '{}'::jsonb $fn$",
        f'create or replace function "{schema}".h_mail_raise(e jsonb) returns jsonb '
        "language plpgsql as $fn$ begin raise exception 'no mail'; end $fn$")

    def build(function: str):
        return make_app(**smtp_settings(smtp_server.port, **{
            "hooks.send_email": HookConfig(True, pg_schema.uri(function), ())}))

    return build


def test_pg_hook_in_the_request_rolls_it_back(pg_hook, service_role_token):
    app = pg_hook("h_mail_raise")
    response = api_for(app, service_role_token).admin("POST", "/invite",
                                                      json={"email": "guest@example.com"})
    assert response.status_code == 500
    assert response.get_json()["message"].startswith("Error running hook URI: pg-functions://")
    assert count(app, User) == 0
    [entry] = mail_log(app)
    assert (entry.template, entry.status, entry.subject) == ("invite", "failed", SUBJECT)


@pytest.mark.parametrize("function, status", [("h_mail_ok", "sent"),
                                              ("h_mail_raise", "failed")])
def test_pg_hook_after_the_answer(pg_hook, smtp_server, service_role_token, function, status):
    app = pg_hook(function)
    api = api_for(app, service_role_token)
    create_user(api, "late@example.com")
    assert api.post("/recover", json={"email": "late@example.com"}).status_code == 200
    assert [(entry.status, entry.subject) for entry in mail_log(app)] == [(status, SUBJECT)]
    user = user_row(app, "late@example.com")
    # A failed call's code is released even though it aborted the sender's transaction.
    assert bool(user.recovery_token) is (status == "sent")
    assert smtp_server.messages == []
