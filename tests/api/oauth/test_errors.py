"""Everything that can go wrong in /authorize and /callback gets GoTrue's answer, never a 500:
JSON 400s from /authorize, a 303 to SITE_URL while the state is unknown, a 302 to the flow's
target after that."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, User

from ...factories import freeze_clock
from .conftest import SITE, Browser, entities, fragment, provider_settings, query

WELCOME = "http://localhost:3000/welcome"


@pytest.mark.parametrize(("change", "reason"), [
    ({"enabled": False}, "provider is not enabled"),
    ({"client_ids": ()}, "missing OAuth client ID"),
    ({"secret": ""}, "missing OAuth secret"),
    ({"redirect_uri": ""}, "missing redirect URI"),
])
def test_authorize_refuses_an_incomplete_provider(oauth_app, github, change, reason):
    app = oauth_app({"github": provider_settings(github, "github", **change)})
    answer = app.test_client().get("/authorize?provider=github")
    assert answer.status_code == 400
    assert answer.get_json()["error_code"] == "validation_failed"
    assert answer.get_json()["msg"] == f"Unsupported provider: {reason}"
    assert entities(app, sa.select(FlowState)) == []


@pytest.mark.parametrize("name", ["nope", "twitter", ""])
def test_authorize_refuses_unknown_and_unimplemented_providers(oauth_app, github, name):
    app = oauth_app({"github": github}, **{"external.providers": {"twitter": True}})
    answer = app.test_client().get("/authorize", query_string={"provider": name})
    assert answer.status_code == 400
    assert answer.get_json()["msg"] == f"Unsupported provider: Provider {name} could not be found"


def test_keycloak_needs_its_realm_url(oauth_app, keycloak):
    app = oauth_app({"keycloak": provider_settings(keycloak, "keycloak", url="")})
    answer = app.test_client().get("/authorize?provider=keycloak")
    assert answer.get_json()["msg"] == (
        "Unsupported provider: unable to find URL for the Keycloak provider")


def test_google_with_unreachable_discovery_is_unsupported(oauth_app, google, closed_port):
    settings = provider_settings(google, "google", url=f"http://127.0.0.1:{closed_port}")
    answer = oauth_app({"google": settings}).test_client().get("/authorize?provider=google")
    assert answer.status_code == 400
    assert answer.get_json()["msg"].startswith("Unsupported provider: OIDC discovery")


def test_authorize_checks_invite_token_and_pkce_parameters(oauth_app, github):
    client = oauth_app({"github": github}).test_client()
    answer = client.get("/authorize?provider=github&invite_token=unknown")
    assert (answer.status_code, answer.get_json()["error_code"]) == (404, "user_not_found")
    assert answer.get_json()["msg"] == "User identified by token not found"
    answer = client.get("/authorize?provider=github&code_challenge=" + "a" * 43)
    assert answer.status_code == 400


def test_reserved_keys_are_never_forwarded_and_the_provider_name_is_case_insensitive(
        oauth_app, github):
    app = oauth_app({"github": github})
    answer = app.test_client().get(
        "/authorize?provider=GitHub&State=forged&REDIRECT_URI=https://evil.example"
        "&client_id=evil&nonce=n-1&prompt=consent&scope=custom")
    target = query(answer.headers["Location"])
    assert target["state"] != "forged" and target["client_id"] == "client-1"
    assert target["redirect_uri"] == "http://localhost:9999/callback"
    assert target["nonce"] == "n-1" and target["prompt"] == "consent"
    # A passthrough `scope` overrides ours, as in GoTrue.
    assert target["scope"] == "custom"
    (flow,) = entities(app, sa.select(FlowState))
    assert flow.provider_type == "GitHub" and str(flow.id) == target["state"]


def _phase_a(answer, code: str, description: str) -> None:
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith(SITE + "?") and "#" not in location
    assert query(location) == {"error": "invalid_request", "error_code": code,
                               "error_description": description}


def test_callback_state_errors_redirect_to_the_site(oauth_app, github):
    app = oauth_app({"github": github})
    client = app.test_client()
    _phase_a(client.get("/callback?code=x"), "bad_oauth_callback", "OAuth state parameter missing")
    _phase_a(client.get("/callback?code=x&state=forged"), "bad_oauth_state",
             "OAuth state parameter is invalid")
    _phase_a(client.get(f"/callback?code=x&state={uuid.uuid4()}"), "bad_oauth_state",
             "OAuth state not found or expired")
    # The JWT states of older GoTrue versions are not accepted any more.
    old_state = jwt.encode({"provider": "github", "exp": 9999999999}, "x" * 32)
    _phase_a(client.get(f"/callback?code=x&state={old_state}"), "bad_oauth_state",
             "OAuth state parameter is invalid")
    assert entities(app, sa.select(User)) == [] and github.requests_to(
        "/login/oauth/access_token") == []


def test_an_expired_state_is_refused(oauth_app, github):
    app = oauth_app({"github": github})
    browser = Browser(app)
    started = browser.authorize(provider="github")
    back = browser.at_provider(started.headers["Location"])
    (flow,) = entities(app, sa.select(FlowState))
    freeze_clock(app, flow.created_at + timedelta(seconds=301))
    _phase_a(browser.callback(back), "bad_oauth_state", "OAuth state has expired")
    assert entities(app, sa.select(User)) == []


def test_a_state_is_used_once(oauth_app, github):
    app = oauth_app({"github": github})
    browser = Browser(app)
    back = browser.at_provider(browser.authorize(provider="github").headers["Location"])
    assert "access_token" in fragment(browser.callback(back).headers["Location"])
    _phase_a(browser.callback(back), "bad_oauth_state", "OAuth state not found or expired")

    back = browser.at_provider(browser.authorize(
        provider="github", code_challenge="c" * 43, code_challenge_method="plain",
    ).headers["Location"])
    assert "code" in query(browser.callback(back).headers["Location"])
    _phase_a(browser.callback(back), "flow_state_already_used", "State has already been used")
    assert len(entities(app, sa.select(User))) == 1


def _phase_b(answer, error: str, code: str | None, description: str) -> None:
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(WELCOME)
    expected = {"error": error, "error_description": description}
    if code:
        expected["error_code"] = code
    assert query(location) == expected
    assert fragment(location) == {**expected, "sb": ""}


def test_the_provider_refusing_is_echoed_without_an_error_code(oauth_app, github):
    github.deny = True
    app = oauth_app({"github": github})
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _phase_b(answer, "access_denied", None, "The user said no")
    assert entities(app, sa.select(User)) == []


def test_a_callback_without_code_is_refused(oauth_app, github):
    app = oauth_app({"github": github})
    started = Browser(app).authorize(provider="github", redirect_to=WELCOME)
    state = query(started.headers["Location"])["state"]
    answer = app.test_client().get(f"/callback?state={state}")
    _phase_b(answer, "invalid_request", "bad_oauth_callback",
             "OAuth callback with missing authorization code missing")


@pytest.mark.parametrize("mode", ["error", "garbage", "slow", "no_access_token"])
def test_a_failing_token_endpoint_is_a_server_error_redirect(oauth_app, github, mode):
    github.token_mode, github.delay = mode, 1.5
    app = oauth_app({"github": github}, **{"external.http_timeout": timedelta(seconds=0.3)})
    browser = Browser(app)
    back = browser.at_provider(browser.authorize(provider="github",
                                                 redirect_to=WELCOME).headers["Location"])
    code = query(back)["code"]
    _phase_b(browser.callback(back), "server_error", "unexpected_failure",
             f"Unable to exchange external code: {code[:4]}")
    assert entities(app, sa.select(User)) == []
    assert github.requests_to("/api/v3/user") == []


def test_a_failing_profile_is_a_server_error_redirect(oauth_app, github):
    github.profile_status = 502
    app = oauth_app({"github": github})
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


def test_a_garbage_profile_is_a_server_error_redirect(oauth_app, github):
    github.documents["/api/v3/user/emails"] = {"not": "a list"}
    answer = Browser(oauth_app({"github": github})).sign_in(provider="github",
                                                             redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")


def test_an_id_token_signed_by_another_key_is_refused(oauth_app, google):
    from ...support.fake_oauth import rsa_key
    app = oauth_app({"google": google})
    browser = Browser(app)
    back = browser.at_provider(browser.authorize(provider="google",
                                                 redirect_to=WELCOME).headers["Location"])
    google.signing_key, real_key = rsa_key(), google.signing_key
    answer = browser.callback(back)
    google.signing_key = real_key
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")
    assert entities(app, sa.select(Identity)) == []


def test_an_id_token_for_another_client_is_refused(oauth_app, google):
    google.id_token_claims["aud"] = "someone-else"
    answer = Browser(oauth_app({"google": google})).sign_in(provider="google",
                                                             redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")


def test_no_email_is_refused_unless_email_is_optional(oauth_app, github):
    github.documents["/api/v3/user/emails"] = []
    app = oauth_app({"github": github})
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user email from external provider")
    assert entities(app, sa.select(User)) == []

    optional = dataclasses.replace(provider_settings(github, "github"), email_optional=True)
    app = oauth_app({"github": optional})
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    assert "access_token" in fragment(answer.headers["Location"])
    (user,) = entities(app, sa.select(User))
    assert user.email is None


def test_external_redirect_url_is_the_base_of_every_phase_b_redirect(oauth_app, github):
    github.deny = True
    app = oauth_app({"github": github},
                    **{"external.redirect_url": "https://app.example/oauth-done?x=1"})
    answer = Browser(app).sign_in(provider="github", redirect_to=WELCOME)
    location = answer.headers["Location"]
    assert urlsplit(location).netloc == "app.example"
    assert query(location)["x"] == "1" and query(location)["error"] == "access_denied"


def test_an_id_token_whose_at_hash_does_not_match_the_access_token_is_refused(oauth_app, google):
    google.id_token_claims["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA"
    answer = Browser(oauth_app({"google": google})).sign_in(provider="google",
                                                             redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")


def test_an_expired_id_token_is_refused(oauth_app, google):
    google.id_token_claims["exp"] = 1_000_000
    answer = Browser(oauth_app({"google": google})).sign_in(provider="google",
                                                             redirect_to=WELCOME)
    _phase_b(answer, "server_error", "unexpected_failure",
             "Error getting user profile from external provider")
