"""The legacy webhook (spec phone-sms.md 4.5, api-contract.md 9): its events and where they fire,
the x-webhook-signature JWT over the body's SHA-256, the reply's metadata replacing the user's,
per-attempt timeouts, retries and the error table. Every call is in hook_deliveries as
"webhook"."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from gotrue_web.models import HookDelivery, Identity, User
from gotrue_web.settings.webhook import WebhookSettings

from ..api.oauth.conftest import Browser, github, oauth_app  # noqa: F401 (fixtures)
from ..conftest import api_for, table_rows
from ..factories import PASSWORD, create_user, mail_to, make_user, unique_email
from ..support.fake_hooks import FakeHookReceiver, Reply, closed_port_uri
from ..support.smtp import code

SECRET = "legacy-webhook-secret-of-at-least-32-bytes"
NIL = "00000000-0000-0000-0000-000000000000"
ALL_EVENTS = ("validate", "signup", "email_change", "login")


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver(default=Reply(200, "", None)))


def webhook(url: str, *, secret: str = SECRET, events=ALL_EVENTS, retries: int = 3,
            timeout: float = 5) -> dict:
    return {"webhook": WebhookSettings(url=url, secret=secret, retries=retries,
                                       timeout=timedelta(seconds=timeout),
                                       events=tuple(events))}


def signup(api, email: str = "hooked@example.com", **body):
    return api.post("/signup", json={"email": email, "password": "password-123", **body})


def deliveries(app) -> list[tuple]:
    return [tuple(row) for row in table_rows(app, sa.select(
        HookDelivery.hook, HookDelivery.status, HookDelivery.http_status,
        HookDelivery.attempts, HookDelivery.error).order_by(HookDelivery.created_at))]


def user_count(app) -> int:
    return table_rows(app, sa.select(sa.func.count()).select_from(User))[0][0]


def test_autoconfirmed_signup_sends_validate_signup_and_login_signed(make_app, receiver,
                                                                     service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, **webhook(receiver.uri())})
    before = int(time.time())

    answer = signup(api_for(app, service_role_token))

    assert answer.status_code == 200
    assert [r.json["event"] for r in receiver.received] == ["validate", "signup", "login"]
    for request in receiver.received:
        body = request.json
        assert list(body) == ["event", "instance_id", "user"]
        assert body["instance_id"] == NIL
        assert body["user"]["email"] == "hooked@example.com"
        assert request.headers["Content-Type"] == "application/json"
        token = request.headers["x-webhook-signature"]
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert claims["sha256"] == hashlib.sha256(request.body).hexdigest()
        assert claims["iss"] == "gotrue" and claims["sub"] == NIL
        assert before <= claims["iat"] <= int(time.time())
    validate = receiver.received[0].json["user"]
    assert validate["role"] == "authenticated" and validate["identities"] == []
    # Confirmation comes after the signup event; the login event sees a confirmed user.
    assert "email_confirmed_at" not in receiver.received[1].json["user"]
    assert "email_confirmed_at" in receiver.received[2].json["user"]
    rows = deliveries(app)
    assert [row[:4] for row in rows] == [("webhook", "succeeded", 200, 1)] * 3


def test_no_secret_no_signature_and_only_the_configured_events(make_app, receiver,
                                                                service_role_token):
    app = make_app(**{"mailer.autoconfirm": True,
                      **webhook(receiver.uri(), secret="", events=("login",))})
    assert signup(api_for(app, service_role_token)).status_code == 200
    (request,) = receiver.received
    assert request.json["event"] == "login"
    assert "x-webhook-signature" not in {k.lower() for k in request.headers}


def test_relative_url_takes_the_site_url_scheme_and_host(make_app, receiver,
                                                         service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "site_url": receiver.url + "/app",
                      **webhook("/legacy?x=1", events=("validate",))})
    assert signup(api_for(app, service_role_token)).status_code == 200
    (request,) = receiver.received
    assert request.path == "/legacy?x=1"


def test_validate_failure_aborts_the_signup_after_every_retry(make_mail_app, receiver,
                                                              service_role_token):
    receiver.default = Reply(400, "no")
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",), retries=2))

    answer = signup(api_for(app, service_role_token))

    assert answer.status_code == 422
    assert answer.get_json() == {"code": "unknown", "message": "Failed to handle signup webhook"}
    assert "x-sb-error-code" not in answer.headers
    assert len(receiver.received) == 2
    assert user_count(app) == 0
    assert table_rows(app, sa.select(sa.func.count()).select_from(Identity))[0][0] == 0
    assert deliveries(app) == [("webhook", "failed", 400, 2, "Failed to handle signup webhook")]


def test_non_2xx_statuses_are_retried_until_one_succeeds(make_mail_app, receiver,
                                                         service_role_token):
    receiver.script(Reply(500, "x"), Reply(201, "{}"))
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",)))
    assert signup(api_for(app, service_role_token)).status_code == 200
    assert len(receiver.received) == 3
    assert deliveries(app)[0][:4] == ("webhook", "succeeded", 200, 3)


def test_validate_reply_replaces_the_metadata(make_mail_app, receiver, service_role_token):
    receiver.default = Reply(200, json.dumps({"user_metadata": {"plan": "pro"},
                                              "app_metadata": {"tier": "gold"}}))
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",)))

    answer = signup(api_for(app, service_role_token), data={"plan": "free", "old": True})

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["user_metadata"]["plan"] == "pro" and "old" not in body["user_metadata"]
    # The identity's data is merged in afterwards and the providers are kept, as GoTrue does.
    assert body["user_metadata"]["email"] == "hooked@example.com"
    assert body["app_metadata"] == {"tier": "gold", "provider": "email",
                                    "providers": ["email"]}
    (user,) = table_rows(app, sa.select(User))
    assert user[0].raw_user_meta_data["plan"] == "pro"
    assert user[0].raw_app_meta_data["tier"] == "gold"


def test_null_metadata_or_an_empty_reply_change_nothing(make_mail_app, receiver,
                                                        service_role_token):
    receiver.script(Reply(200, json.dumps({"user_metadata": None})), Reply(204, "", None))
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",)))
    api = api_for(app, service_role_token)
    first = signup(api, "one@example.com", data={"keep": 1})
    second = signup(api, "two@example.com", data={"keep": 2})
    assert first.get_json()["user_metadata"]["keep"] == 1
    assert second.get_json()["user_metadata"]["keep"] == 2


def test_malformed_reply_is_500(make_mail_app, receiver, service_role_token):
    receiver.default = Reply(200, "[1, 2]")
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",)))
    answer = signup(api_for(app, service_role_token))
    assert answer.status_code == 500
    assert answer.get_json()["message"].startswith("Webhook returned malformed JSON: ")
    assert user_count(app) == 0


def test_refused_connection_is_502_without_retry(make_mail_app, service_role_token):
    url = closed_port_uri()
    app = make_mail_app(**webhook(url, events=("validate",)))
    answer = signup(api_for(app, service_role_token))
    assert answer.status_code == 502
    assert answer.get_json()["message"] == f"Failed to connect to {url}"
    assert user_count(app) == 0
    assert deliveries(app)[0][:4] == ("webhook", "failed", None, 1)


def test_slow_receiver_past_the_timeout_on_every_attempt_is_504(make_mail_app, receiver,
                                                                 service_role_token):
    receiver.default = Reply(200, "{}", delay=3)
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",), retries=2, timeout=1))
    started = time.monotonic()

    answer = signup(api_for(app, service_role_token))

    assert 1.8 < time.monotonic() - started < 4
    assert answer.status_code == 504
    assert answer.get_json()["message"] == "Failed to perform webhook in time frame (1 seconds)"
    assert len(receiver.received) == 2
    assert user_count(app) == 0


def test_a_timed_out_attempt_is_retried(make_mail_app, receiver, service_role_token):
    receiver.script(Reply(200, "{}", delay=3))
    app = make_mail_app(**webhook(receiver.uri(), events=("validate",), timeout=1))
    assert signup(api_for(app, service_role_token)).status_code == 200
    assert len(receiver.received) == 2


def test_password_grant_sends_login_and_its_failure_refuses_the_session(
        make_app, receiver, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, **webhook(receiver.uri(), events=("login",))})
    api = api_for(app, service_role_token)
    email = unique_email("grant")
    make_user(app, email, password=PASSWORD)
    grant = {"email": email, "password": PASSWORD}

    assert api.post("/token?grant_type=password", json=grant).status_code == 200
    assert receiver.received[-1].json["event"] == "login"

    receiver.default = Reply(500, "")
    refused = api.post("/token?grant_type=password", json=grant)
    assert refused.status_code == 422
    assert table_rows(app, sa.text("select count(*) from sessions"))[0][0] == 1


def test_a_login_reply_replaces_the_metadata(make_app, receiver, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, **webhook(receiver.uri(), events=("login",))})
    api = api_for(app, service_role_token)
    email = unique_email("grant")
    user_id = make_user(app, email, password=PASSWORD)
    receiver.default = Reply(200, json.dumps({"user_metadata": {"plan": "pro"},
                                              "app_metadata": {"tier": "gold"}}))
    response = api.post("/token?grant_type=password", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["user"]["user_metadata"] == {"plan": "pro"}
    assert body["user"]["app_metadata"] == {"tier": "gold"}
    [stored] = table_rows(app, sa.select(User.raw_user_meta_data, User.raw_app_meta_data,
                                         User.last_sign_in_at).where(User.id == user_id))
    assert stored[:2] == ({"plan": "pro"}, {"tier": "gold"})
    assert stored[2] is not None
    assert table_rows(app, sa.text("select count(*) from sessions"))[0][0] == 1
    profile = api.get("/user", token=body["access_token"]).get_json()
    assert profile["user_metadata"] == {"plan": "pro"}


def test_admin_created_user_is_validated(make_app, receiver, service_role_token):
    receiver.default = Reply(200, json.dumps({"app_metadata": {"checked": True}}))
    app = make_app(**webhook(receiver.uri(), events=("validate",)))
    created = create_user(api_for(app, service_role_token), "admin-made@example.com")
    assert created["app_metadata"] == {"checked": True, "provider": "email",
                                       "providers": ["email"]}


# --- where the events fire: verify and OAuth -------------------------------------------------


def events(receiver) -> list[str]:
    return [request.json["event"] for request in receiver.received]


def test_verify_flows_send_signup_login_and_email_change(make_mail_app, smtp_server, receiver,
                                                          service_role_token):
    app = make_mail_app(**{"smtp.max_frequency": timedelta(0),
                           "mailer.secure_email_change_enabled": False,
                           **webhook(receiver.uri(), events=("signup", "login",
                                                              "email_change"))})
    api = api_for(app, service_role_token)
    email = unique_email("verify")
    assert signup(api, email).status_code == 200
    assert events(receiver) == []

    confirmed = api.post("/verify", json={"type": "signup", "email": email,
                                          "token": code(mail_to(smtp_server, email))})
    assert confirmed.status_code == 200
    assert events(receiver) == ["signup"]
    assert "email_confirmed_at" not in receiver.received[-1].json["user"]

    assert api.post("/recover", json={"email": email}).status_code == 200
    recovered = api.post("/verify", json={"type": "recovery", "email": email,
                                          "token": code(mail_to(smtp_server, email, 2))})
    assert recovered.status_code == 200
    assert events(receiver) == ["signup", "login"]

    new = unique_email("changed")
    token = recovered.get_json()["access_token"]
    assert api.put("/user", token=token, json={"email": new}).status_code == 200
    changed = api.post("/verify", json={"type": "email_change", "email": new,
                                        "token": code(mail_to(smtp_server, new))})
    assert changed.status_code == 200, changed.get_json()
    assert events(receiver) == ["signup", "login", "email_change"]
    # Sent before the change is applied: the user still has the old address.
    assert receiver.received[-1].json["user"]["email"] == email
    assert receiver.received[-1].json["user"]["new_email"] == new


def test_failed_signup_event_leaves_the_user_unconfirmed(make_mail_app, smtp_server, receiver,
                                                         service_role_token):
    app = make_mail_app(**webhook(receiver.uri(), events=("signup",), retries=1))
    api = api_for(app, service_role_token)
    email = unique_email("verify")
    assert signup(api, email).status_code == 200
    receiver.default = Reply(503, "")

    answer = api.post("/verify", json={"type": "signup", "email": email,
                                       "token": code(mail_to(smtp_server, email))})

    assert answer.status_code == 422
    (user,) = table_rows(app, sa.select(User).where(User.email == email))
    assert user[0].email_confirmed_at is None


def test_phone_code_verify_sends_signup(make_app, receiver, service_role_token):
    app = make_app(**{"external.phone_enabled": True, "sms.autoconfirm": True,
                      "sms.test_otp": {"15550009999": "123456"},
                      **webhook(receiver.uri(), events=("signup",))})
    api = api_for(app, service_role_token)
    make_user(app, phone="15550009999", password=PASSWORD, confirmed=False)
    answer = api.post("/verify", json={"type": "sms", "phone": "15550009999",
                                       "token": "123456"})
    assert answer.status_code == 200, answer.get_json()
    assert events(receiver) == ["signup"]


def test_oauth_new_user_sends_validate_and_signup_then_login_next_time(
        oauth_app, github, receiver):  # noqa: F811
    app = oauth_app({"github": github}, **webhook(receiver.uri()))
    first = Browser(app).sign_in(provider="github")
    assert "access_token=" in first.headers["Location"]
    assert events(receiver) == ["validate", "signup"]
    assert receiver.received[0].json["user"]["app_metadata"]["provider"] == "github"

    again = Browser(app).sign_in(provider="github")
    assert "access_token=" in again.headers["Location"]
    assert events(receiver) == ["validate", "signup", "login"]
