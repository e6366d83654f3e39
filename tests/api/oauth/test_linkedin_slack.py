"""LinkedIn's and Slack's legacy OAuth 2.0 products against fakes of their shape: the authorize
URL and scopes, the token request, the profile calls, identity_data per spec oauth-sso.md
section 2 table B, both finishes, and provider failures as GoTrue's redirects."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import quote_plus, urlencode

import pytest
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, OAuthClientState, User
from gotrue_web.services.oauth import REGISTRY
from gotrue_web.services.oauth.base import Context
from gotrue_web.settings.external import OAuthProviderSettings

from ...support.fake_oauth import FakeProvider
from ...support.fake_oauth_more import LINKEDIN_ROUTES, SLACK_ROUTES
from .conftest import CALLBACK, Browser, entities, fragment, query

WELCOME = "http://localhost:3000/welcome"
ME_ARGS = {"projection": "(id,firstName,lastName,profilePicture(displayImage~:playableStreams))"}
EMAIL_ARGS = {"q": "members", "projection": "(elements*(handle~))"}
LINKEDIN_ME = {
    "id": "yrZCpj2Z12",
    "firstName": {"localized": {"en_US": "Bob", "de_DE": "Robert"},
                  "preferredLocale": {"country": "DE", "language": "de"}},
    "lastName": {"localized": {"en_US": "Smith"},
                 "preferredLocale": {"country": "US", "language": "en"}},
    "profilePicture": {"displayImage": "urn:li:digitalmediaAsset:C4D00AAAAbBCDEFGhiJ",
                       "displayImage~": {"elements": [
                           {"identifiers": [{"identifier": "https://media.licdn.com/100.jpg"},
                                            {"identifier": "https://media.licdn.com/alt.jpg"}]},
                           {"identifiers": [{"identifier": "https://media.licdn.com/200.jpg"}]},
                       ]}},
}
LINKEDIN_EMAIL = {"elements": [{"handle": "urn:li:emailAddress:3775708763",
                                "handle~": {"emailAddress": "Bob@Example.com"}}]}
SLACK_USER = {"ok": True, "sub": "U0R7JM", "https://slack.com/user_id": "U0R7JM",
              "https://slack.com/team_id": "T0R7GR", "email": "krane@example.com",
              "email_verified": False, "name": "krane", "picture": "https://secure.gravatar/k.png"}


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def linkedin(servers):
    fake = servers(FakeProvider(LINKEDIN_ROUTES))
    fake.documents["/v2/me"] = LINKEDIN_ME
    fake.documents["/v2/emailAddress"] = LINKEDIN_EMAIL
    return fake


@pytest.fixture
def slack(servers):
    fake = servers(FakeProvider(SLACK_ROUTES))
    fake.documents["/api/openid.connect.userInfo"] = dict(SLACK_USER)
    return fake


def _phase_b(answer, error: str, code: str | None, description: str) -> None:
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(WELCOME)
    expected = {"error": error, "error_description": description}
    if code:
        expected["error_code"] = code
    assert query(location) == expected
    assert fragment(location) == {**expected, "sb": ""}


def _implicit(app, fake: FakeProvider, name: str, scopes: str, expected_scope: str) -> dict:
    """The implicit dance; checks the exact authorize URL and the token request, returns the
    fragment."""
    browser = Browser(app)
    started = browser.authorize(provider=name, redirect_to=WELCOME, scopes=scopes)
    assert started.status_code == 302, started.get_data(as_text=True)
    (flow,) = entities(app, sa.select(FlowState))
    expected = {"client_id": "client-1", "redirect_to": WELCOME, "redirect_uri": CALLBACK,
                "response_type": "code", "scope": expected_scope, "state": str(flow.id)}
    assert started.headers["Location"] == (
        fake.url + fake.routes["authorize"] + "?" + urlencode(sorted(expected.items())))
    finished = browser.callback(browser.at_provider(started.headers["Location"]))
    assert finished.status_code == 302
    assert finished.headers["Location"].startswith(WELCOME + "#")
    values = fragment(finished.headers["Location"])
    assert values["provider_token"] in fake.access_tokens
    assert values["provider_refresh_token"] == "provider-refresh-1"
    (exchange,) = fake.requests_to(fake.routes["token"])
    assert exchange["authorization"] == _basic("client-1", "secret:1 two")
    assert exchange["form"] == {"grant_type": "authorization_code",
                                "code": next(iter(fake.codes)), "redirect_uri": CALLBACK}
    for path in fake.routes["profiles"]:
        (call,) = fake.requests_to(path)
        assert call["authorization"] == "Bearer " + values["provider_token"]
    assert entities(app, sa.select(FlowState)) == []
    assert entities(app, sa.select(OAuthClientState)) == []
    return values


def test_linkedin_reads_the_projected_profile_and_the_primary_address(oauth_app, linkedin):
    app = oauth_app({"linkedin": linkedin})
    _implicit(app, linkedin, "linkedin", "w_member_social",
              "r_emailaddress r_liteprofile w_member_social")
    (me,) = linkedin.requests_to("/v2/me")
    assert me["args"] == ME_ARGS
    (email,) = linkedin.requests_to("/v2/emailAddress")
    assert email["args"] == EMAIL_ARGS
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("linkedin", "yrZCpj2Z12")
    # Each name part in its own preferred locale; the first image's first identifier.
    assert identity.identity_data == {
        "iss": linkedin.url, "sub": "yrZCpj2Z12", "name": "Robert Smith",
        "full_name": "Robert Smith", "picture": "https://media.licdn.com/100.jpg",
        "avatar_url": "https://media.licdn.com/100.jpg", "email": "bob@example.com",
        "provider_id": "yrZCpj2Z12", "email_verified": True, "phone_verified": False}
    (user,) = entities(app, sa.select(User))
    assert user.email == "bob@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "linkedin", "providers": ["linkedin"]}


def test_linkedin_without_picture_or_locale_name_keeps_what_it_has(oauth_app, linkedin):
    linkedin.documents["/v2/me"] = {
        "id": "p-2", "firstName": {"localized": {"fr_FR": "Zoé"},
                                   "preferredLocale": {"country": "FR", "language": "fr"}},
        "lastName": {"localized": {"fr_FR": "X"}, "preferredLocale": {"country": "BE",
                                                                      "language": "fr"}}}
    app = oauth_app({"linkedin": linkedin})
    Browser(app).sign_in(provider="linkedin", redirect_to=WELCOME)
    (identity,) = entities(app, sa.select(Identity))
    data = identity.identity_data
    assert data["name"] == data["full_name"] == "Zoé"
    assert "picture" not in data and "avatar_url" not in data


def test_linkedin_without_an_address_is_refused(oauth_app, linkedin):
    linkedin.documents["/v2/emailAddress"] = {"elements": []}
    app = oauth_app({"linkedin": linkedin})
    answer = Browser(app).sign_in(provider="linkedin", redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user email from external provider")
    assert entities(app, sa.select(User)) == []


def test_linkedin_with_a_failing_email_call_is_a_profile_error(oauth_app, linkedin):
    linkedin.documents["/v2/emailAddress"] = ["not", "an", "object"]
    app = oauth_app({"linkedin": linkedin})
    answer = Browser(app).sign_in(provider="linkedin", redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


def test_slack_signs_in_through_oauth_access_and_user_info(oauth_app, slack):
    app = oauth_app({"slack": slack})
    _implicit(app, slack, "slack", "", "profile email openid")
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("slack", "U0R7JM")
    # Slack's legacy product vouches for the address whatever email_verified says.
    assert identity.identity_data == {
        "iss": slack.url, "sub": "U0R7JM", "name": "krane", "full_name": "krane",
        "picture": "https://secure.gravatar/k.png",
        "avatar_url": "https://secure.gravatar/k.png",
        "custom_claims": {"https://slack.com/team_id": "T0R7GR"},
        "email": "krane@example.com", "provider_id": "U0R7JM", "email_verified": True,
        "phone_verified": False}
    (user,) = entities(app, sa.select(User))
    assert user.email_confirmed_at is not None


def test_slack_pkce_flow_returns_the_provider_tokens_from_the_pkce_grant(oauth_app, slack):
    app = oauth_app({"slack": slack})
    browser = Browser(app)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    finished = browser.sign_in(provider="slack", redirect_to=WELCOME + "?tab=2",
                               code_challenge=challenge, code_challenge_method="S256")
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}&tab=2"
    (authorize,) = slack.requests_to(SLACK_ROUTES["authorize"])
    assert "code_challenge" not in authorize["args"]
    exchanged = browser.client.post("/token?grant_type=pkce",
                                    json={"auth_code": flow.auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    session = exchanged.get_json()
    assert session["provider_token"] in slack.access_tokens
    assert session["provider_refresh_token"] == "provider-refresh-1"
    assert session["user"]["email"] == "krane@example.com"


def test_slack_refusing_is_echoed(oauth_app, slack):
    slack.deny = True
    app = oauth_app({"slack": slack})
    answer = Browser(app).sign_in(provider="slack", redirect_to=WELCOME)
    _phase_b(answer, "access_denied", None, "The user said no")
    assert slack.requests_to(SLACK_ROUTES["token"]) == []


@pytest.mark.parametrize("mode", ["slow", "error", "no_access_token"])
def test_slack_token_failures_are_server_error_redirects(oauth_app, slack, mode):
    slack.token_mode, slack.delay = mode, 1.5
    app = oauth_app({"slack": slack}, **{"external.http_timeout": timedelta(seconds=0.3)})
    browser = Browser(app)
    back = browser.at_provider(browser.authorize(provider="slack",
                                                 redirect_to=WELCOME).headers["Location"])
    code = query(back)["code"]
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             f"Unable to exchange external code: {code[:4]}")
    assert entities(app, sa.select(User)) == []


def test_slack_user_info_failure_is_a_profile_error(oauth_app, slack):
    slack.profile_status = 500
    app = oauth_app({"slack": slack})
    answer = Browser(app).sign_in(provider="slack", redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")


@pytest.mark.parametrize("name, authorize, token, profile", [
    ("linkedin", "https://api.linkedin.com/oauth/v2/authorization",
     "https://api.linkedin.com/oauth/v2/accessToken", "https://api.linkedin.com"),
    ("slack", "https://slack.com/oauth/authorize", "https://slack.com/api/oauth.access",
     "https://slack.com/api/openid.connect.userInfo"),
])
def test_without_url_the_provider_hosts_are_used(name, authorize, token, profile):
    ctx = Context(config=OAuthProviderSettings(enabled=True, client_ids=("c",), secret="s",
                                               redirect_uri=CALLBACK), timeout=1, cache_ttl=1)
    endpoints = REGISTRY[name].endpoints(ctx)
    assert (endpoints.authorize, endpoints.token, endpoints.profile) == (authorize, token,
                                                                         profile)
