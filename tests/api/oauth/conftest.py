"""Fixtures for the OAuth tests: fake providers and an app configured to use them."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests

from gotrue_web.services.oauth import oidc
from gotrue_web.settings.external import OAuthProviderSettings

from ...conftest import table_rows
from ...support.fake_oauth import (GITHUB_ROUTES, GITLAB_ROUTES, GOOGLE_ROUTES, KEYCLOAK_ROUTES,
                                   FakeProvider, rsa_key)

CALLBACK = "http://localhost:9999/callback"
SITE = "http://localhost:3000"


@pytest.fixture(autouse=True)
def _fresh_discovery_cache():
    """Discovery documents are cached per URL for an hour, process-wide. A fake started by a
    later test may get a port an earlier one had, with the same paths but another signing key,
    so each test starts with an empty cache."""
    oidc.clear_cache()


@pytest.fixture
def github(servers):
    fake = servers(FakeProvider(GITHUB_ROUTES))
    fake.documents["/api/v3/user"] = {"id": 4242, "login": "octocat", "name": "Octo Cat",
                                      "avatar_url": "https://avatars.example/octo.png"}
    fake.documents["/api/v3/user/emails"] = [
        {"email": "old@example.com", "verified": True, "primary": False},
        {"email": "Octo@Example.com", "verified": True, "primary": True},
    ]
    return fake


@pytest.fixture
def gitlab(servers):
    fake = servers(FakeProvider(GITLAB_ROUTES))
    fake.documents["/api/v4/user"] = {"id": 77, "name": "Tanuki", "email": "tanuki@example.com",
                                      "confirmed_at": "2024-01-01T00:00:00Z",
                                      "avatar_url": "https://gitlab.example/t.png"}
    fake.documents["/api/v4/user/emails"] = [{"email": "second@example.com"}]
    return fake


@pytest.fixture
def keycloak(servers):
    fake = servers(FakeProvider(KEYCLOAK_ROUTES))
    fake.documents[KEYCLOAK_ROUTES["profiles"][0]] = {
        "sub": "kc-subject-1", "email": "kc@example.com", "email_verified": True,
        "name": "Kay Cloak", "preferred_username": "kay", "groups": ["staff"]}
    return fake


@pytest.fixture
def google(servers):
    fake = servers(FakeProvider(GOOGLE_ROUTES, signing_key=rsa_key()))
    fake.id_token_claims = {"sub": "google-sub-1", "email": "gina@example.com",
                            "email_verified": True, "name": "Gina", "hd": "example.com",
                            "picture": "https://lh3.example/gina.png"}
    return fake


def provider_settings(fake: FakeProvider, name: str, **changes) -> OAuthProviderSettings:
    url = fake.url + "/realms/test" if name == "keycloak" else fake.url
    return dataclasses.replace(OAuthProviderSettings(
        enabled=True, client_ids=(fake.client_id, "other-client"), secret=fake.secret,
        redirect_uri=CALLBACK, url=url), **changes)


@pytest.fixture
def oauth_app(make_app, settings):
    """``oauth_app({"github": fake}, **overrides)``: an app with those providers configured."""

    def build(fakes: dict, **overrides):
        oauth = dict(settings.external.oauth)
        providers = dict(settings.external.providers)
        for name, fake in fakes.items():
            oauth[name] = fake if isinstance(fake, OAuthProviderSettings) \
                else provider_settings(fake, name)
            providers[name] = oauth[name].enabled
        return make_app(**{"external.oauth": oauth, "external.providers": providers,
                           **overrides})

    return build


class Browser:
    """Follows the redirects of the dance as a browser would: our app through its test client,
    the fake provider over a real socket."""

    def __init__(self, app):
        self.client = app.test_client()

    def authorize(self, **params):
        return self.client.get("/authorize", query_string=params)

    def at_provider(self, provider_url: str) -> str:
        """The provider's answer: where it sends the browser back (our /callback)."""
        answer = requests.get(provider_url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]

    def callback(self, callback_url: str, method: str = "GET"):
        parts = urlsplit(callback_url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
        if method == "POST":
            return self.client.post(parts.path, data=dict(parse_qsl(parts.query)))
        return self.client.get(parts.path + "?" + parts.query)

    def sign_in(self, **params):
        started = self.authorize(**params)
        assert started.status_code == 302, started.get_data(as_text=True)
        return self.callback(self.at_provider(started.headers["Location"]))


def fragment(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment,
                                         keep_blank_values=True).items()}


def query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query,
                                         keep_blank_values=True).items()}


def entities(app, statement) -> list:
    """The ORM objects a select returns (read in the app's context, then detached)."""
    return [row[0] for row in table_rows(app, statement)]
