"""A third-party app signing its users in through this server, as a relying party built on
authlib would, over real HTTP only: discovery from /.well-known/openid-configuration, the
authorization request with PKCE S256, the consent page's two API calls (what the app asks for,
then approve or deny) made with the user's access token, the code exchange, the ID token
verified against the JWKS the discovery names, /oauth/userinfo, the refresh, and the user's
view of the grant (list, then revoke: the app's sessions end).

The issuer is the server's own URL, so every endpoint the discovery document gives is the one
the app reaches."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from ..conftest import ServedApp
from ..factories import audit_entries
from .conftest import REDIRECT_URI, oauth_overrides, register_client

HTTP_TIMEOUT = 30


class Site:
    """Our server on a loopback port whose URL is also its JWT issuer."""

    def __init__(self, make_app, signing_keys):
        # The socket first: the issuer is the URL it got.
        holder = {}
        self._served = ServedApp(lambda environ, start: holder["app"](environ, start))
        self.url = self._served.url
        self.app = holder["app"] = make_app(
            **oauth_overrides(signing_keys, **{"jwt.issuer": self.url}))
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()
        self._served.stop()

    def user_session(self) -> dict:
        """A new user, signed up (autoconfirm) through the API."""
        email = f"rp-{secrets.token_hex(4)}@example.com"
        answer = self.http.post(self.url + "/signup", timeout=HTTP_TIMEOUT,
                                json={"email": email, "password": "password-123"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def as_user(self, method: str, path: str, session: dict, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {session['access_token']}",
                   "X-Supabase-Api-Version": "2024-01-01"}
        return self.http.request(method, self.url + path, headers=headers,
                                 timeout=HTTP_TIMEOUT, **kwargs)


@pytest.fixture
def site(make_app, signing_keys):
    running = Site(make_app, signing_keys)
    yield running
    running.close()


@pytest.fixture
def discovery(site) -> dict:
    answer = requests.get(site.url + "/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200
    return answer.json()


def _authorization_id(location: str) -> str:
    return parse_qs(urlsplit(location).query)["authorization_id"][0]


def _start(site: Site, rp: OAuth2Session, discovery: dict, **extra) -> tuple[str, str, str]:
    """The app sends the browser to /oauth/authorize: (authorization_id, state, verifier)."""
    verifier = secrets.token_urlsafe(48)
    url, state = rp.create_authorization_url(discovery["authorization_endpoint"],
                                             code_verifier=verifier, **extra)
    answer = site.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 302, answer.text
    consent_page = answer.headers["Location"]
    assert consent_page.startswith("http://localhost:3000/oauth/consent?authorization_id=")
    return _authorization_id(consent_page), state, verifier


def _id_token_claims(token: str, discovery: dict, client_id: str, nonce: str) -> dict:
    keys = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=HTTP_TIMEOUT).json())
    decoded = jose_jwt.decode(token, keys, algorithms=["RS256", "ES256"])
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True}, exp={"essential": True}).validate(decoded.claims)
    return decoded.claims


def test_sign_in_with_this_server_from_discovery_to_refresh(site, discovery):
    client = register_client(site.app, redirect_uris=(REDIRECT_URI,))
    user = site.user_session()
    assert discovery["issuer"] == site.url
    assert discovery["code_challenge_methods_supported"] == ["S256", "plain"]

    with OAuth2Session(client.client_id, client.secret, scope="openid email profile",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_basic") as rp:
        authorization_id, state, verifier = _start(site, rp, discovery, nonce="n-0S6_WzA2Mj")
        # The consent page asks what the app wants, then the user approves.
        details = site.as_user("GET", f"/oauth/authorizations/{authorization_id}", user)
        assert details.status_code == 200, details.text
        assert details.json()["client"]["id"] == client.client_id
        assert details.json()["scope"] == "openid email profile"
        approved = site.as_user("POST", f"/oauth/authorizations/{authorization_id}/consent",
                                user, json={"action": "approve"})
        assert approved.status_code == 200, approved.text
        back_at_app = approved.json()["redirect_url"]
        assert back_at_app.startswith(REDIRECT_URI + "?code=")

        token = rp.fetch_token(discovery["token_endpoint"], authorization_response=back_at_app,
                               state=state, code_verifier=verifier)
        assert set(token) >= {"access_token", "refresh_token", "id_token", "expires_in"}
        assert token["token_type"].lower() == "bearer"
        claims = _id_token_claims(token["id_token"], discovery, client.client_id,
                                  "n-0S6_WzA2Mj")
        assert claims["sub"] == user["user"]["id"]
        assert claims["email"] == user["user"]["email"] and claims["email_verified"] is True
        assert claims["client_id"] == client.client_id

        # The access token is an ordinary one of this server, tied to the app.
        profile = rp.get(discovery["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
        assert profile.status_code == 200, profile.text
        assert profile.json()["sub"] == user["user"]["id"]
        assert profile.json()["email"] == user["user"]["email"]
        me = site.as_user("GET", "/user", {"access_token": token["access_token"]})
        assert me.status_code == 200 and me.json()["id"] == user["user"]["id"]

        first_refresh_token = token["refresh_token"]
        # authlib updates its token in place; a new refresh token shows the rotation.
        refreshed = dict(rp.refresh_token(discovery["token_endpoint"]))
        assert refreshed["refresh_token"] != first_refresh_token
        again = rp.get(discovery["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
        assert again.status_code == 200 and again.json()["sub"] == user["user"]["id"]

    # The user sees the grant, and revoking it ends the app's sessions.
    grants = site.as_user("GET", "/user/oauth/grants", user)
    assert [(g["client"]["id"], g["scopes"]) for g in grants.json()] == [
        (client.client_id, ["openid", "email", "profile"])]
    revoked = site.as_user("DELETE", f"/user/oauth/grants?client_id={client.client_id}", user)
    assert revoked.status_code == 204
    after = site.as_user("GET", "/user", {"access_token": refreshed["access_token"]})
    assert after.status_code == 403 and after.json()["code"] == "session_not_found"
    [entry] = audit_entries(site.app, "token_revoked")
    assert entry["traits"] == {"oauth_client_id": client.client_id,
                               "action": "revoke_oauth_grant"}


def test_a_public_client_and_a_second_request_approved_without_asking(site, discovery):
    client = register_client(site.app, client_type="public")
    user = site.user_session()
    with OAuth2Session(client.client_id, scope="email", redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256", token_endpoint_auth_method="none") as rp:
        authorization_id, state, verifier = _start(site, rp, discovery)
        site.as_user("GET", f"/oauth/authorizations/{authorization_id}", user)
        approved = site.as_user("POST", f"/oauth/authorizations/{authorization_id}/consent",
                                user, json={"action": "approve"})
        token = rp.fetch_token(discovery["token_endpoint"],
                               authorization_response=approved.json()["redirect_url"],
                               state=state, code_verifier=verifier)
        assert "id_token" not in token  # no openid scope
        # The same app asking again for what the user already granted: no consent screen.
        second_id, second_state, _ = _start(site, rp, discovery)
        details = site.as_user("GET", f"/oauth/authorizations/{second_id}", user)
        assert details.status_code == 200
        assert set(details.json()) == {"redirect_url"}
        assert parse_qs(urlsplit(details.json()["redirect_url"]).query)["state"] == [
            second_state]


def test_a_denied_request_sends_the_app_an_error_and_no_code(site, discovery):
    client = register_client(site.app)
    user = site.user_session()
    with OAuth2Session(client.client_id, client.secret, scope="email",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256") as rp:
        authorization_id, state, _ = _start(site, rp, discovery)
        site.as_user("GET", f"/oauth/authorizations/{authorization_id}", user)
        denied = site.as_user("POST", f"/oauth/authorizations/{authorization_id}/consent",
                              user, json={"action": "deny"})
    query = parse_qs(urlsplit(denied.json()["redirect_url"]).query)
    assert query == {"error": ["access_denied"], "error_description": ["User denied the request"],
                     "state": [state]}


def test_a_code_stolen_on_the_way_is_useless_without_the_verifier(site, discovery):
    client = register_client(site.app)
    user = site.user_session()
    with OAuth2Session(client.client_id, client.secret, scope="email",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256") as rp:
        authorization_id, _, _ = _start(site, rp, discovery)
        site.as_user("GET", f"/oauth/authorizations/{authorization_id}", user)
        approved = site.as_user("POST", f"/oauth/authorizations/{authorization_id}/consent",
                                user, json={"action": "approve"})
    code = parse_qs(urlsplit(approved.json()["redirect_url"]).query)["code"][0]
    attempt = site.http.post(discovery["token_endpoint"], timeout=HTTP_TIMEOUT,
                             auth=(client.client_id, client.secret),
                             data={"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": REDIRECT_URI,
                                   "code_verifier": secrets.token_urlsafe(48)})
    assert attempt.status_code == 400
    assert attempt.json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: code challenge does not match "
                             "previously saved code verifier"}
