"""Captcha on sign-up and sign-in (issue: abuse defences, captcha). A local HTTP server plays
hCaptcha or Turnstile: it sees the form the server posts (secret, response, remoteip) and
answers with a verdict. Without a solved captcha the guarded routes answer 400 captcha_failed
and change nothing; with one they work as before. An admin bearer skips the check, and the
pkce, refresh_token and id_token grants are exempt as in GoTrue."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from gotrue_web.models import User

from ..conftest import api_for, make_jwt
from ..factories import count, make_user, mail_to, one_time_tokens, user_row
from ..support.captcha_servers import HCAPTCHA_PATH, TURNSTILE_PATH, CaptchaServer

SECRET = "captcha-secret-4f1c9a0d7b"
SOLVED = "solved-captcha-token-8e2b"
PASSWORD = "password-123"
FORM = "application/x-www-form-urlencoded"


def captcha_on(server, provider: str = "hcaptcha", **changes) -> dict:
    """Overrides that turn the captcha on against ``server`` (a CaptchaServer or a URL)."""
    url = server if isinstance(server, str) else server.url
    return {"captcha.enabled": True, "captcha.provider": provider, "captcha.secret": SECRET,
            "captcha.url": url, **{f"captcha.{name}": value for name, value in changes.items()}}


def solved(body: dict, token: str = SOLVED) -> dict:
    return {**body, "gotrue_meta_security": {"captcha_token": token}}


def assert_captcha_failed(response, reason: str):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {
        "code": "captcha_failed", "message": f"captcha protection: request disallowed ({reason})"}


MISSING = "no captcha_token found in gotrue_meta_security"
UNAVAILABLE = "captcha verification is unavailable"


@pytest.fixture
def hcaptcha(servers):
    return servers(CaptchaServer(SOLVED))


@pytest.fixture
def turnstile(servers):
    return servers(CaptchaServer(SOLVED))


# --- the exchange with the provider ----------------------------------------------------------


def test_hcaptcha_gets_the_secret_the_token_and_the_client_ip(make_app, hcaptcha):
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", json=solved({"email": "new@example.com",
                                                         "password": PASSWORD}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["email"] == "new@example.com"
    assert hcaptcha.received() == [{
        "path": HCAPTCHA_PATH, "content_type": FORM,
        "form": {"secret": SECRET, "response": SOLVED, "remoteip": "127.0.0.1"}}]
    assert user_row(app, "new@example.com") is not None


def test_turnstile_is_asked_at_its_own_path(make_app, turnstile):
    app = make_app(**captcha_on(turnstile, "turnstile"))
    make_user(app, "known@example.com", password=PASSWORD)
    response = api_for(app).post("/token?grant_type=password", json=solved(
        {"email": "known@example.com", "password": PASSWORD}))
    assert response.status_code == 200 and response.get_json()["access_token"]
    assert turnstile.received() == [{
        "path": TURNSTILE_PATH, "content_type": FORM,
        "form": {"secret": SECRET, "response": SOLVED, "remoteip": "127.0.0.1"}}]


def test_remoteip_is_the_client_behind_the_trusted_proxy(make_app, hcaptcha):
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", json=solved(
        {"email": "proxied@example.com", "password": PASSWORD}),
        headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    [post] = hcaptcha.received()
    assert post["form"]["remoteip"] == "203.0.113.9"


def test_a_rejected_token_is_refused_with_the_providers_reason(make_app, hcaptcha):
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", json=solved(
        {"email": "bot@example.com", "password": PASSWORD}, token="forged"))
    assert_captcha_failed(response, "invalid-input-response")
    assert [post["form"]["response"] for post in hcaptcha.received()] == ["forged"]
    assert count(app, User) == 0


def test_a_failure_without_error_codes_still_says_why(make_app, hcaptcha):
    hcaptcha.answer = {"success": False}
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", json=solved({"email": "x@example.com",
                                                         "password": PASSWORD}))
    assert_captcha_failed(response, "captcha token rejected")
    assert count(app, User) == 0


def test_odd_error_codes_from_the_provider_are_not_echoed(make_app, hcaptcha):
    hcaptcha.answer = {"success": False,
                       "error-codes": ["timeout-or-duplicate", "<script>", 7, "x" * 200]}
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", json=solved({"email": "x@example.com",
                                                         "password": PASSWORD}))
    assert_captcha_failed(response, "timeout-or-duplicate")


@pytest.mark.parametrize("meta", [
    None, {}, {"captcha_token": ""}, {"captcha_token": "   "}, {"captcha_token": None},
])
def test_a_missing_token_is_refused_without_asking_the_provider(make_app, hcaptcha, meta):
    app = make_app(**captcha_on(hcaptcha))
    body = {"email": "bot@example.com", "password": PASSWORD}
    if meta is not None:
        body["gotrue_meta_security"] = meta
    assert_captcha_failed(api_for(app).post("/signup", json=body), MISSING)
    assert hcaptcha.received() == []
    assert count(app, User) == 0


def test_the_captcha_is_checked_before_the_rest_of_the_body(make_app, hcaptcha):
    # As GoTrue's middleware: a body the view would refuse still meets the captcha first.
    app = make_app(**captcha_on(hcaptcha))
    client = api_for(app)
    assert_captcha_failed(client.post("/signup", json={"email": "not an address"}), MISSING)
    assert_captcha_failed(client.post("/recover", json={}), MISSING)
    assert_captcha_failed(client.post("/token?grant_type=password", json={}), MISSING)


@pytest.mark.parametrize("raw", [
    b"", b"{not json", b"[]",
    b'{"gotrue_meta_security": "token"}',
    b'{"gotrue_meta_security": {"captcha_token": 12345}}',
])
def test_a_body_that_cannot_be_read_is_still_bad_json(make_app, hcaptcha, raw):
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", data=raw,
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_json"
    assert hcaptcha.received() == []


# --- the provider failing --------------------------------------------------------------------


def test_a_provider_that_is_down_refuses_the_request(make_app, closed_port, caplog):
    app = make_app(**captcha_on(f"http://127.0.0.1:{closed_port}"))
    with caplog.at_level(logging.DEBUG):
        response = api_for(app).post("/signup", json=solved({"email": "x@example.com",
                                                             "password": PASSWORD}))
    assert_captcha_failed(response, UNAVAILABLE)
    assert count(app, User) == 0
    assert "captcha verification with hcaptcha failed" in caplog.text
    # Neither the secret nor the client's token reaches the log.
    assert SECRET not in caplog.text and SOLVED not in caplog.text


def test_a_provider_slower_than_the_timeout_refuses_the_request(make_app, servers, caplog):
    slow = servers(CaptchaServer(SOLVED, delay=5))
    app = make_app(**captcha_on(slow, timeout=timedelta(milliseconds=300)))
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        response = api_for(app).post("/signup", json=solved({"email": "x@example.com",
                                                             "password": PASSWORD}))
    elapsed = time.monotonic() - started
    assert_captcha_failed(response, UNAVAILABLE)
    assert elapsed < 3, elapsed
    assert len(slow.received()) == 1
    assert count(app, User) == 0
    assert SECRET not in caplog.text and SOLVED not in caplog.text


@pytest.mark.parametrize("answer", [
    (200, "<html>captcha</html>"),
    (200, '{"success": "true"}'),
    (200, "[true]"),
    (200, "{}"),
    (500, '{"success": true}'),
    (403, '{"success": false}'),
])
def test_an_answer_that_is_not_a_verdict_refuses_the_request(make_app, hcaptcha, answer):
    hcaptcha.answer = answer
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", json=solved({"email": "x@example.com",
                                                         "password": PASSWORD}))
    assert_captcha_failed(response, UNAVAILABLE)
    assert count(app, User) == 0


# --- every guarded route ---------------------------------------------------------------------


def _signup(app):
    return "/signup", {"email": "fresh@example.com", "password": PASSWORD}


def _anonymous(app):
    return "/signup", {}


def _password_grant(app):
    make_user(app, "member@example.com", password=PASSWORD)
    return "/token?grant_type=password", {"email": "member@example.com", "password": PASSWORD}


def _web3_grant(app):
    return "/token?grant_type=web3", {"chain": "solana", "message": "m", "signature": "s"}


def _otp(app):
    return "/otp", {"email": "fresh@example.com"}


def _magiclink(app):
    make_user(app, "member@example.com", password=PASSWORD)
    return "/magiclink", {"email": "member@example.com"}


def _recover(app):
    make_user(app, "member@example.com", password=PASSWORD)
    return "/recover", {"email": "member@example.com"}


def _resend(app):
    make_user(app, "member@example.com", password=PASSWORD, confirmed=False)
    return "/resend", {"type": "signup", "email": "member@example.com"}


GUARDED = {"signup": _signup, "anonymous": _anonymous, "password": _password_grant,
           "otp": _otp, "magiclink": _magiclink, "recover": _recover, "resend": _resend}


@pytest.fixture
def guarded_app(make_mail_app, hcaptcha):
    return make_mail_app(**captcha_on(hcaptcha), **{
        "external.anonymous_users_enabled": True})


def _state(app) -> tuple:
    """What a request could have changed: users and the one-time tokens they hold."""
    users = [user_row(app, email) for email in ("fresh@example.com", "member@example.com")]
    return tuple((user.id, sorted(one_time_tokens(app, user.id)), user.recovery_sent_at,
                  user.confirmation_sent_at, user.last_sign_in_at) if user else None
                 for user in users), count(app, User)


@pytest.mark.parametrize("route", GUARDED)
def test_each_guarded_route_refuses_without_a_solved_captcha(guarded_app, hcaptcha, smtp_server,
                                                             route):
    path, body = GUARDED[route](guarded_app)
    before = _state(guarded_app)
    client = api_for(guarded_app)
    assert_captcha_failed(client.post(path, json=body), MISSING)
    assert_captcha_failed(client.post(path, json=solved(body, "forged")),
                          "invalid-input-response")
    assert _state(guarded_app) == before
    assert smtp_server.messages == []


@pytest.mark.parametrize("route", GUARDED)
def test_each_guarded_route_works_with_a_solved_captcha(guarded_app, hcaptcha, smtp_server,
                                                        route):
    path, body = GUARDED[route](guarded_app)
    response = api_for(guarded_app).post(path, json=solved(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [post["form"]["response"] for post in hcaptcha.received()] == [SOLVED]
    if route in ("signup", "otp"):
        assert user_row(guarded_app, "fresh@example.com") is not None
    if route in ("otp", "magiclink", "recover", "resend", "signup"):
        address = "fresh@example.com" if route in ("signup", "otp") else "member@example.com"
        assert mail_to(smtp_server, address)
    if route in ("anonymous", "password"):
        assert response.get_json()["access_token"]


def test_the_web3_grant_is_guarded_too(guarded_app, hcaptcha):
    path, body = _web3_grant(guarded_app)
    assert_captcha_failed(api_for(guarded_app).post(path, json=body), MISSING)


# --- what the captcha does not guard ---------------------------------------------------------


def test_refresh_tokens_need_no_captcha(make_app, hcaptcha):
    app = make_app(**captcha_on(hcaptcha))
    make_user(app, "member@example.com", password=PASSWORD)
    client = api_for(app)
    session = client.post("/token?grant_type=password", json=solved(
        {"email": "member@example.com", "password": PASSWORD})).get_json()
    refreshed = client.refresh(session["refresh_token"])
    assert refreshed.status_code == 200 and refreshed.get_json()["access_token"]
    assert len(hcaptcha.received()) == 1


@pytest.mark.parametrize("grant", ["pkce", "id_token", "refresh_token", "unknown"])
def test_exempt_grants_answer_as_they_would_without_captcha(make_app, hcaptcha, grant):
    body = {"auth_code": "no-such-code", "code_verifier": "v" * 43, "refresh_token": "nope",
            "id_token": "x.y.z", "provider": "google"}
    plain = api_for(make_app()).post(f"/token?grant_type={grant}", json=body)
    guarded = api_for(make_app(**captcha_on(hcaptcha))).post(f"/token?grant_type={grant}",
                                                             json=body)
    assert guarded.get_json()["code"] != "captcha_failed"
    assert (guarded.status_code, guarded.get_json()) == (plain.status_code, plain.get_json())
    assert hcaptcha.received() == []


def test_verify_and_user_routes_need_no_captcha(make_app, hcaptcha):
    app = make_app(**captcha_on(hcaptcha))
    make_user(app, "member@example.com", password=PASSWORD)
    client = api_for(app)
    session = client.post("/token?grant_type=password", json=solved(
        {"email": "member@example.com", "password": PASSWORD})).get_json()
    assert client.get("/user", token=session["access_token"]).status_code == 200
    updated = client.put("/user", token=session["access_token"], json={"data": {"a": 1}})
    assert updated.status_code == 200
    verify = client.post("/verify", json={"type": "magiclink", "email": "member@example.com",
                                          "token": "000000"})
    assert verify.get_json()["code"] != "captcha_failed"
    assert len(hcaptcha.received()) == 1


def test_captcha_off_asks_nobody(make_app, hcaptcha):
    app = make_app(**{"captcha.url": hcaptcha.url, "captcha.secret": SECRET})
    response = api_for(app).post("/signup", json={"email": "x@example.com",
                                                  "password": PASSWORD})
    assert response.status_code == 200
    assert hcaptcha.received() == []


# --- the admin bearer ------------------------------------------------------------------------


def test_an_admin_bearer_skips_the_captcha(make_app, hcaptcha, service_role_token):
    app = make_app(**captcha_on(hcaptcha))
    client = api_for(app, service_role_token)
    response = client.post("/signup", token=service_role_token,
                           json={"email": "by-admin@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user_row(app, "by-admin@example.com") is not None
    make_user(app, "member@example.com", password=PASSWORD)
    login = client.post("/token?grant_type=password", token=service_role_token,
                        json={"email": "member@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.get_data(as_text=True)
    assert hcaptcha.received() == []


@pytest.mark.parametrize("bearer", [
    # Supabase's anon key: a valid token without an admin role.
    make_jwt({"iss": "supabase", "role": "anon", "iat": 1700000000}),
    # The admin role, signed with another secret.
    make_jwt({"iss": "supabase", "role": "service_role", "iat": 1700000000},
             secret="not-the-servers-secret-but-long-enough-for-hs256"),
    # The admin role without a signature.
    make_jwt({"role": "service_role"}, secret="", algorithm="none"),
    "not-a-jwt",
])
def test_other_bearers_do_not_skip_it(make_app, hcaptcha, bearer):
    app = make_app(**captcha_on(hcaptcha))
    response = api_for(app).post("/signup", token=bearer,
                                 json={"email": "x@example.com", "password": PASSWORD})
    assert_captcha_failed(response, MISSING)
    assert count(app, User) == 0


def test_a_user_bearer_does_not_skip_it(make_app, hcaptcha):
    app = make_app(**captcha_on(hcaptcha))
    make_user(app, "member@example.com", password=PASSWORD)
    client = api_for(app)
    session = client.post("/token?grant_type=password", json=solved(
        {"email": "member@example.com", "password": PASSWORD})).get_json()
    response = client.post("/signup", token=session["access_token"],
                           json={"email": "x@example.com", "password": PASSWORD})
    assert_captcha_failed(response, MISSING)
