"""X (OAuth 2.0 with mandatory PKCE) against a fake X that refuses a token request whose
code_verifier does not match the challenge of its code: the oauth_client_states row /authorize
writes, the challenge in the authorize URL, the verifier in the exchange, and every branch of
taking the verifier back at /callback (spec oauth-sso.md 1.1 step 6, 1.3 step 2)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import uuid
from datetime import timedelta
from urllib.parse import quote_plus, urlencode

import pytest
import sqlalchemy as sa
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from gotrue_web.extensions import db
from gotrue_web.models import FlowState, Identity, OAuthClientState, User
from gotrue_web.services.oauth import REGISTRY
from gotrue_web.services.oauth.base import Context
from gotrue_web.settings.external import OAuthProviderSettings

from ...factories import freeze_clock
from ...support.fake_oauth_more import X_ROUTES, PKCEFakeProvider
from .conftest import CALLBACK, Browser, entities, fragment, provider_settings, query

WELCOME = "http://localhost:3000/welcome"
IMPLICIT_KEYS = ["access_token", "expires_at", "expires_in", "provider_refresh_token",
                 "provider_token", "refresh_token", "sb", "token_type"]
X_SCOPES = "users.email tweet.read users.read offline.access"
USER = {"id": "1460", "name": "Ex Ample", "username": "example", "email": "unconfirmed@x.test",
        "confirmed_email": "Ex@Example.com", "profile_image_url": "https://pbs.twimg.com/x.jpg",
        "url": "https://example.com/", "created_at": "2013-12-14T04:35:55.000Z"}


@pytest.fixture
def x(servers):
    fake = servers(PKCEFakeProvider(X_ROUTES))
    fake.documents["/2/users/me"] = {"data": dict(USER)}
    return fake


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _phase_b(answer, error: str, code: str | None, description: str) -> None:
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(WELCOME)
    expected = {"error": error, "error_description": description}
    if code:
        expected["error_code"] = code
    assert query(location) == expected
    assert fragment(location) == {**expected, "sb": ""}


def _back_from_x(app, **params) -> tuple[Browser, str]:
    browser = Browser(app)
    started = browser.authorize(provider="x", redirect_to=WELCOME, **params)
    assert started.status_code == 302, started.get_data(as_text=True)
    return browser, browser.at_provider(started.headers["Location"])


def _in_app(app, change) -> None:
    """Change rows directly: a forged or vanished oauth_client_states row cannot be made
    through the API."""
    with app.app_context():
        change()
        db.session.commit()


def test_x_implicit_flow_sends_the_stored_verifier_and_returns_the_refresh_token(oauth_app, x):
    app = oauth_app({"x": x})
    browser = Browser(app)
    started = browser.authorize(provider="x", redirect_to=WELCOME, scopes="like.read",
                                nonce="n-1", code_verifier="mine")
    assert started.status_code == 302, started.get_data(as_text=True)
    (flow,) = entities(app, sa.select(FlowState))
    (client_state,) = entities(app, sa.select(OAuthClientState))
    assert flow.oauth_client_state_id == client_state.id
    assert client_state.provider_type == "x" and client_state.created_at == flow.created_at
    assert len(client_state.code_verifier) >= 43
    # The client's own PKCE is not involved: this verifier is ours, for X.
    assert flow.code_challenge == ""
    expected = {"client_id": "client-1", "nonce": "n-1",
                "code_challenge": create_s256_code_challenge(client_state.code_verifier),
                "code_challenge_method": "S256", "redirect_to": WELCOME,
                "redirect_uri": CALLBACK, "response_type": "code",
                "scope": X_SCOPES + " like.read", "state": str(flow.id)}
    assert started.headers["Location"] == (
        f"{x.url}/i/oauth2/authorize?" + urlencode(sorted(expected.items())))

    finished = browser.callback(browser.at_provider(started.headers["Location"]))

    assert finished.status_code == 302
    values = fragment(finished.headers["Location"])
    assert list(values) == IMPLICIT_KEYS
    assert values["provider_token"] in x.access_tokens
    # offline.access: X's refresh token is handed on.
    assert values["provider_refresh_token"] == "provider-refresh-1"
    (exchange,) = x.requests_to(X_ROUTES["token"])
    assert exchange["authorization"] == _basic("client-1", "secret:1 two")
    assert exchange["form"] == {"grant_type": "authorization_code",
                                "code": next(iter(x.codes)), "redirect_uri": CALLBACK,
                                "code_verifier": client_state.code_verifier}
    (profile,) = x.requests_to("/2/users/me")
    assert profile["authorization"] == "Bearer " + values["provider_token"]
    assert profile["args"] == {
        "user.fields": "id,name,username,confirmed_email,profile_image_url,url,created_at"}

    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("x", "1460")
    assert identity.identity_data == {
        "iss": x.url, "sub": "1460", "name": "Ex Ample", "full_name": "Ex Ample",
        "picture": "https://pbs.twimg.com/x.jpg", "avatar_url": "https://pbs.twimg.com/x.jpg",
        "preferred_username": "example", "user_name": "example",
        "profile": "https://x.com/example", "website": "https://example.com/",
        "custom_claims": {"created_at": "2013-12-14T04:35:55.000Z"},
        "email": "ex@example.com", "provider_id": "1460", "email_verified": True,
        "phone_verified": False}
    (user,) = entities(app, sa.select(User))
    assert user.email == "ex@example.com" and user.email_confirmed_at is not None
    # The verifier was used once and is gone, with the flow.
    assert entities(app, sa.select(OAuthClientState)) == []
    assert entities(app, sa.select(FlowState)) == []


def test_x_pkce_flow_keeps_both_verifiers_apart(oauth_app, x):
    app = oauth_app({"x": x})
    browser = Browser(app)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    finished = browser.sign_in(provider="x", redirect_to=WELCOME, code_challenge=challenge,
                               code_challenge_method="S256")
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}"
    (authorize,) = x.requests_to(X_ROUTES["authorize"])
    # X gets the challenge of our verifier, never the client's.
    assert authorize["args"]["code_challenge"] != challenge
    (exchange,) = x.requests_to(X_ROUTES["token"])
    assert exchange["form"]["code_verifier"] != verifier

    exchanged = browser.client.post("/token?grant_type=pkce",
                                    json={"auth_code": flow.auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    session = exchanged.get_json()
    assert session["provider_token"] in x.access_tokens
    assert session["provider_refresh_token"] == "provider-refresh-1"
    assert session["user"]["email"] == "ex@example.com"


def test_a_flow_without_its_verifier_is_refused_before_the_exchange(oauth_app, x):
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)

    def drop_link():
        db.session.execute(sa.update(FlowState).values(oauth_client_state_id=None))
    _in_app(app, drop_link)

    _phase_b(browser.callback(back), "invalid_request", "oauth_invalid_state",
             "OAuth PKCE code verifier missing")
    assert x.requests_to(X_ROUTES["token"]) == []
    assert entities(app, sa.select(User)) == []


def test_a_vanished_verifier_row_is_not_found(oauth_app, x):
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)
    _in_app(app, lambda: db.session.execute(sa.delete(OAuthClientState)))

    _phase_b(browser.callback(back), "server_error", "oauth_client_state_not_found",
             "OAuth client state not found")
    assert x.requests_to(X_ROUTES["token"]) == []
    assert entities(app, sa.select(User)) == []


def test_a_verifier_row_of_another_provider_is_refused_and_consumed(oauth_app, x):
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)
    _in_app(app, lambda: db.session.execute(
        sa.update(OAuthClientState).values(provider_type="github")))

    _phase_b(browser.callback(back), "invalid_request", "oauth_invalid_state",
             "OAuth client state provider mismatch")
    assert x.requests_to(X_ROUTES["token"]) == []
    assert entities(app, sa.select(OAuthClientState)) == []
    assert entities(app, sa.select(User)) == []


def test_a_flow_pointing_at_another_flows_verifier_fails_at_x(oauth_app, x):
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)
    # A second flow's verifier, swapped in: X refuses it, as its challenge does not match.
    _back_from_x(app)
    (first,) = [row for row in entities(app, sa.select(FlowState))
                if str(row.id) == query(back)["state"]]
    other = next(row for row in entities(app, sa.select(OAuthClientState))
                 if row.id != first.oauth_client_state_id)
    _in_app(app, lambda: db.session.execute(
        sa.update(FlowState).where(FlowState.id == first.id)
        .values(oauth_client_state_id=other.id)))

    code = query(back)["code"]
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             f"Unable to exchange external code: {code[:4]}")
    # Refused with HTTP Basic, then with the credentials in the body.
    refused = x.requests_to(X_ROUTES["token"])
    assert [call["form"]["code_verifier"] for call in refused] == [other.code_verifier] * 2
    assert entities(app, sa.select(User)) == []


@pytest.mark.parametrize("seconds, works", [(300, True), (301, False)])
def test_a_verifier_lasts_five_minutes(oauth_app, x, seconds, works):
    # The flow_state may live longer than the verifier: only the verifier's age counts here.
    app = oauth_app({"x": x}, **{"external.flow_state_expiry": timedelta(minutes=10)})
    browser, back = _back_from_x(app)
    (client_state,) = entities(app, sa.select(OAuthClientState))
    freeze_clock(app, client_state.created_at + timedelta(seconds=seconds))

    answer = browser.callback(back)

    if works:
        assert "access_token" in fragment(answer.headers["Location"])
    else:
        _phase_b(answer, "server_error", "oauth_client_state_expired",
                 "OAuth client state has expired")
        assert x.requests_to(X_ROUTES["token"]) == []
        assert entities(app, sa.select(User)) == []
    assert entities(app, sa.select(OAuthClientState)) == []


def test_a_verifier_is_good_for_one_exchange_even_a_failed_one(oauth_app, x):
    x.token_mode = "error"
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)
    code = query(back)["code"]
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             f"Unable to exchange external code: {code[:4]}")
    assert entities(app, sa.select(OAuthClientState)) == []
    tried = len(x.requests_to(X_ROUTES["token"]))
    # The flow survived the failure; retrying it finds no verifier and asks X nothing.
    x.token_mode = "ok"
    _phase_b(browser.callback(back), "server_error", "oauth_client_state_not_found",
             "OAuth client state not found")
    assert len(x.requests_to(X_ROUTES["token"])) == tried


@pytest.mark.parametrize("mode", ["slow", "garbage", "no_access_token"])
def test_a_failing_token_endpoint_is_a_server_error_redirect(oauth_app, x, mode):
    x.token_mode, x.delay = mode, 1.5
    app = oauth_app({"x": x}, **{"external.http_timeout": timedelta(seconds=0.3)})
    browser, back = _back_from_x(app)
    code = query(back)["code"]
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             f"Unable to exchange external code: {code[:4]}")
    assert entities(app, sa.select(User)) == []


def test_a_failing_profile_is_a_server_error_redirect(oauth_app, x):
    x.profile_status = 503
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


def test_only_a_confirmed_email_counts(oauth_app, x):
    del x.documents["/2/users/me"]["data"]["confirmed_email"]
    app = oauth_app({"x": x})
    browser, back = _back_from_x(app)
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             "Error getting user email from external provider")

    optional = dataclasses.replace(provider_settings(x, "x"), email_optional=True)
    app = oauth_app({"x": optional})
    browser, back = _back_from_x(app)
    assert "access_token" in fragment(browser.callback(back).headers["Location"])
    (identity,) = entities(app, sa.select(Identity))
    assert "email" not in identity.identity_data
    assert identity.identity_data["email_verified"] is False


def test_without_url_the_x_hosts_are_used():
    ctx = Context(config=OAuthProviderSettings(enabled=True, client_ids=("c",), secret="s",
                                               redirect_uri=CALLBACK), timeout=1, cache_ttl=1)
    endpoints = REGISTRY["x"].endpoints(ctx)
    assert endpoints.authorize == "https://x.com/i/oauth2/authorize"
    assert endpoints.token == "https://api.x.com/2/oauth2/token"
    assert endpoints.profile.startswith("https://api.x.com/2/users/me?user.fields=")


def test_unknown_state_ids_do_not_reach_client_states(oauth_app, x):
    app = oauth_app({"x": x})
    _back_from_x(app)
    answer = app.test_client().get(f"/callback?code=x&state={uuid.uuid4()}")
    assert answer.status_code == 303
    assert len(entities(app, sa.select(OAuthClientState))) == 1
