"""Twitter over OAuth 1.0a against a fake Twitter that verifies every HMAC-SHA1 signature it
receives (spec oauth-sso.md section 2, quirks: Twitter; section 7 test 11): the signed request
token with our callback and state, the authenticate redirect, the exchange with the verifier and
an empty token secret, the signed profile call, and every failure as GoTrue's answer."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, OAuthClientState, User
from gotrue_web.services.oauth import REGISTRY
from gotrue_web.services.oauth.base import Context
from gotrue_web.settings.external import OAuthProviderSettings

from ...conftest import api_for
from ...factories import identities, make_user
from ...support.fake_oauth1 import PROFILE_ARGS, TWITTER_ROUTES, FakeTwitter
from .conftest import CALLBACK, Browser, entities, fragment, provider_settings, query

WELCOME = "http://localhost:3000/welcome"
IMPLICIT_KEYS = ["access_token", "expires_at", "expires_in", "provider_token", "refresh_token",
                 "sb", "token_type"]
PROFILE = {"id": 2244994945, "id_str": "2244994945", "name": "Twitter Dev",
           "screen_name": "TwitterDev", "email": "Dev@Example.com",
           "profile_image_url_https": "https://pbs.twimg.com/p/dev_normal.png"}


@pytest.fixture
def twitter(servers):
    fake = servers(FakeTwitter())
    fake.profile_document = dict(PROFILE)
    return fake


def _app(oauth_app, fake: FakeTwitter, **overrides):
    return oauth_app({"twitter": fake}, **overrides)


def _phase_b(answer, error: str, code: str | None, description: str) -> None:
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(WELCOME)
    expected = {"error": error, "error_description": description}
    if code:
        expected["error_code"] = code
    assert query(location) == expected
    assert fragment(location) == {**expected, "sb": ""}


def test_twitter_implicit_flow_signs_every_step_and_returns_the_oauth1_token(oauth_app,
                                                                            twitter):
    app = _app(oauth_app, twitter)
    browser = Browser(app)
    # Scopes and passthrough mean nothing to an OAuth1 provider and are not sent.
    started = browser.authorize(provider="twitter", redirect_to=WELCOME, scopes="tweet.read",
                                login_hint="dev")
    assert started.status_code == 302, started.get_data(as_text=True)
    (flow,) = entities(app, sa.select(FlowState))
    assert flow.provider_type == "twitter" and flow.oauth_client_state_id is None
    assert flow.referrer == WELCOME and flow.code_challenge == ""
    (request_token,) = twitter.request_tokens
    assert started.headers["Location"] == (
        f"{twitter.url}/oauth/authenticate?oauth_token={request_token}")
    # The request token call: signed, with our callback carrying the state.
    (asked,) = twitter.requests_to(TWITTER_ROUTES["request_token"])
    assert asked["method"] == "POST"
    assert asked["oauth"]["oauth_callback"] == f"{CALLBACK}?state={flow.id}"
    assert asked["oauth"]["oauth_signature_method"] == "HMAC-SHA1"
    assert asked["oauth"]["oauth_consumer_key"] == "client-1"
    assert asked["oauth"]["oauth_signature"] and "oauth_token" not in asked["oauth"]

    back = browser.at_provider(started.headers["Location"])
    assert back.startswith(CALLBACK + "?")
    returned = query(back)
    assert returned["state"] == str(flow.id) and returned["oauth_token"] == request_token
    finished = browser.callback(back)

    assert finished.status_code == 302
    location = finished.headers["Location"]
    assert location.startswith(WELCOME + "#")
    values = fragment(location)
    # No refresh token: OAuth1 tokens do not expire.
    assert list(values) == IMPLICIT_KEYS
    (access_token,) = twitter.access_tokens
    assert values["provider_token"] == access_token
    (exchange,) = twitter.requests_to(TWITTER_ROUTES["access_token"])
    assert exchange["method"] == "POST"
    assert exchange["oauth"]["oauth_token"] == request_token
    assert exchange["oauth"]["oauth_verifier"] == returned["oauth_verifier"]
    assert exchange["oauth"]["oauth_signature_method"] == "HMAC-SHA1"
    assert "oauth_callback" not in exchange["oauth"]
    (profile,) = twitter.requests_to(TWITTER_ROUTES["profile"])
    assert profile["method"] == "GET" and profile["args"] == PROFILE_ARGS
    assert profile["oauth"]["oauth_token"] == access_token
    assert profile["oauth"]["oauth_signature_method"] == "HMAC-SHA1"

    (user,) = entities(app, sa.select(User))
    assert user.email == "dev@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "twitter", "providers": ["twitter"]}
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("twitter", "2244994945")
    picture = "https://pbs.twimg.com/p/dev_normal.png"
    assert identity.identity_data == {
        "iss": f"{twitter.url}/1.1/account/verify_credentials.json", "sub": "2244994945",
        "name": "Twitter Dev", "full_name": "Twitter Dev", "picture": picture,
        "avatar_url": picture, "preferred_username": "TwitterDev", "user_name": "TwitterDev",
        "email": "dev@example.com", "provider_id": "2244994945", "email_verified": True,
        "phone_verified": False}
    assert entities(app, sa.select(FlowState)) == []
    assert entities(app, sa.select(OAuthClientState)) == []
    me = browser.client.get("/user", headers={"Authorization": f"Bearer {values['access_token']}"})
    assert me.status_code == 200 and me.get_json()["email"] == "dev@example.com"


def test_twitter_pkce_flow_stores_the_oauth1_token_for_the_pkce_grant(oauth_app, twitter):
    app = _app(oauth_app, twitter)
    browser = Browser(app)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    finished = browser.sign_in(provider="twitter", redirect_to=WELCOME,
                               code_challenge=challenge, code_challenge_method="S256")
    assert finished.status_code == 302
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}"
    (access_token,) = twitter.access_tokens
    assert flow.provider_access_token == access_token and flow.provider_refresh_token == ""
    # The challenge is ours: Twitter never sees it.
    (asked,) = twitter.requests_to(TWITTER_ROUTES["request_token"])
    assert "code_challenge" not in asked["oauth"]["oauth_callback"]

    exchanged = browser.client.post("/token?grant_type=pkce",
                                    json={"auth_code": flow.auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    session = exchanged.get_json()
    assert session["provider_token"] == access_token
    assert "provider_refresh_token" not in session
    assert session["user"]["email"] == "dev@example.com"


def test_a_second_sign_in_finds_the_same_user(oauth_app, twitter):
    app = _app(oauth_app, twitter)
    Browser(app).sign_in(provider="twitter")
    twitter.profile_document["name"] = "Renamed"
    finished = Browser(app).sign_in(provider="twitter")
    assert "access_token" in fragment(finished.headers["Location"])
    assert len(entities(app, sa.select(User))) == 1
    (identity,) = entities(app, sa.select(Identity))
    assert identity.identity_data["name"] == "Renamed"


def _authorize_fails(app, twitter) -> None:
    answer = app.test_client().get("/authorize?provider=twitter&redirect_to=" + WELCOME)
    # A JSON 500, never a redirect to an empty location.
    assert answer.status_code == 500
    assert "Location" not in answer.headers
    body = answer.get_json()
    assert body["error_code"] == "unexpected_failure"
    assert body["msg"] == "Unable to start the sign-in with the external provider"
    assert entities(app, sa.select(FlowState)) == []


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_a_failing_request_token_endpoint_is_a_json_500(oauth_app, twitter, mode):
    twitter.request_token_mode, twitter.delay = mode, 1.5
    app = _app(oauth_app, twitter, **{"external.http_timeout": timedelta(seconds=0.3)})
    _authorize_fails(app, twitter)
    assert len(twitter.requests_to(TWITTER_ROUTES["request_token"])) == 1


def test_a_request_token_signed_with_the_wrong_secret_is_refused(oauth_app, twitter):
    wrong = provider_settings(twitter, "twitter", secret="not the secret")
    app = oauth_app({"twitter": wrong})
    _authorize_fails(app, twitter)
    # The fake checked the signature and issued nothing.
    assert twitter.request_tokens == {}


def test_an_unreachable_twitter_is_a_json_500(oauth_app, twitter, closed_port):
    app = oauth_app({"twitter": provider_settings(twitter, "twitter",
                                                  url=f"http://127.0.0.1:{closed_port}")})
    _authorize_fails(app, twitter)


def _back_from_twitter(app, **params) -> tuple[Browser, str]:
    browser = Browser(app)
    started = browser.authorize(provider="twitter", redirect_to=WELCOME, **params)
    assert started.status_code == 302, started.get_data(as_text=True)
    return browser, browser.at_provider(started.headers["Location"])


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_a_failing_exchange_is_a_server_error_redirect(oauth_app, twitter, mode):
    twitter.access_token_mode, twitter.delay = mode, 1.5
    app = _app(oauth_app, twitter, **{"external.http_timeout": timedelta(seconds=0.3)})
    browser, back = _back_from_twitter(app)
    token = query(back)["oauth_token"]
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             f"Unable to exchange external code: {token[:4]}")
    assert entities(app, sa.select(User)) == []
    assert twitter.requests_to(TWITTER_ROUTES["profile"]) == []


def test_the_exchange_is_signed_with_an_empty_token_secret(oauth_app, twitter):
    # A Twitter that wanted the request token's secret would refuse our exchange: the fake
    # verifies the signature against the secret it is told to expect.
    twitter.exchange_token_secret = "the-request-token-secret"
    app = _app(oauth_app, twitter)
    browser, back = _back_from_twitter(app)
    answer = browser.callback(back)
    assert query(answer.headers["Location"])["error_description"].startswith(
        "Unable to exchange external code: ")
    assert twitter.access_tokens == {}


@pytest.mark.parametrize("status", [401, 500])
def test_a_failing_profile_is_a_server_error_redirect(oauth_app, twitter, status):
    twitter.profile_status = status
    app = _app(oauth_app, twitter)
    browser, back = _back_from_twitter(app)
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


def test_no_email_is_refused_unless_email_is_optional(oauth_app, twitter):
    del twitter.profile_document["email"]
    app = _app(oauth_app, twitter)
    browser, back = _back_from_twitter(app)
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             "Error getting user email from external provider")
    assert entities(app, sa.select(User)) == []

    optional = dataclasses.replace(provider_settings(twitter, "twitter"), email_optional=True)
    app = oauth_app({"twitter": optional})
    finished = Browser(app).sign_in(provider="twitter", redirect_to=WELCOME)
    assert "access_token" in fragment(finished.headers["Location"])
    (user,) = entities(app, sa.select(User))
    assert user.email is None


def test_a_user_who_denies_the_app_comes_back_without_a_grant(oauth_app, twitter):
    twitter.deny = True
    app = _app(oauth_app, twitter)
    browser, back = _back_from_twitter(app)
    assert "denied" in query(back) and "oauth_verifier" not in query(back)
    _phase_b(browser.callback(back), "invalid_request", "bad_oauth_callback",
             "OAuth callback with missing authorization code missing")
    assert twitter.requests_to(TWITTER_ROUTES["access_token"]) == []


@pytest.mark.parametrize("drop, add", [
    ("oauth_verifier", {}),
    ("oauth_token", {}),
    # An OAuth2 code is not a grant Twitter gives.
    ("oauth_token", {"code": "abcd1234"}),
])
def test_a_callback_without_token_and_verifier_is_refused(oauth_app, twitter, drop, add):
    app = _app(oauth_app, twitter)
    browser, back = _back_from_twitter(app)
    parts = urlsplit(back)
    params = {k: v for k, v in parse_qsl(parts.query) if k != drop} | add
    answer = browser.client.get(parts.path, query_string=params)
    _phase_b(answer, "invalid_request", "bad_oauth_callback",
             "OAuth callback with missing authorization code missing")
    assert twitter.requests_to(TWITTER_ROUTES["access_token"]) == []
    # The flow is still there: the user may come back with a proper answer.
    assert len(entities(app, sa.select(FlowState))) == 1


def test_a_forged_verifier_is_refused_by_twitter(oauth_app, twitter):
    app = _app(oauth_app, twitter)
    browser, back = _back_from_twitter(app)
    parts = urlsplit(back)
    params = dict(parse_qsl(parts.query)) | {"oauth_verifier": "forged"}
    answer = browser.client.get(parts.path, query_string=params)
    assert query(answer.headers["Location"])["error_code"] == "unexpected_failure"
    assert entities(app, sa.select(Identity)) == []


def test_without_url_the_twitter_hosts_are_used():
    ctx = Context(config=OAuthProviderSettings(enabled=True, client_ids=("c",), secret="s",
                                               redirect_uri=CALLBACK), timeout=1, cache_ttl=1)
    endpoints = REGISTRY["twitter"].endpoints(ctx)
    assert endpoints.authorize == "https://api.twitter.com/oauth/authenticate"
    assert endpoints.token == "https://api.twitter.com/oauth/access_token"
    assert endpoints.profile == "https://api.twitter.com/1.1/account/verify_credentials.json"


def test_a_signed_in_user_links_twitter(oauth_app, twitter):
    # Twitter's authorize URL carries no state (it rides in the callback URL), so the linking
    # target must be set on the flow itself.
    app = _app(oauth_app, twitter, **{"security.manual_linking_enabled": True})
    user_id = make_user(app, "pat@example.com", password="password-123")
    token = api_for(app).login("pat@example.com", "password-123").get_json()["access_token"]
    browser = Browser(app)
    started = browser.client.get("/user/identities/authorize",
                                 query_string={"provider": "twitter", "redirect_to": WELCOME,
                                               "skip_http_redirect": "true"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert started.status_code == 200, started.get_data(as_text=True)
    (flow,) = entities(app, sa.select(FlowState))
    assert flow.linking_target_id == user_id
    finished = browser.callback(browser.at_provider(started.get_json()["url"]))
    assert finished.status_code == 302 and finished.headers["Location"].startswith(WELCOME + "#")
    assert [i.provider for i in identities(app, user_id)] == ["email", "twitter"]
    assert len(entities(app, sa.select(User))) == 1
