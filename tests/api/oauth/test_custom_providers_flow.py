"""Sign-in with custom providers (spec oauth-sso.md sections 6 and 3): the oauth2 flow against
a fake userinfo endpoint (allowlist, attribute_mapping, provider PKCE), the OIDC flow with
id_tokens signed by the fake's test key (acceptable audiences, userinfo fallback), `scopes`
replacing the stored ones, authorization_params overriding the passthrough, and the id_token
grant's custom:<id> row. Providers are registered through the admin API."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, OAuthClientState, User

from ...conftest import api_for
from ...support.fake_custom_oauth import (OAUTH2_ROUTES, OIDC_ROUTES, PRIVATE_URLS, oauth2_body,
                                          oauth2_fake, oidc_body, oidc_fake)
from .conftest import CALLBACK, SITE, Browser, entities, fragment, query

PATH = "/admin/custom-providers"
ADA = {"id": 9001, "display_name": "Ada L", "email": "Ada@Example.com", "email_verified": True,
       "groups": ["eng"], "tier": "gold", "internal_note": "not for identity_data"}


@pytest.fixture
def custom_app(make_app, service_role_token):
    """``custom_app(body, **overrides)``: an app with one custom provider registered."""

    def build(*bodies: dict, **overrides):
        app = make_app(**PRIVATE_URLS, **{"mailer.autoconfirm": True, **overrides})
        api = api_for(app, service_role_token)
        for body in bodies:
            answer = api.admin("POST", PATH, json=body)
            assert answer.status_code == 201, answer.get_data(as_text=True)
        return app

    return build


@pytest.fixture
def acme(servers):
    fake = servers(oauth2_fake())
    fake.documents[OAUTH2_ROUTES["profiles"][0]] = dict(ADA)
    return fake


@pytest.fixture
def idp(servers):
    fake = servers(oidc_fake())
    fake.id_token_claims = {"sub": "idp-sub-1", "email": "grace@example.com",
                            "email_verified": True, "name": "Grace", "team": "navy"}
    return fake


def _authorize_params(response) -> dict:
    assert response.status_code == 302, response.get_data(as_text=True)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()


def _signed_in(app, answer) -> User:
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(SITE + "#"), location
    assert "access_token" in fragment(location)
    (user,) = entities(app, sa.select(User))
    return user


def _server_error(answer) -> None:
    assert answer.status_code == 302, answer.get_data(as_text=True)
    found = query(answer.headers["Location"])
    assert (found["error"], found["error_code"], found["error_description"]) == (
        "server_error", "unexpected_failure",
        "Error getting user profile from external provider")


def test_oauth2_flow_maps_userinfo_with_allowlist_mapping_and_provider_pkce(custom_app, acme):
    app = custom_app(oauth2_body(
        acme, custom_claims_allowlist=["groups", "tier", "absent"],
        attribute_mapping={"sub": "id", "name": "display_name", "picture": "no_such_key",
                           "locale": "en-GB", "nickname": 42}))
    browser = Browser(app)
    started = browser.authorize(provider="custom:acme")
    params = _authorize_params(started)
    assert started.headers["Location"].startswith(acme.url + OAUTH2_ROUTES["authorize"] + "?")
    assert params["client_id"] == acme.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["scope"] == "profile email"
    assert params["code_challenge_method"] == "S256"
    (client_state,) = entities(app, sa.select(OAuthClientState))
    assert client_state.provider_type == "custom:acme"
    assert params["code_challenge"] == _s256(client_state.code_verifier)

    user = _signed_in(app, browser.callback(browser.at_provider(started.headers["Location"])))
    (exchange,) = acme.requests_to(OAUTH2_ROUTES["token"])
    # The verifier reached the provider's token endpoint and matches the challenge it saw.
    assert _s256(exchange["form"]["code_verifier"]) == params["code_challenge"]
    assert exchange["form"]["redirect_uri"] == CALLBACK
    assert entities(app, sa.select(OAuthClientState)) == []
    assert user.email == "ada@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "custom:acme", "providers": ["custom:acme"]}
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("custom:acme", "9001")
    data = identity.identity_data
    assert data["custom_claims"] == {"groups": ["eng"], "tier": "gold"}
    assert data["name"] == "Ada L" and data["sub"] == "9001"
    # A string names a raw key, copied only when present ("no_such_key", "en-GB": nothing);
    # any other value is set as is.
    assert "picture" not in data and "locale" not in data
    assert data["nickname"] == "42"
    assert "internal_note" not in data and "internal_note" not in str(data)
    assert data["email_verified"] is True


def test_a_non_boolean_email_verified_fails_the_profile(custom_app, acme):
    acme.documents[OAUTH2_ROUTES["profiles"][0]] = {**ADA, "email_verified": "true"}
    app = custom_app(oauth2_body(acme, attribute_mapping={"sub": "id"}))
    _server_error(Browser(app).sign_in(provider="custom:acme"))
    assert entities(app, sa.select(User)) == []


def test_without_pkce_no_verifier_is_made_or_sent(custom_app, acme):
    app = custom_app(oauth2_body(acme, pkce_enabled=False, attribute_mapping={"sub": "id"}))
    browser = Browser(app)
    started = browser.authorize(provider="custom:acme")
    assert "code_challenge" not in _authorize_params(started)
    assert entities(app, sa.select(OAuthClientState)) == []
    _signed_in(app, browser.callback(browser.at_provider(started.headers["Location"])))
    (exchange,) = acme.requests_to(OAUTH2_ROUTES["token"])
    assert "code_verifier" not in exchange["form"]


def test_scopes_are_space_separated_and_replace_the_stored_ones(custom_app, acme):
    app = custom_app(oauth2_body(acme))
    params = _authorize_params(Browser(app).authorize(provider="custom:acme",
                                                      scopes="read:user  write"))
    assert params["scope"] == "read:user write"


def test_authorization_params_override_the_passthrough(custom_app, acme):
    app = custom_app(oauth2_body(acme, authorization_params={"prompt": "consent",
                                                             "scope": "forced", "hd": "x.com"}))
    params = _authorize_params(Browser(app).authorize(
        provider="custom:acme", prompt="login", login_hint="ada", redirect_uri="https://evil"))
    assert params["prompt"] == "consent" and params["scope"] == "forced"
    assert params["hd"] == "x.com" and params["login_hint"] == "ada"
    assert params["redirect_uri"] == CALLBACK


def test_the_custom_external_url_is_the_redirect_uri_base(custom_app, acme):
    app = custom_app(oauth2_body(acme), **{
        "external.custom_oauth_external_url": "https://auth.example.com/base/"})
    params = _authorize_params(Browser(app).authorize(provider="custom:acme"))
    assert params["redirect_uri"] == "https://auth.example.com/base/callback"


def test_the_flow_state_keeps_the_provider_as_typed(custom_app, acme):
    app = custom_app(oauth2_body(acme))
    Browser(app).authorize(provider="Custom:Acme")
    (flow,) = entities(app, sa.select(FlowState))
    assert flow.provider_type == "Custom:Acme"


@pytest.mark.parametrize("provider, changes, overrides, reason", [
    ("custom:nope", {}, {}, "Provider custom:nope could not be found"),
    ("custom:acme", {"enabled": False}, {}, "provider is not enabled"),
    ("custom:acme", {}, {"external.custom_oauth_enabled": False},
     "Provider custom:acme could not be found"),
])
def test_unusable_custom_providers_are_refused(make_app, service_role_token, acme, provider,
                                               changes, overrides, reason):
    app = make_app(**PRIVATE_URLS)
    assert api_for(app, service_role_token).admin(
        "POST", PATH, json=oauth2_body(acme, **changes)).status_code == 201
    if overrides:
        app = make_app(**PRIVATE_URLS, **overrides)
    answer = Browser(app).authorize(provider=provider)
    assert answer.status_code == 400
    assert answer.get_json()["msg"] == f"Unsupported provider: {reason}"
    assert entities(app, sa.select(FlowState)) == []


def test_oidc_flow_accepts_an_acceptable_client_id_as_audience(custom_app, idp):
    idp.id_token_claims["aud"] = ["someone-else", "ios-app"]
    app = custom_app(oidc_body(idp, acceptable_client_ids=["ios-app"],
                               custom_claims_allowlist=["team"]))
    browser = Browser(app)
    started = browser.authorize(provider="custom:idp", nonce="client-nonce")
    params = _authorize_params(started)
    assert params["scope"] == "openid email profile"
    assert started.headers["Location"].startswith(idp.url + OIDC_ROUTES["authorize"] + "?")
    user = _signed_in(app, browser.callback(browser.at_provider(started.headers["Location"])))
    assert user.email == "grace@example.com"
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("custom:idp", "idp-sub-1")
    assert identity.identity_data["custom_claims"] == {"team": "navy"}
    assert identity.identity_data["iss"] == idp.url
    # The id_token was the profile: no userinfo call.
    assert idp.requests_to(OIDC_ROUTES["profiles"][0]) == []


def test_oidc_flow_refuses_an_id_token_for_another_audience(custom_app, idp):
    idp.id_token_claims["aud"] = "someone-else"
    app = custom_app(oidc_body(idp, acceptable_client_ids=["ios-app"]))
    _server_error(Browser(app).sign_in(provider="custom:idp"))
    assert entities(app, sa.select(User)) == []


def test_oidc_flow_falls_back_to_userinfo_without_an_id_token(custom_app, idp):
    idp.id_token_claims = None
    idp.documents[OIDC_ROUTES["profiles"][0]] = {"sub": "userinfo-sub", "email": "u@example.com",
                                                  "email_verified": False}
    app = custom_app(oidc_body(idp))
    browser = Browser(app)
    answer = browser.sign_in(provider="custom:idp")
    # Unverified email: the confirmation path (autoconfirm makes it verified here).
    _signed_in(app, answer)
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider_id == "userinfo-sub"
    (call,) = idp.requests_to(OIDC_ROUTES["profiles"][0])
    assert call["authorization"].startswith("Bearer provider-access-")


# --- POST /token?grant_type=id_token with provider custom:<id> ---

def _grant(app, body):
    return app.test_client().post("/token?grant_type=id_token", json=body)


def _error(answer, status: int, code: str, message: str) -> None:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["error_code"], body["msg"]) == (code, message)


def test_the_id_token_grant_accepts_a_custom_oidc_provider(custom_app, idp):
    app = custom_app(oidc_body(idp, acceptable_client_ids=["ios-app"]))
    nonce = "n-0"
    token = idp.sign({"sub": "grant-sub", "email": "g@example.com", "email_verified": True,
                      "aud": "ios-app", "nonce": hashlib.sha256(nonce.encode()).hexdigest()})
    answer = _grant(app, {"provider": "custom:idp", "id_token": token, "nonce": nonce})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["user"]["email"] == "g@example.com"
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("custom:idp", "grant-sub")
    # Another audience is refused with GoTrue's OAuth-shape body.
    other = idp.sign({"sub": "grant-sub", "aud": "stranger"})
    answer = _grant(app, {"provider": "custom:idp", "id_token": other})
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "invalid request",
                                 "error_description": "Unacceptable audience in id_token: "
                                                      "[stranger]"}


def test_skip_nonce_check_applies_to_custom_providers(custom_app, idp):
    app = custom_app(oidc_body(idp, skip_nonce_check=True))
    token = idp.sign({"sub": "s", "email": "n@example.com", "email_verified": True,
                      "nonce": "whatever"})
    assert _grant(app, {"provider": "custom:idp", "id_token": token}).status_code == 200


def test_id_token_grant_selection_errors(custom_app, make_app, service_role_token, idp, acme):
    app = custom_app(oidc_body(idp), oauth2_body(acme),
                     oidc_body(idp, identifier="custom:off", enabled=False))
    token = idp.sign({"sub": "s"})
    _error(_grant(app, {"provider": "custom:nope", "id_token": token}), 400,
           "validation_failed", 'Custom provider "custom:nope" not found')
    _error(_grant(app, {"provider": "custom:acme", "id_token": token}), 400,
           "validation_failed", 'Custom provider "custom:acme" is not an OIDC provider')
    _error(_grant(app, {"provider": "custom:off", "id_token": token}), 400,
           "provider_disabled", 'Custom provider "custom:off" is disabled')
    disabled = make_app(**{"external.custom_oauth_enabled": False})
    _error(_grant(disabled, {"provider": "custom:idp", "id_token": token}), 400,
           "validation_failed", "Custom OAuth providers are disabled")
    assert entities(app, sa.select(User)) == []


def test_a_secret_sealed_under_another_jwt_secret_makes_the_provider_unusable(
        custom_app, make_app, acme):
    custom_app(oauth2_body(acme))
    rotated = make_app(**PRIVATE_URLS, **{"jwt.secret": "another-jwt-secret-of-32-bytes!!"})
    answer = Browser(rotated).authorize(provider="custom:acme")
    assert answer.status_code == 400
    assert answer.get_json()["msg"] == "Unsupported provider: missing OAuth secret"
