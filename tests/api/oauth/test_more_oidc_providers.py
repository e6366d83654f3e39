"""Vercel Marketplace (OIDC, fixed issuer) and Snapchat (OAuth2 with the Kit API's `me` query)
as a browser signs in with them (spec oauth-sso.md section 2): the authorize URL, the token
request, the profile call, Table B's identity_data, and both finishes."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus, urlencode

import pytest
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, User
from gotrue_web.services.oauth import REGISTRY
from gotrue_web.services.oauth.base import Context
from gotrue_web.settings.external import OAuthProviderSettings

from ...support.fake_oidc_providers import (SNAPCHAT_ISSUER, SNAPCHAT_ROUTES, VERCEL_ISSUER,
                                            VERCEL_ROUTES, pkce_pair, snapchat_fake,
                                            vercel_fake)
from .conftest import CALLBACK, Browser, entities, fragment, query

WELCOME = "http://localhost:3000/welcome"
ME_QUERY = "{me { externalId displayName bitmoji { avatar id } email } }"
SNAP_SCOPES = ("https://auth.snapchat.com/oauth2/api/user.external_id "
               "https://auth.snapchat.com/oauth2/api/user.display_name "
               "https://auth.snapchat.com/oauth2/api/user.bitmoji.avatar")


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _expected(sub: str, email: str, **claims) -> dict:
    return {"sub": sub, "provider_id": sub, "email": email, "email_verified": True,
            "phone_verified": False, **claims}


def _authorize_url(fake, routes: dict, state: str, **params) -> str:
    expected = {"client_id": "client-1", "redirect_uri": CALLBACK, "response_type": "code",
                "state": state, **params}
    return f"{fake.url}{routes['authorize']}?" + urlencode(sorted(expected.items()))


def _assert_exchange(fake, routes: dict) -> None:
    (exchange,) = fake.requests_to(routes["token"])
    assert exchange["authorization"] == _basic("client-1", "secret:1 two")
    assert exchange["form"] == {"grant_type": "authorization_code",
                                "code": next(iter(fake.codes)), "redirect_uri": CALLBACK}


# --- Vercel Marketplace ---

def test_vercel_implicit_sign_in_takes_the_global_user_id_as_subject(oauth_app, servers):
    fake = vercel_fake(servers)
    app = oauth_app({"vercel_marketplace": fake})
    browser = Browser(app)
    # No default scopes: the client's are sent as asked; passthrough goes on, minus RESERVED.
    started = browser.authorize(provider="vercel_marketplace", redirect_to=WELCOME,
                                scopes="openid,email", nonce="n-1",
                                redirect_uri="https://evil.example")
    (flow,) = entities(app, sa.select(FlowState))
    assert started.headers["Location"] == _authorize_url(
        fake, VERCEL_ROUTES, str(flow.id), scope="openid email", nonce="n-1",
        redirect_to=WELCOME)
    finished = browser.callback(browser.at_provider(started.headers["Location"]))

    values = fragment(finished.headers["Location"])
    assert finished.headers["Location"].startswith(WELCOME + "#")
    assert values["provider_token"] in fake.access_tokens
    _assert_exchange(fake, VERCEL_ROUTES)
    assert fake.requests_to(VERCEL_ROUTES["discovery"]) and fake.requests_to(VERCEL_ROUTES["jwks"])
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("vercel_marketplace",
                                                         "global_user_id:gu-77")
    assert identity.identity_data == _expected(
        "global_user_id:gu-77", "val@example.com", iss=VERCEL_ISSUER, name="Val Vercel",
        picture="https://vercel.example/v.png")
    (user,) = entities(app, sa.select(User))
    assert user.email == "val@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "vercel_marketplace",
                                      "providers": ["vercel_marketplace"]}
    assert entities(app, sa.select(FlowState)) == []


def test_vercel_without_a_global_user_id_keeps_the_tokens_sub(oauth_app, servers):
    fake = vercel_fake(servers, global_user_id="")
    app = oauth_app({"vercel_marketplace": fake})
    Browser(app).sign_in(provider="vercel_marketplace")
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider_id == "vercel-sub-1"
    assert identity.identity_data["sub"] == "vercel-sub-1"


def test_vercel_pkce_sign_in_then_the_pkce_grant(oauth_app, servers):
    fake = vercel_fake(servers)
    app = oauth_app({"vercel_marketplace": fake})
    browser = Browser(app)
    verifier, challenge = pkce_pair()
    finished = browser.sign_in(provider="vercel_marketplace", redirect_to=WELCOME,
                               code_challenge=challenge, code_challenge_method="S256")
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}"
    exchanged = browser.client.post("/token?grant_type=pkce", json={
        "auth_code": flow.auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    body = exchanged.get_json()
    assert body["provider_token"] == flow.provider_access_token
    assert body["user"]["user_metadata"]["name"] == "Val Vercel"


@pytest.mark.parametrize("claims", [{"iss": "https://evil.example"}, {"aud": "other-client"}])
def test_vercel_refuses_a_foreign_or_misaddressed_id_token(oauth_app, servers, claims):
    fake = vercel_fake(servers, **claims)
    app = oauth_app({"vercel_marketplace": fake})
    answer = Browser(app).sign_in(provider="vercel_marketplace", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


def test_vercel_without_an_id_token_is_a_profile_error(oauth_app, servers):
    fake = vercel_fake(servers)
    fake.id_token_claims = None
    app = oauth_app({"vercel_marketplace": fake})
    answer = Browser(app).sign_in(provider="vercel_marketplace", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


# --- Snapchat ---

def test_snapchat_implicit_sign_in_asks_the_me_query(oauth_app, servers):
    fake = snapchat_fake(servers)
    app = oauth_app({"snapchat": fake})
    browser = Browser(app)
    started = browser.authorize(provider="snapchat", redirect_to=WELCOME, scopes="extra")
    (flow,) = entities(app, sa.select(FlowState))
    assert started.headers["Location"] == _authorize_url(
        fake, SNAPCHAT_ROUTES, str(flow.id), scope=SNAP_SCOPES + " extra", redirect_to=WELCOME)
    finished = browser.callback(browser.at_provider(started.headers["Location"]))

    values = fragment(finished.headers["Location"])
    assert values["provider_token"] in fake.access_tokens
    _assert_exchange(fake, SNAPCHAT_ROUTES)
    (call,) = fake.requests_to("/v1/me")
    assert call["authorization"] == "Bearer " + values["provider_token"]
    assert call["args"] == {"query": ME_QUERY}
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("snapchat", "snap-ext-1")
    avatar = "https://bitmoji.example/s.png"
    assert identity.identity_data == _expected(
        "snap-ext-1", "sunny@example.com", iss=SNAPCHAT_ISSUER, name="Sunny Snap",
        full_name="Sunny Snap", slug="Sunny Snap", picture=avatar, avatar_url=avatar)
    (user,) = entities(app, sa.select(User))
    assert user.email == "sunny@example.com" and user.email_confirmed_at is not None


def test_snapchat_pkce_sign_in_redirects_with_a_code(oauth_app, servers):
    fake = snapchat_fake(servers)
    app = oauth_app({"snapchat": fake})
    browser = Browser(app)
    verifier, challenge = pkce_pair()
    finished = browser.sign_in(provider="snapchat", redirect_to=WELCOME,
                               code_challenge=challenge, code_challenge_method="S256")
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}"
    exchanged = browser.client.post("/token?grant_type=pkce", json={
        "auth_code": flow.auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    assert exchanged.get_json()["user"]["email"] == "sunny@example.com"


def test_snapchat_without_an_email_is_the_no_email_error(oauth_app, servers):
    fake = snapchat_fake(servers, email=None)
    app = oauth_app({"snapchat": fake})
    answer = Browser(app).sign_in(provider="snapchat", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user email from external provider")
    assert entities(app, sa.select(User)) == []


def test_snapchat_answering_no_me_is_a_profile_error(oauth_app, servers):
    fake = snapchat_fake(servers)
    fake.documents["/v1/me"] = {"data": {"me": None}}
    app = oauth_app({"snapchat": fake})
    answer = Browser(app).sign_in(provider="snapchat", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


@pytest.mark.parametrize("name, authorize, token, profile", [
    ("snapchat", "https://accounts.snapchat.com/accounts/oauth2/auth",
     "https://accounts.snapchat.com/accounts/oauth2/token", "https://kit.snapchat.com/v1/me"),
    ("vercel_marketplace", "https://api.vercel.com/oauth/v2/authorization",
     "https://api.vercel.com/oauth/v2/accessToken", ""),
])
def test_without_url_the_real_hosts_are_used(name, authorize, token, profile):
    ctx = Context(config=OAuthProviderSettings(enabled=True, client_ids=("c",), secret="s",
                                               redirect_uri=CALLBACK), timeout=1, cache_ttl=1)
    endpoints = REGISTRY[name].endpoints(ctx)
    assert (endpoints.authorize, endpoints.token, endpoints.profile) == (authorize, token,
                                                                         profile)
