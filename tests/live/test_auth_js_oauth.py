"""The official JavaScript client (npm ``@supabase/auth-js``) doing OAuth against the server over
real HTTP: signInWithOAuth (implicit and PKCE), exchangeCodeForSession, signInWithIdToken,
linkIdentity, getUserIdentities and unlinkIdentity (spec oauth-sso.md sections 1, 3, 4).

tests/live/js/oauth_driver.mjs keeps the clients alive between commands, so the client that
starts a flow still holds its code verifier and session when the test has played the browser's
part (oauth_dance.follow, with ``requests``, one hop at a time). "land" is a page load at the
URL the server redirected to, in a browser sharing the client's storage: auth-js's own URL
detection takes the session from the fragment (implicit) or exchanges the code (PKCE).
The providers are fakes on loopback (tests/support/fake_oauth.py).
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import User

from ..conftest import table_rows
from ..factories import unique_email, verified_claims
from .oauth_dance import (WELCOME, OAuthServers, flow_states, follow, github_fake, google_fake,
                          google_id_token, identity_rows, params)

pytestmark = pytest.mark.live

ANSWER_SECONDS = 60
PASSWORD = "password-123"
LINKING = {"security.manual_linking_enabled": True}
VERIFIER_KEY = "supabase.auth.token-code-verifier"


class AuthJs:
    """One node process running oauth_driver.mjs: a command out, an answer back."""

    def __init__(self, js_dir: Path, base_url: str, stderr_path: Path):
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "w")
        self.process = subprocess.Popen(
            ["node", "oauth_driver.mjs", base_url], cwd=js_dir, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.answers: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def send(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        try:
            line = self.answers.get(timeout=ANSWER_SECONDS)
        except queue.Empty:
            pytest.fail(f"the auth-js driver did not answer {command['op']} in "
                        f"{ANSWER_SECONDS}s")
        if line is None:
            pytest.fail(f"the auth-js driver exited:\n{self.stderr_path.read_text()[-3000:]}")
        answer = json.loads(line)
        assert "thrown" not in answer, answer["thrown"]
        return answer

    def new(self, name: str, flow_type: str = "implicit") -> None:
        self.send(op="new", client=name, flowType=flow_type)

    def call(self, name: str, method: str, *args) -> dict:
        return self.send(op="call", client=name, method=method, args=list(args))

    def land(self, name: str, url: str) -> dict:
        return self.send(op="land", client=name, url=url)

    def storage(self, name: str) -> list[str]:
        return self.send(op="storage", client=name)["keys"]

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.reader.join(timeout=5)
        self.process.stdout.close()
        self.stderr.close()


@pytest.fixture
def github(servers):
    return github_fake(servers)


@pytest.fixture
def google(servers):
    return google_fake(servers)


@pytest.fixture
def start(make_app, settings, auth_js, tmp_path):
    """``start(fakes, prefix="", **overrides)`` -> (server, driver for that server)."""
    servers = OAuthServers(make_app, settings)
    drivers: list[AuthJs] = []

    def begin(fakes: dict, prefix: str = "", **overrides):
        server = servers.start(fakes, prefix=prefix, **overrides)
        driver = AuthJs(auth_js, server.url, tmp_path / f"node-{len(drivers)}.log")
        drivers.append(driver)
        return server, driver

    yield begin
    for driver in drivers:
        driver.close()
    servers.close()


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def api_error(result: dict) -> tuple:
    error = result["error"]
    assert error is not None, result
    return error["name"], error["status"], error["code"]


def _signed_up(js: AuthJs, name: str) -> str:
    js.new(name)
    answer = js.call(name, "signUp", {"email": unique_email("js"), "password": PASSWORD})
    assert answer["error"] is None and answer["data"]["session"], answer
    return answer["data"]["user"]["id"]


@pytest.mark.parametrize("prefix", ["", "/auth/v1"], ids=["root", "auth-v1"])
def test_implicit_sign_in_with_oauth_lands_with_the_session(start, github, prefix):
    server, js = start({"github": github}, prefix=prefix)
    js.new("a")
    started = js.call("a", "signInWithOAuth", {"provider": "github", "options": {
        "redirectTo": WELCOME, "scopes": "repo", "skipBrowserRedirect": True}})
    assert started["error"] is None
    assert started["data"]["provider"] == "github"
    url = started["data"]["url"]
    assert url.startswith(server.url + "/authorize?")
    assert _query(url) == {"provider": "github", "redirect_to": WELCOME, "scopes": "repo"}

    landed_at = follow(url, server, github)
    assert landed_at.startswith(WELCOME + "#access_token=")
    (authorize,) = github.requests_to("/login/oauth/authorize")
    assert "repo" in authorize["args"]["scope"].split()
    assert flow_states(server.app) == []

    landed = js.land("a", landed_at)
    assert landed["error"] is None
    session = landed["session"]
    # auth-js clears the tokens from the address bar.
    assert "access_token" not in landed["url_after"]
    assert session["provider_token"] in github.access_tokens
    assert session["provider_refresh_token"] == "provider-refresh-1"
    user = session["user"]
    assert user["email"] == "octo@example.com" and user["email_confirmed_at"]
    assert user["app_metadata"] == {"provider": "github", "providers": ["github"]}
    assert [i["provider"] for i in user["identities"]] == ["github"]
    claims = verified_claims(session["access_token"])
    assert claims["sub"] == user["id"]
    assert [entry["method"] for entry in claims["amr"]] == ["oauth"]
    # The client that started the flow shares the storage, so it is signed in too.
    assert js.call("a", "getSession")["data"]["session"]["user"]["id"] == user["id"]
    assert [(row.provider, row.provider_id, row.email)
            for row in identity_rows(server.app, user["id"])] == [
        ("github", "4242", "octo@example.com")]


def test_pkce_sign_in_with_oauth_then_exchange_code_for_session(start, github):
    server, js = start({"github": github})
    js.new("a", "pkce")
    started = js.call("a", "signInWithOAuth", {"provider": "github", "options": {
        "redirectTo": WELCOME, "skipBrowserRedirect": True}})
    sent = _query(started["data"]["url"])
    assert sent["code_challenge_method"] == "s256" and sent["code_challenge"]
    assert VERIFIER_KEY in js.storage("a")

    landed_at = follow(started["data"]["url"], server, github)
    (flow,) = flow_states(server.app)
    assert landed_at == f"{WELCOME}?code={flow.auth_code}"
    assert flow.user_id is not None and flow.code_challenge_method.value == "s256"

    exchanged = js.call("a", "exchangeCodeForSession", params(landed_at)["code"])
    assert exchanged["error"] is None
    session = exchanged["data"]["session"]
    assert session["provider_token"] == flow.provider_access_token
    assert session["provider_refresh_token"] == "provider-refresh-1"
    assert exchanged["data"]["user"]["id"] == str(flow.user_id)
    assert exchanged["data"]["user"]["email"] == "octo@example.com"
    assert VERIFIER_KEY not in js.storage("a")
    assert flow_states(server.app) == []

    # The code is single use: another client with a verifier of its own gets nothing.
    js.new("b", "pkce")
    js.call("b", "signInWithOAuth", {"provider": "github", "options": {
        "skipBrowserRedirect": True}})
    again = js.call("b", "exchangeCodeForSession", flow.auth_code)
    assert api_error(again) == ("AuthApiError", 404, "flow_state_not_found")


def test_pkce_landing_exchanges_the_code_from_the_url(start, google):
    """The browser path of PKCE: auth-js finds the code in the URL and the verifier in storage
    (here through the OIDC fake, whose token reply carries a signed id_token)."""
    server, js = start({"google": google})
    js.new("a", "pkce")
    started = js.call("a", "signInWithOAuth", {"provider": "google", "options": {
        "redirectTo": WELCOME, "skipBrowserRedirect": True}})
    landed_at = follow(started["data"]["url"], server, google)
    assert landed_at.startswith(WELCOME + "?code=")
    landed = js.land("a", landed_at)
    assert landed["error"] is None
    assert "code=" not in landed["url_after"]
    user = landed["session"]["user"]
    assert user["email"] == "gina@example.com"
    assert landed["session"]["provider_token"] in google.access_tokens
    assert [(row.provider, row.provider_id) for row in identity_rows(server.app, user["id"])] == [
        ("google", "google-sub-1")]
    assert flow_states(server.app) == []


def test_a_provider_refusal_reaches_the_client_as_a_redirect_error(start, github):
    github.deny = True
    server, js = start({"github": github})
    js.new("a")
    started = js.call("a", "signInWithOAuth", {"provider": "github", "options": {
        "redirectTo": WELCOME, "skipBrowserRedirect": True}})
    landed = js.land("a", follow(started["data"]["url"], server, github))
    assert landed["error"]["name"] == "AuthImplicitGrantRedirectError"
    assert landed["error"]["message"] == "The user said no"
    # The provider's error carries no error_code (spec 1.3); auth-js fills in its own.
    assert landed["error"]["details"] == {"error": "access_denied", "code": "unspecified_code"}
    assert landed["session"] is None
    assert table_rows(server.app, sa.select(User.id)) == []


def test_sign_in_with_id_token(start, google):
    server, js = start({"google": google})
    js.new("a")
    token = google_id_token(google, nonce="raw-nonce-1")
    answer = js.call("a", "signInWithIdToken", {"provider": "google", "token": token,
                                                "nonce": "raw-nonce-1"})
    assert answer["error"] is None
    user = answer["data"]["user"]
    assert user["email"] == "gina@example.com"
    assert user["app_metadata"] == {"provider": "google", "providers": ["google"]}
    assert "provider_token" not in answer["data"]["session"]
    assert js.call("a", "getSession")["data"]["session"]["user"]["id"] == user["id"]
    assert [(row.provider, row.provider_id) for row in identity_rows(server.app, user["id"])] == [
        ("google", "google-sub-1")]

    js.new("b")
    mismatch = js.call("b", "signInWithIdToken", {"provider": "google", "token": token,
                                                  "nonce": "another-nonce"})
    assert mismatch["error"]["name"] == "AuthApiError"
    assert mismatch["error"]["status"] == 400
    assert mismatch["error"]["message"] == "Nonces mismatch"
    assert js.call("b", "getSession")["data"]["session"] is None
    assert len(table_rows(server.app, sa.select(User.id))) == 1


def test_link_identity_get_user_identities_and_unlink_identity(start, github):
    server, js = start({"github": github}, **LINKING)
    user_id = _signed_up(js, "a")

    started = js.call("a", "linkIdentity", {"provider": "github", "options": {
        "redirectTo": WELCOME, "skipBrowserRedirect": True}})
    assert started["error"] is None and started["data"]["provider"] == "github"
    # The server answered the URL as JSON (skip_http_redirect): it is the provider's page.
    assert started["data"]["url"].startswith(github.url + "/login/oauth/authorize?")
    landed = js.land("a", follow(started["data"]["url"], server, github))
    assert landed["error"] is None
    assert landed["session"]["user"]["id"] == user_id
    assert landed["session"]["provider_token"] in github.access_tokens

    linked = js.call("a", "getUserIdentities")
    assert linked["error"] is None
    identities = linked["data"]["identities"]
    assert sorted(i["provider"] for i in identities) == ["email", "github"]
    assert {i["user_id"] for i in identities} == {user_id}
    assert [(row.provider, row.provider_id) for row in identity_rows(server.app, user_id)] == [
        ("email", user_id), ("github", "4242")]

    # The same identity again: the callback refuses it, auth-js reports the redirect error.
    again = js.call("a", "linkIdentity", {"provider": "github", "options": {
        "redirectTo": WELCOME, "skipBrowserRedirect": True}})
    refused = js.land("a", follow(again["data"]["url"], server, github))
    assert refused["error"]["name"] == "AuthImplicitGrantRedirectError"
    assert refused["error"]["message"] == "Identity is already linked"
    assert refused["error"]["details"] == {"error": "server_error",
                                           "code": "identity_already_exists"}
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["email", "github"]

    (github_identity,) = [i for i in identities if i["provider"] == "github"]
    unlinked = js.call("a", "unlinkIdentity", github_identity)
    assert unlinked["error"] is None
    remaining = js.call("a", "getUserIdentities")["data"]["identities"]
    assert [i["provider"] for i in remaining] == ["email"]
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["email"]
    assert js.call("a", "getUser")["data"]["user"]["app_metadata"]["providers"] == ["email"]

    last = js.call("a", "unlinkIdentity", remaining[0])
    assert api_error(last) == ("AuthApiError", 422, "single_identity_not_deletable")
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["email"]


def test_link_identity_with_pkce_and_an_id_token(start, github, google):
    server, js = start({"github": github, "google": google}, **LINKING)
    js.new("a", "pkce")
    signed_up = js.call("a", "signUp", {"email": unique_email("js"), "password": PASSWORD})
    user_id = signed_up["data"]["user"]["id"]
    started = js.call("a", "linkIdentity", {"provider": "github", "options": {
        "redirectTo": WELCOME, "skipBrowserRedirect": True}})
    landed_at = follow(started["data"]["url"], server, github)
    assert landed_at.startswith(WELCOME + "?code=")
    exchanged = js.call("a", "exchangeCodeForSession", params(landed_at)["code"])
    assert exchanged["error"] is None
    assert exchanged["data"]["user"]["id"] == user_id
    assert sorted(i["provider"] for i in exchanged["data"]["user"]["identities"]) == [
        "email", "github"]
    assert flow_states(server.app) == []

    # linkIdentity with a token links through the id_token grant (link_identity: true).
    token = google_id_token(google, nonce="n-1")
    linked = js.call("a", "linkIdentity", {"provider": "google", "token": token,
                                           "nonce": "n-1"})
    assert linked["error"] is None
    assert linked["data"]["user"]["id"] == user_id
    assert [row.provider for row in identity_rows(server.app, user_id)] == [
        "email", "github", "google"]

    # Another user cannot link the github account this user has ...
    other_id = _signed_up(js, "b")
    other_started = js.call("b", "linkIdentity", {"provider": "github", "options": {
        "skipBrowserRedirect": True}})
    refused = js.land("b", follow(other_started["data"]["url"], server, github))
    assert refused["error"]["message"] == "Identity is already linked to another user"
    assert refused["error"]["details"]["code"] == "identity_already_exists"
    # ... nor, holding two identities of their own, unlink one of this user's.
    own_token = google_id_token(google, nonce="n-2", sub="google-sub-2",
                                email="other@example.com")
    assert js.call("b", "linkIdentity", {"provider": "google", "token": own_token,
                                         "nonce": "n-2"})["error"] is None
    assert [row.provider for row in identity_rows(server.app, other_id)] == ["email", "google"]
    (google_identity,) = [i for i in js.call("a", "getUserIdentities")["data"]["identities"]
                          if i["provider"] == "google"]
    not_theirs = js.call("b", "unlinkIdentity", google_identity)
    assert api_error(not_theirs) == ("AuthApiError", 422, "identity_not_found")
    bad_id = js.call("a", "unlinkIdentity", {**google_identity, "identity_id": "not-a-uuid"})
    assert api_error(bad_id) == ("AuthApiError", 404, "validation_failed")
    assert [row.provider for row in identity_rows(server.app, user_id)] == [
        "email", "github", "google"]


def test_link_identity_is_refused_when_manual_linking_is_off(start, github):
    server, js = start({"github": github})
    user_id = _signed_up(js, "a")
    refused = js.call("a", "linkIdentity", {"provider": "github", "options": {
        "skipBrowserRedirect": True}})
    assert api_error(refused) == ("AuthApiError", 404, "manual_linking_disabled")
    assert refused["error"]["message"] == "Manual linking is disabled"
    assert refused["data"]["url"] is None
    # Unlinking is part of manual linking: refused before any other rule.
    (only,) = js.call("a", "getUserIdentities")["data"]["identities"]
    assert api_error(js.call("a", "unlinkIdentity", only)) == (
        "AuthApiError", 404, "manual_linking_disabled")
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["email"]
    assert flow_states(server.app) == []
