"""Shared by the OAuth tests of the official clients (test_auth_js_oauth.py,
test_supabase_auth_oauth.py): the server over real HTTP with fake providers on loopback, and a
browser that follows the dance one hop at a time with ``requests``, asserting each hop.
"""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity
from gotrue_web.services.oauth import oidc

from ..api.oauth.conftest import provider_settings
from ..conftest import LiveServer, ServedApp, table_rows
from ..support.fake_oauth import GITHUB_ROUTES, GOOGLE_ROUTES, FakeProvider, rsa_key

WELCOME = "http://localhost:3000/welcome"
HOP_SECONDS = 15


def github_fake(servers) -> FakeProvider:
    fake = servers(FakeProvider(GITHUB_ROUTES))
    fake.documents["/api/v3/user"] = {"id": 4242, "login": "octocat", "name": "Octo Cat",
                                      "avatar_url": "https://avatars.example/octo.png"}
    fake.documents["/api/v3/user/emails"] = [
        {"email": "octo@example.com", "verified": True, "primary": True}]
    return fake


def google_fake(servers) -> FakeProvider:
    fake = servers(FakeProvider(GOOGLE_ROUTES, signing_key=rsa_key()))
    # Discovery is cached per URL, process-wide: an earlier test's fake on the same port had
    # another key under the same kid, and its cached keys would fail this fake's signatures
    # (tests/api/oauth/conftest.py clears it for the same reason).
    oidc.clear_cache()
    fake.id_token_claims = {"sub": "google-sub-1", "email": "gina@example.com",
                            "email_verified": True, "name": "Gina"}
    return fake


def google_id_token(fake: FakeProvider, nonce: str, **claims) -> str:
    """A Google-style id_token signed by the fake's key; its nonce claim is the lower-hex
    SHA-256 of the raw nonce the client sends (spec oauth-sso.md section 3)."""
    return fake.sign({**fake.id_token_claims, "nonce": hashlib.sha256(nonce.encode()).hexdigest(),
                      **claims})


class _LateApp:
    """A WSGI app set after the socket is bound: the providers' redirect URI needs the port."""

    target = None

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


class OAuthServers:
    """``start({"github": fake}, prefix="/auth/v1", **overrides)`` serves an app whose providers
    are those fakes and whose REDIRECT_URI is its own <url><prefix>/callback."""

    def __init__(self, make_app, settings):
        self.make_app, self.settings = make_app, settings
        self.started: list = []

    def start(self, fakes: dict, prefix: str = "", **overrides) -> LiveServer:
        late = _LateApp()
        served = ServedApp(late)
        url = served.url
        oauth = dict(self.settings.external.oauth)
        providers = dict(self.settings.external.providers)
        for name, fake in fakes.items():
            oauth[name] = provider_settings(fake, name, redirect_uri=f"{url}{prefix}/callback")
            providers[name] = True
        late.target = self.make_app(**{"external.oauth": oauth, "external.providers": providers,
                                       "mailer.autoconfirm": True, **overrides})
        self.started.append(served)
        return LiveServer(url=url + prefix, app=late.target)

    def close(self) -> None:
        for served in self.started:
            served.stop()


def params(location: str) -> dict:
    """Query and fragment parameters of a redirect (the fragment's first, as the clients
    read them)."""
    parts = urlsplit(location)
    found = {k: v[0] for k, v in parse_qs(parts.fragment, keep_blank_values=True).items()}
    found.update({k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()})
    return found


def follow(url: str, server: LiveServer, fake: FakeProvider) -> str:
    """The browser's part: our authorize endpoint (or the URL the linking call returned), the
    provider, our callback. Returns where the callback sends the browser."""
    if url.startswith(server.url):
        started = requests.get(url, allow_redirects=False, timeout=HOP_SECONDS)
        assert started.status_code == 302, started.text
        url = started.headers["Location"]
    # The provider's authorize page, with our flow_state id as the state.
    assert url.startswith(fake.url + fake.routes["authorize"] + "?"), url
    state = params(url)["state"]
    assert uuid.UUID(state)
    at_provider = requests.get(url, allow_redirects=False, timeout=HOP_SECONDS)
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["Location"]
    assert back.startswith(server.url + "/callback?"), back
    assert params(back)["state"] == state
    assert params(back)["error" if fake.deny else "code"]
    finished = requests.get(back, allow_redirects=False, timeout=HOP_SECONDS)
    assert finished.status_code == 302, finished.text
    return finished.headers["Location"]


def flow_states(app) -> list:
    return table_rows(app, sa.select(FlowState.id, FlowState.user_id, FlowState.auth_code,
                                     FlowState.code_challenge_method,
                                     FlowState.provider_access_token))


def identity_rows(app, user_id: str) -> list:
    return table_rows(app, sa.select(Identity.id, Identity.provider, Identity.provider_id,
                                     Identity.email)
                      .where(Identity.user_id == uuid.UUID(user_id))
                      .order_by(Identity.provider))
