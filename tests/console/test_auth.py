"""Operator sign-in, throttling, the session cookie and its lifetimes, TOTP, CSRF on every console
POST, read-only GETs and the console's security headers (security.md B2 #34-36)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import operators
from gotrue_web.db import Base
from gotrue_web.extensions import db
from gotrue_web.models import Operator

from ..factories import audit_entries, claims, freeze_clock
from .conftest import (CLIENT_IP, OPERATOR_EMAIL, OPERATOR_PASSWORD, BcryptCalls, ConsoleClient,
                       console_client, enable_totp, form_error)

REFUSAL = operators.LOGIN_REFUSED


# --- helpers ------------------------------------------------------------------------------------


def signed_in(app, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD,
              ip: str = CLIENT_IP, totp_code: str = "") -> ConsoleClient:
    client = console_client(app, ip)
    response = client.login(email, password, totp_code)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def operator_row(app, email: str = OPERATOR_EMAIL) -> Operator:
    with app.app_context():
        return db.session.execute(
            sa.select(Operator).where(Operator.email == email)).scalar_one()


def is_login_redirect(response) -> bool:
    return (response.status_code == 303
            and urlsplit(response.headers["Location"]).path == "/console/login")


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table, to show that a request changed nothing."""
    with app.app_context():
        return {table.name: sorted(repr(tuple(row)) for row in
                                   db.session.execute(table.select()).all())
                for table in Base.metadata.sorted_tables}


# --- sign-in ------------------------------------------------------------------------------------


def test_sign_in_starts_a_session_and_is_audited_with_the_ip(app, make_operator):
    make_operator()
    client = console_client(app)
    client.get("/console/login")
    response = client.post("/console/login", {"email": "  Operator@Example.com ",
                                              "password": OPERATOR_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/overview"
    assert client.get("/console/profile").status_code == 200

    [entry] = audit_entries(app, "operator_login")
    assert entry["ip_address"] == CLIENT_IP
    assert entry["actor_username"] == OPERATOR_EMAIL
    assert entry["log_type"] == "operator"
    assert operator_row(app).last_login_at is not None
    assert audit_entries(app, "operator_login_failed") == []


def test_wrong_password_unknown_email_and_wrong_code_are_refused_alike(app, make_operator):
    make_operator()
    make_operator("totp@example.com", OPERATOR_PASSWORD)
    enable_totp(app, "totp@example.com")
    attempts = [
        (OPERATOR_EMAIL, "not-the-password", ""),
        ("nobody@example.com", OPERATOR_PASSWORD, ""),
        ("totp@example.com", OPERATOR_PASSWORD, "000000"),
        ("totp@example.com", OPERATOR_PASSWORD, ""),
    ]
    pages = []
    for number, (email, password, code) in enumerate(attempts):
        client = console_client(app, f"198.51.100.{number + 1}")
        client.get("/console/login")
        response = client.post("/console/login", {"email": email, "password": password,
                                                  "totp_code": code})
        assert response.status_code == 401
        assert form_error(response) == REFUSAL
        assert is_login_redirect(client.get("/console/users"))
        page = response.get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        pages.append(page.replace(email, "EMAIL").replace(token, "TOKEN"))
    assert len(set(pages)) == 1, "the refusal page differs between the cases"

    failures = audit_entries(app, "operator_login_failed")
    assert [(f["actor_username"], f["ip_address"]) for f in failures] == [
        (email, f"198.51.100.{n + 1}") for n, (email, _, _) in enumerate(attempts)]
    assert audit_entries(app, "operator_login") == []


def test_unknown_email_costs_the_same_bcrypt_check_as_a_wrong_password(app, make_operator,
                                                                       monkeypatch):
    make_operator()
    client = console_client(app)
    client.get("/console/login")
    calls = BcryptCalls(monkeypatch)
    client.post("/console/login", {"email": OPERATOR_EMAIL, "password": "wrong-password-1"})
    wrong_password = calls.count
    client.post("/console/login", {"email": "nobody@example.com", "password": "wrong-password-1"})
    unknown_email = calls.count - wrong_password
    assert wrong_password == 1
    assert unknown_email == 1


def test_odd_input_is_a_refusal_not_an_error(app, make_operator):
    make_operator()
    client = console_client(app)
    client.get("/console/login")
    for email, password in [("op\x00@example.com", "x"), ("x" * 5000, "y" * 5000),
                            ("", ""), (OPERATOR_EMAIL, "\x00" * 10)]:
        response = client.post("/console/login", {"email": email, "password": password})
        assert response.status_code == 401, email[:20]
        assert form_error(response) == REFUSAL
    response = client.post("/console/login", {})
    assert response.status_code == 401


# --- sign-out -----------------------------------------------------------------------------------


def test_sign_out_is_audited_and_the_old_cookie_stops_working(app, make_operator):
    make_operator()
    client = signed_in(app)
    cookie = client.client.get_cookie("gotrue-console").value
    version = operator_row(app).session_version

    response = client.post("/console/logout")
    assert is_login_redirect(response)
    assert is_login_redirect(client.get("/console/users"))
    [entry] = audit_entries(app, "operator_logout")
    assert entry["ip_address"] == CLIENT_IP
    assert entry["actor_username"] == OPERATOR_EMAIL
    assert operator_row(app).session_version == version + 1
    # The page after sign-out says so.
    assert "You have signed out." in client.get("/console/login").get_data(as_text=True)

    # A copy of the signed-in cookie is useless after sign-out.
    replay = app.test_client()
    replay.set_cookie("gotrue-console", cookie)
    assert is_login_redirect(replay.get("/console/users"))


def test_logout_needs_a_post(console):
    response = console.get("/console/logout")
    assert response.status_code == 405
    assert console.get("/console/profile").status_code == 200


# --- the cookie ---------------------------------------------------------------------------------


def _set_cookie_attributes(header: str) -> tuple[str, str, dict[str, str]]:
    name_value, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = name_value.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        parsed[key.lower()] = val
    return name, value, parsed


def test_cookie_flags_over_http(app, make_operator):
    make_operator()
    client = console_client(app)
    client.get("/console/login")
    response = client.post("/console/login", {"email": OPERATOR_EMAIL,
                                              "password": OPERATOR_PASSWORD})
    name, _, attributes = _set_cookie_attributes(response.headers["Set-Cookie"])
    assert name == "gotrue-console"
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert "secure" not in attributes
    assert "expires" in attributes  # bounded by the absolute lifetime


def test_cookie_over_https_is_secure_and_host_prefixed(make_app, make_operator):
    make_operator()
    app = make_app(**{"api.external_url": "https://auth.example.com"})
    client = app.test_client()
    base = {"base_url": "https://auth.example.com",
            "headers": {"Referer": "https://auth.example.com/console/login"}}
    page = client.get("/console/login", base_url=base["base_url"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/console/login", data={
        "email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD, "csrf_token": token}, **base)
    assert response.status_code == 303
    name, _, attributes = _set_cookie_attributes(response.headers["Set-Cookie"])
    assert name == "__Host-gotrue-console"
    assert "secure" in attributes and "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert client.get("/console/profile", base_url=base["base_url"]).status_code == 200
    # Over HTTPS the CSRF check also wants a same-origin Referer.
    page = client.get("/console/profile", base_url=base["base_url"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/console/profile/totp", data={"csrf_token": token},
                           base_url=base["base_url"],
                           headers={"Referer": "https://evil.example.net/"})
    assert response.status_code == 400
    assert operator_row(app).totp_secret is None


def test_sign_in_gives_a_new_cookie_and_the_old_one_is_useless(app, make_operator):
    make_operator()
    client = console_client(app)
    client.get("/console/login")
    before = client.client.get_cookie("gotrue-console").value
    token_before = client.csrf_token
    response = client.post("/console/login", {"email": OPERATOR_EMAIL,
                                              "password": OPERATOR_PASSWORD})
    assert response.status_code == 303
    after = client.client.get_cookie("gotrue-console").value
    assert after != before

    # A cookie planted before sign-in (session fixation) does not ride on the new session.
    planted = app.test_client()
    planted.set_cookie("gotrue-console", before)
    assert is_login_redirect(planted.get("/console/users"))
    # Nor does the CSRF token of the page before sign-in.
    response = client.client.post("/console/profile/totp", data={"csrf_token": token_before})
    assert response.status_code == 400
    assert operator_row(app).totp_secret is None


# --- lifetimes ----------------------------------------------------------------------------------


def test_idle_timeout_sends_back_to_login_with_next(app, console):
    clock = freeze_clock(app)
    console.get("/console/profile")
    for _ in range(3):  # activity keeps the session alive past the idle timeout
        clock.advance(minutes=29)
        assert console.get("/console/profile").status_code == 200
    clock.advance(minutes=30, seconds=1)
    response = console.get("/console/users?q=ann&sort=email")
    assert is_login_redirect(response)
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {
        "next": ["/console/users?q=ann&sort=email"]}
    # The session is gone for good, even if the clock went back.
    clock.advance(minutes=-30)
    assert is_login_redirect(console.get("/console/profile"))


def test_absolute_lifetime_ends_an_active_session(make_app, make_operator):
    make_operator()
    app = make_app(**{"console.max_age": timedelta(hours=1)})
    clock = freeze_clock(app)
    client = signed_in(app)
    for _ in range(3):
        clock.advance(minutes=20)
        assert client.get("/console/profile").status_code == 200
    clock.advance(minutes=1)
    response = client.get("/console/profile")
    assert is_login_redirect(response)
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {
        "next": ["/console/profile"]}


def test_signing_in_again_follows_next(app, console):
    clock = freeze_clock(app)
    clock.advance(hours=1)
    response = console.get("/console/users?q=bob")
    assert is_login_redirect(response)
    next_path = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    console.get(response.headers["Location"])
    response = console.post("/console/login", {"email": OPERATOR_EMAIL,
                                               "password": OPERATOR_PASSWORD,
                                               "next": next_path})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/users?q=bob"


def test_htmx_request_without_a_session_gets_hx_redirect(anonymous_console):
    # Not a redirect status: the XHR would follow it and swap the login page into a fragment.
    response = anonymous_console.get(
        "/console/users?q=x", htmx=True,
        headers={"HX-Current-URL": "http://localhost/console/users?q=x&sort=email"})
    assert response.status_code == 401
    target = response.headers["HX-Redirect"]
    assert urlsplit(target).path == "/console/login"
    assert parse_qs(urlsplit(target).query) == {"next": ["/console/users?q=x&sort=email"]}
    assert "Location" not in response.headers

    response = anonymous_console.post("/console/profile/totp", htmx=True,
                                      headers={"HX-Current-URL": "https://evil.test/x"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/console/login"


@pytest.mark.parametrize("target", [
    "//evil.test", "https://evil.test", "/\\evil.test", "\\\\evil.test", "http:evil.test",
    "javascript:alert(1)", "/console\\..\\\\evil.test", "/console/../..//evil.test",
    "/console/%2e%2e/%2e%2e//evil.test", "/console/\r\nSet-Cookie:x=1", "/consoles",
    " //evil.test", "https://localhost/console/users",
])
def test_next_stays_inside_the_console(app, make_operator, target):
    make_operator()
    client = console_client(app)
    client.get("/console/login?next=" + quote(target, safe=""))
    response = client.post("/console/login", {"email": OPERATOR_EMAIL,
                                              "password": OPERATOR_PASSWORD, "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/overview"
    # Already signed in: the login page forwards, with the same rule.
    response = client.get("/console/login?next=" + quote(target, safe=""))
    assert response.headers["Location"] == "/console/overview"


def test_login_page_when_signed_in_forwards_and_keeps_the_session(console):
    response = console.get("/console/login?next=/console/audit")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/audit"
    assert console.get("/console/profile").status_code == 200


# --- session version ----------------------------------------------------------------------------


def test_password_change_ends_the_other_sessions(app, make_operator):
    make_operator()
    mine = signed_in(app)
    other = signed_in(app, ip="198.51.100.7")
    new_password = "a-brand-new-password"

    response = mine.post("/console/profile/password", {
        "current_password": OPERATOR_PASSWORD, "password": new_password,
        "password_confirm": new_password})
    assert response.status_code == 303
    assert "Password changed" in mine.get("/console/profile").get_data(as_text=True)
    assert is_login_redirect(other.get("/console/profile"))
    [entry] = audit_entries(app, "operator_password_changed")
    assert entry["ip_address"] == CLIENT_IP

    assert console_client(app).login(OPERATOR_EMAIL, OPERATOR_PASSWORD).status_code == 401
    assert console_client(app).login(OPERATOR_EMAIL, new_password).status_code == 303


@pytest.mark.parametrize("form, message", [
    ({"current_password": "wrong-password", "password": "another-password-1",
      "password_confirm": "another-password-1"}, "The password is not right."),
    ({"current_password": OPERATOR_PASSWORD, "password": "another-password-1",
      "password_confirm": "another-password-2"}, "The two new passwords differ."),
    ({"current_password": OPERATOR_PASSWORD, "password": "short",
      "password_confirm": "short"}, "An operator password needs at least 12 characters."),
])
def test_password_change_refusals_change_nothing(app, console, form, message):
    before = operator_row(app)
    response = console.post("/console/profile/password", form)
    assert response.status_code == 303
    assert message in console.get("/console/profile").get_data(as_text=True)
    after = operator_row(app)
    assert (after.password_hash, after.session_version) == (before.password_hash,
                                                            before.session_version)
    assert audit_entries(app, "operator_password_changed") == []


def test_guessing_the_current_password_is_throttled(make_app, make_operator):
    make_operator()
    app = make_app(**{"console.login_attempts": 2})
    client = signed_in(app)
    form = {"current_password": "guess", "password": "another-password-1",
            "password_confirm": "another-password-1"}
    for _ in range(2):
        client.post("/console/profile/password", form)
    assert len(audit_entries(app, "operator_login_failed")) == 2
    response = client.post("/console/profile/password",
                           {**form, "current_password": OPERATOR_PASSWORD})
    assert response.status_code == 303
    assert "Too many failed sign-ins" in client.get("/console/profile").get_data(as_text=True)
    assert rt_verify(app, OPERATOR_PASSWORD)


def rt_verify(app, password: str) -> bool:
    return app.extensions["gotrue"].hasher.verify(password, operator_row(app).password_hash)


# --- TOTP ---------------------------------------------------------------------------------------


def test_totp_enrolment_confirmation_sign_in_and_disable(app, make_operator):
    rt = app.extensions["gotrue"]
    freeze_clock(app)  # codes of "now" stay of one 30 s step
    make_operator()
    client = signed_in(app)
    other = signed_in(app, ip="198.51.100.7")

    response = client.post("/console/profile/totp")
    assert response.status_code == 303
    page = client.get("/console/profile").get_data(as_text=True)
    row = operator_row(app)
    assert row.totp_secret and not row.totp_enabled
    assert "<svg" in page and 'class="segno"' in page
    assert row.totp_secret in page
    secret = row.totp_secret

    totp = pyotp.TOTP(secret)
    wrong = next(code for code in ("123456", "654321", "111111", "222222")
                 if not totp.verify(code, for_time=rt.now(), valid_window=1))
    response = client.post("/console/profile/totp/confirm", {"code": wrong})
    assert response.status_code == 422
    assert "That code did not match" in response.get_data(as_text=True)
    assert not operator_row(app).totp_enabled

    response = client.post("/console/profile/totp/confirm",
                           {"code": pyotp.TOTP(secret).at(rt.now())})
    assert response.status_code == 303
    assert "Two-factor sign-in is on." in client.get("/console/profile").get_data(as_text=True)
    assert operator_row(app).totp_enabled
    [entry] = audit_entries(app, "operator_totp_enabled")
    assert entry["ip_address"] == CLIENT_IP
    assert is_login_redirect(other.get("/console/profile"))  # other sessions ended

    # Sign-in now needs the code.
    response = console_client(app).login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    assert response.status_code == 401 and form_error(response) == REFUSAL
    # The confirming code is used up (no replay): the next step's code signs in.
    response = console_client(app).login(OPERATOR_EMAIL, OPERATOR_PASSWORD,
                                         pyotp.TOTP(secret).at(rt.now()))
    assert response.status_code == 401 and form_error(response) == REFUSAL
    response = console_client(app).login(OPERATOR_EMAIL, OPERATOR_PASSWORD,
                                         pyotp.TOTP(secret).at(rt.now(), counter_offset=1))
    assert response.status_code == 303

    # A new enrolment cannot quietly replace (and so switch off) the active factor.
    client.post("/console/profile/totp")
    row = operator_row(app)
    assert row.totp_enabled and row.totp_secret == secret

    # Turning it off needs the password.
    client.post("/console/profile/totp/disable", {"current_password": "wrong-password"})
    assert operator_row(app).totp_enabled
    assert "The password is not right." in client.get("/console/profile").get_data(as_text=True)
    client.post("/console/profile/totp/disable", {"current_password": OPERATOR_PASSWORD})
    row = operator_row(app)
    assert not row.totp_enabled and row.totp_secret is None
    [entry] = audit_entries(app, "operator_totp_disabled")
    assert entry["ip_address"] == CLIENT_IP
    assert console_client(app).login(OPERATOR_EMAIL, OPERATOR_PASSWORD).status_code == 303


# --- CSRF and safe methods ----------------------------------------------------------------------


@pytest.fixture
def populated(app, api, make_operator):
    """Two signed-in operators and a user with a session, for routes that take ids."""
    make_operator()
    make_operator("second@example.com", OPERATOR_PASSWORD)
    session = api.session("member@example.com")
    session_id = claims(session["access_token"])["session_id"]
    return {
        "mine": signed_in(app),
        "theirs": signed_in(app, "second@example.com", ip="198.51.100.7"),
        "args": {"user_id": session["user"]["id"], "session_id": session_id,
                 "factor_id": str(uuid.uuid4()), "kind": "invite", "fmt": "csv",
                 "identity_id": str(uuid.uuid4()), "name": "github",
                 "operator_id": str(uuid.uuid4()), "path": "disable_signup",
                 "provider_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
                 "passkey_id": str(uuid.uuid4())},
    }


def console_routes(app, method: str) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console.") and method in rule.methods:
            routes.append((rule.endpoint, rule.rule))
    return sorted(routes)


def _url(app, rule: str, args: dict) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: args[m.group(1)], rule)


def test_every_console_post_refuses_a_missing_or_foreign_csrf_token(app, populated):
    posts = console_routes(app, "POST")
    assert len(posts) >= 25, posts  # the whole table, not a handful
    mine, theirs = populated["mine"], populated["theirs"]
    foreign_token = theirs.csrf_token
    assert foreign_token and foreign_token != mine.csrf_token
    before = snapshot(app)
    for endpoint, rule in posts:
        url = _url(app, rule, populated["args"])
        attempts = {
            "no token": mine.post(url, {}, csrf=False),
            "no token (htmx)": mine.post(url, {}, htmx=True, csrf=False),
            "foreign token": mine.post(url, {"csrf_token": foreign_token}),
            "foreign token (htmx)": mine.client.post(
                url, headers={"HX-Request": "true", "X-CSRFToken": foreign_token}),
            "garbage token": mine.post(url, {"csrf_token": "x" * 40}),
        }
        for label, response in attempts.items():
            assert response.status_code == 400, (endpoint, label, response.status_code)
            assert "This form has expired" in response.get_data(as_text=True), (endpoint, label)
    assert snapshot(app) == before
    # The client itself is still signed in and its own token works.
    assert mine.get("/console/profile").status_code == 200


def test_anonymous_post_without_token_is_refused_before_anything_else(app, anonymous_console):
    before = snapshot(app)
    response = anonymous_console.client.post("/console/login", data={
        "email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_no_console_get_changes_the_database(app, populated):
    mine = populated["mine"]
    gets = console_routes(app, "GET")
    assert len(gets) >= 12, gets
    before = snapshot(app)
    for endpoint, rule in gets:
        for htmx in (False, True):
            response = mine.get(_url(app, rule, populated["args"]), htmx=htmx)
            assert response.status_code < 500 or response.status_code == 501, (
                endpoint, response.status_code)
    assert snapshot(app) == before


# --- headers and the API ------------------------------------------------------------------------


def _assert_console_headers(response, label: str):
    csp = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp, label
    assert "style-src 'self'" in csp, label
    assert "frame-ancestors 'none'" in csp, label
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, label
    assert response.headers.get("X-Frame-Options") == "DENY", label
    assert response.headers.get("X-Content-Type-Options") == "nosniff", label
    assert "no-store" in response.headers.get("Cache-Control", ""), label


def test_security_headers_on_every_kind_of_console_response(app, console, anonymous_console):
    responses = {
        "login page": anonymous_console.get("/console/login"),
        "redirect to login": anonymous_console.get("/console/users"),
        "htmx redirect": anonymous_console.get("/console/users", htmx=True),
        "csrf refusal": console.post("/console/profile/totp", csrf=False),
        "not found": console.get("/console/no-such-page"),
        "profile": console.get("/console/profile"),
        "wrong method": console.get("/console/logout"),
        "refused sign-in": anonymous_console.post("/console/login",
                                                  {"email": "a@b.c", "password": "x"}),
    }
    for label, response in responses.items():
        _assert_console_headers(response, label)


def test_api_never_opens_a_cookie_session(console):
    # The browser that holds a console cookie sends it to the API too.
    browser = console.client
    assert browser.get_cookie("gotrue-console") is not None
    headers = {"X-Supabase-Api-Version": "2024-01-01"}
    credentials = {"email": "api-user@example.com", "password": "password-123"}
    responses = [
        browser.get("/settings", headers=headers),
        browser.post("/signup", json=credentials, headers=headers),  # no CSRF token needed
        browser.get("/auth/v1/settings", headers=headers),
        browser.post("/token?grant_type=password", json=credentials, headers=headers),
    ]
    for response in responses:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    # The console cookie authorises nothing on the API, which wants a bearer token.
    response = browser.get("/user", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"
