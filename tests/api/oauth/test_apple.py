"""Sign in with Apple as a browser makes it (spec oauth-sso.md 1.3 and section 2, Apple quirks):
the authorize URL asks for response_mode=form_post and carries no client parameter, Apple's
page POSTs code, state, id_token and (first time only) user back to /callback, the token request
adds client_id and secret to its body, and the ID token of the token reply is the profile."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus, urlencode

import pytest
import requests
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, Session, User

from ...factories import audit_actions
from ...support.fake_oidc_providers import (ANN_USER_FORM, APPLE_ISSUER, APPLE_NEW_ISSUER,
                                            APPLE_ROUTES, apple_fake, pkce_pair, read_form_post)
from .conftest import CALLBACK, Browser, entities, fragment, query

WELCOME = "http://localhost:3000/welcome"
ANN = {"iss": APPLE_ISSUER, "sub": "apple-sub-1", "provider_id": "apple-sub-1",
       "email": "ann@privaterelay.appleid.com", "email_verified": True, "phone_verified": False,
       "name": "Ann Apple", "full_name": "Ann Apple",
       "custom_claims": {"is_private_email": True, "auth_time": 1700000000}}


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def apple(servers):
    return apple_fake(servers)


def _at_apple(location: str) -> dict:
    """Apple's page: a form the browser POSTs to our /callback."""
    page = requests.get(location, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    method, action, fields = read_form_post(page.text)
    assert (method, action) == ("post", CALLBACK)
    return fields


def _dance(app, **params):
    """/authorize, Apple's form, then the form POST to /callback; the callback's answer."""
    browser = Browser(app)
    started = browser.authorize(provider="apple", **params)
    assert started.status_code == 302, started.get_data(as_text=True)
    return browser, browser.client.post("/callback", data=_at_apple(started.headers["Location"]))


def _error_description(answer) -> str:
    assert answer.status_code == 302
    return query(answer.headers["Location"])["error_description"]


def test_implicit_sign_in_posts_the_form_back_and_maps_the_id_token(oauth_app, apple):
    app = oauth_app({"apple": apple})
    browser = Browser(app)
    # Everything the client adds is dropped, even the nonce and redirect_to; `scopes` too.
    started = browser.authorize(provider="apple", redirect_to=WELCOME, scopes="openid,phone",
                                nonce="n-1", login_hint="ann", redirect_uri="https://evil.example")
    assert started.status_code == 302
    (flow,) = entities(app, sa.select(FlowState))
    expected = {"client_id": "client-1", "redirect_uri": CALLBACK,
                "response_mode": "form_post", "response_type": "code", "scope": "email name",
                "state": str(flow.id)}
    assert started.headers["Location"] == (
        f"{apple.url}{APPLE_ROUTES['authorize']}?" + urlencode(sorted(expected.items())))

    fields = _at_apple(started.headers["Location"])
    assert set(fields) == {"code", "state", "id_token", "user"}
    finished = browser.client.post("/callback", data=fields)

    assert finished.status_code == 302
    assert finished.headers["Location"].startswith(WELCOME + "#")
    values = fragment(finished.headers["Location"])
    assert values["provider_token"] in apple.access_tokens and values["token_type"] == "bearer"
    (exchange,) = apple.requests_to(APPLE_ROUTES["token"])
    assert exchange["authorization"] == _basic("client-1", "secret:1 two")
    assert exchange["form"] == {"grant_type": "authorization_code", "code": fields["code"],
                                "redirect_uri": CALLBACK, "client_id": "client-1",
                                "secret": "secret:1 two"}
    assert apple.requests_to(APPLE_ROUTES["jwks"])
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("apple", "apple-sub-1")
    assert identity.identity_data == ANN
    (user,) = entities(app, sa.select(User))
    assert user.email == "ann@privaterelay.appleid.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "apple", "providers": ["apple"]}
    assert user.raw_user_meta_data == ANN
    assert entities(app, sa.select(FlowState)) == []
    assert sorted(audit_actions(app, user.id)) == ["login", "user_signedup"]


def test_pkce_sign_in_redirects_with_a_code_and_the_grant_returns_apples_tokens(oauth_app,
                                                                               apple):
    app = oauth_app({"apple": apple})
    verifier, challenge = pkce_pair()
    browser, finished = _dance(app, redirect_to=WELCOME + "?tab=1", code_challenge=challenge,
                               code_challenge_method="S256")
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}&tab=1"
    (authorize,) = apple.requests_to(APPLE_ROUTES["authorize"])
    assert "code_challenge" not in authorize["args"]
    assert entities(app, sa.select(Session)) == []
    exchanged = browser.client.post("/token?grant_type=pkce", json={
        "auth_code": flow.auth_code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    session = exchanged.get_json()
    assert session["provider_token"] in apple.access_tokens
    assert session["provider_refresh_token"] == "provider-refresh-1"
    assert session["user"]["user_metadata"]["full_name"] == "Ann Apple"


def test_the_name_comes_once_and_stays_in_the_user_metadata(oauth_app, apple):
    app = oauth_app({"apple": apple})
    _dance(app)
    apple.form_post_extra = {"id_token": "x"}  # Apple sends `user` on the first sign-in only
    _, again = _dance(app)
    assert "access_token" in fragment(again.headers["Location"])
    (identity,) = entities(app, sa.select(Identity))
    assert "name" not in identity.identity_data and "full_name" not in identity.identity_data
    (user,) = entities(app, sa.select(User))
    assert user.raw_user_meta_data["full_name"] == "Ann Apple"


@pytest.mark.parametrize("user_form, name", [
    (json.dumps({"name": {"firstName": "Solo"}}), "Solo"),
    (json.dumps({"name": {"firstName": "", "lastName": "Last"}}), "Last"),
    (json.dumps({"email": "x@example.com"}), None),
])
def test_the_user_form_gives_the_trimmed_full_name(oauth_app, apple, user_form, name):
    apple.form_post_extra = {"user": user_form}
    app = oauth_app({"apple": apple})
    _dance(app)
    (identity,) = entities(app, sa.select(Identity))
    assert identity.identity_data.get("name") == name
    assert identity.identity_data.get("full_name") == name


@pytest.mark.parametrize("flag, stored", [(True, True), (False, False), ("true", True),
                                          ("false", False), (None, "absent")])
def test_is_private_email_is_a_boolean_or_its_string(oauth_app, servers, flag, stored):
    fake = apple_fake(servers, is_private_email=flag, auth_time=None)
    if flag is None:
        del fake.id_token_claims["is_private_email"]
    app = oauth_app({"apple": fake})
    _dance(app)
    (identity,) = entities(app, sa.select(Identity))
    custom = identity.identity_data.get("custom_claims", {})
    assert custom.get("is_private_email", "absent") == stored


def test_apples_new_issuer_and_a_transfer_sub_are_accepted(oauth_app, servers):
    # The callback does not check the ID token's issuer, only its audience and signature.
    fake = apple_fake(servers, iss=APPLE_NEW_ISSUER, transfer_sub="t-sub-1")
    app = oauth_app({"apple": fake})
    _dance(app)
    (identity,) = entities(app, sa.select(Identity))
    assert identity.identity_data["iss"] == APPLE_NEW_ISSUER
    assert identity.identity_data["custom_claims"]["transfer_sub"] == "t-sub-1"


def test_a_token_reply_without_id_token_is_the_no_email_error(oauth_app, apple):
    apple.id_token_claims = None
    app = oauth_app({"apple": apple})
    _, answer = _dance(app, redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error"] == "server_error"
    assert _error_description(answer) == "Error getting user email from external provider"
    assert entities(app, sa.select(User)) == []


@pytest.mark.parametrize("claims", [
    # Only CLIENT_ID[0] is an acceptable audience at the callback.
    {"aud": "other-client"},
    {"is_private_email": 1},
])
def test_a_bad_id_token_is_a_profile_error(oauth_app, servers, claims):
    app = oauth_app({"apple": apple_fake(servers, **claims)})
    _, answer = _dance(app, redirect_to=WELCOME)
    assert _error_description(answer) == "Error getting user profile from external provider"
    assert entities(app, sa.select(Identity)) == []
    assert entities(app, sa.select(User)) == []


def test_an_id_token_signed_by_another_key_is_refused(oauth_app, apple, servers):
    forger = apple_fake(servers)
    apple.id_token_claims = None
    apple.token_extra = {"id_token": forger.sign({**forger.id_token_claims,
                                                  "aud": apple.client_id})}
    app = oauth_app({"apple": apple})
    _, answer = _dance(app, redirect_to=WELCOME)
    assert _error_description(answer) == "Error getting user profile from external provider"
    assert entities(app, sa.select(User)) == []


def test_a_user_form_that_is_not_json_is_a_profile_error(oauth_app, apple):
    apple.form_post_extra = {"user": "{not json"}
    app = oauth_app({"apple": apple})
    _, answer = _dance(app, redirect_to=WELCOME)
    assert _error_description(answer) == "Error getting user profile from external provider"
    assert entities(app, sa.select(User)) == []


def test_a_refusal_posted_back_is_echoed_without_error_code(oauth_app, apple):
    apple.deny = True
    app = oauth_app({"apple": apple})
    _, answer = _dance(app, redirect_to=WELCOME)
    assert answer.status_code == 302
    assert query(answer.headers["Location"]) == {"error": "access_denied",
                                                 "error_description": "The user said no"}
    assert fragment(answer.headers["Location"])["sb"] == ""
    assert not apple.requests_to(APPLE_ROUTES["token"])


def test_a_form_post_without_state_goes_to_the_site_url(oauth_app, apple):
    app = oauth_app({"apple": apple})
    answer = app.test_client().post("/callback", data={"code": "c", "user": ANN_USER_FORM})
    assert answer.status_code == 303
    assert query(answer.headers["Location"])["error_code"] == "bad_oauth_callback"


def test_unreachable_discovery_refuses_to_start(oauth_app, apple):
    apple.discovery_status = 503
    app = oauth_app({"apple": apple})
    answer = Browser(app).authorize(provider="apple")
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error_code"] == "validation_failed"
    assert body["msg"].startswith("Unsupported provider: ")
    assert entities(app, sa.select(FlowState)) == []
