"""Fake custom OAuth2 and OIDC providers (FakeProvider on loopback ports) and the admin API
bodies that register them. Loopback http URLs need the tests-only settings switch
``external.custom_oauth_allow_private_urls`` (PRIVATE_URLS), passed through make_app."""

from __future__ import annotations

import json

from .fake_oauth import FakeProvider, rsa_key
from .loopback_http import LoopbackHTTPServer, QuietHandler

OAUTH2_ROUTES = {"authorize": "/oauth/authorize", "token": "/oauth/token",
                 "profiles": ("/oauth/userinfo",)}
OIDC_ROUTES = {"authorize": "/oidc/authorize", "token": "/oidc/token",
               "profiles": ("/oidc/userinfo",),
               "discovery": "/.well-known/openid-configuration", "jwks": "/oidc/jwks"}
PRIVATE_URLS = {"external.custom_oauth_allow_private_urls": True}


def oauth2_fake() -> FakeProvider:
    return FakeProvider(OAUTH2_ROUTES)


def oidc_fake() -> FakeProvider:
    """An OIDC server whose issuer is its own base URL."""
    fake = FakeProvider(OIDC_ROUTES, signing_key=rsa_key())
    fake.issuer = fake.url
    return fake


def oauth2_body(fake: FakeProvider, identifier: str = "custom:acme", **changes) -> dict:
    return {"provider_type": "oauth2", "identifier": identifier, "name": "Acme",
            "client_id": fake.client_id, "client_secret": fake.secret,
            "authorization_url": fake.url + OAUTH2_ROUTES["authorize"],
            "token_url": fake.url + OAUTH2_ROUTES["token"],
            "userinfo_url": fake.url + OAUTH2_ROUTES["profiles"][0],
            "scopes": ["profile", "email"], **changes}


def oidc_body(fake: FakeProvider, identifier: str = "custom:idp", **changes) -> dict:
    return {"provider_type": "oidc", "identifier": identifier, "name": "Our IdP",
            "client_id": fake.client_id, "client_secret": fake.secret, "issuer": fake.url,
            "scopes": ["email", "profile"], **changes}


class _DocumentHandler(QuietHandler):
    def do_GET(self):
        self.answer(200, json.dumps(self.server.document), "application/json")


class DocumentServer(LoopbackHTTPServer):
    """Serves one JSON ``document`` at every path: a hand-made discovery document."""

    def __init__(self, document: dict | None = None):
        super().__init__(_DocumentHandler)
        self.server.document = document or {}

    @property
    def document(self) -> dict:
        return self.server.document
