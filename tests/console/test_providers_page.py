"""The console's providers page (issue 9): every provider the server implements with its
registration and what it still needs, secrets never shown, the test button that builds the
authorize URL without writing a flow_state row, and the custom providers table.

GitHub is registered against a fake provider on loopback, so the URL the test button shows is
followed for real: the provider accepts it and sends the browser back to our /callback, which
refuses the state (no row was written for it), as the page says it will.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gotrue_web.extensions import db
from gotrue_web.models import FlowState
from gotrue_web.models.oauth_provider import CustomOAuthProvider, OAuthClientState
from gotrue_web.services import oauth
from gotrue_web.services.oauth.custom import secret_box
from gotrue_web.settings.external import OAuthProviderSettings

from ..factories import count, query
from ..support.fake_oauth import GITHUB_ROUTES, FakeProvider
from .conftest import signed_in
from .support_users import unescape

CALLBACK = "http://localhost:9999/callback"
GITHUB_SECRET = "gh-Secret-9f8e7d6c5b4a"
KEYCLOAK_CLIENT = "kc-client-visible"
CUSTOM_SECRET = "encrypted:custom-Secret-0a1b2c3d"
SECRETS = (GITHUB_SECRET, CUSTOM_SECRET)


@pytest.fixture
def github(servers):
    return servers(FakeProvider(GITHUB_ROUTES, client_id="gh-client-1", secret=GITHUB_SECRET))


@pytest.fixture
def app(make_app, settings, github):
    """github ready (against the fake), keycloak enabled with a client id only, gitlab with
    credentials but switched off, and a provider enabled that no module implements."""
    configured = dict(settings.external.oauth)
    configured["github"] = OAuthProviderSettings(
        enabled=True, client_ids=("gh-client-1", "gh-ios-client"), secret=GITHUB_SECRET,
        redirect_uri=CALLBACK, url=github.url)
    configured["keycloak"] = OAuthProviderSettings(enabled=True, client_ids=(KEYCLOAK_CLIENT,))
    configured["gitlab"] = OAuthProviderSettings(
        enabled=False, client_ids=("gl-client",), secret="gl-Secret-1234567",
        redirect_uri="https://auth.example.org/auth/v1/callback")
    configured["notyet"] = OAuthProviderSettings(enabled=True, client_ids=("n",), secret="n")
    return make_app(**{"external.oauth": configured,
                       "external.providers": {**settings.external.providers, "github": True}})


def card(html: str, name: str) -> str:
    """The HTML of one provider's row and the test row under it."""
    match = re.search(rf'<tr id="provider-{name}">.*?</tr>\s*<tr id="test-{name}".*?</tr>',
                      html, re.S)
    assert match, name
    return match.group(0)


def value(html: str, label: str) -> str:
    """The <dd> beside the <dt> ``label`` (the first one in ``html``)."""
    match = re.search(rf"<dt>{label}</dt>\s*<dd>(.*?)</dd>", html, re.S)
    assert match, label
    return match.group(1)


def _authorize_url(html: str) -> str:
    match = re.search(r'class="test-url" href="([^"]+)"', html)
    assert match, html
    return unescape(match.group(1))


def _test(console, name: str, htmx: bool = True, **kwargs):
    return console.post(f"/console/providers/{name}/test", htmx=htmx, **kwargs)


# --- the page -----------------------------------------------------------------------------------


def test_every_implemented_provider_is_listed_with_its_registration(console):
    response = console.get("/console/providers")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'aria-current="page">Providers</a>' in html
    # Read from the registry as it is now: providers are added while this page exists.
    for name in oauth.REGISTRY:
        assert f'id="provider-{name}"' in html, name
    assert 'id="provider-notyet"' not in html

    github = card(html, "github")
    assert ">Ready<" in github and "Missing for it to work" not in github
    assert "gh-client-1" in github and "+1 more accepted in ID tokens" in github
    assert value(github, "Redirect URI") == f"<code>{CALLBACK}</code>"
    assert value(github, "Callback URL") == f"<code>{CALLBACK}</code>"
    assert "Not this server's callback" not in github
    assert value(github, "Secret") == '<span class="badge ok">set</span>'
    assert "<code>user:email</code>" in github and ">fixed<" not in github
    assert "127.0.0.1" in github  # the URL override

    keycloak = card(html, "keycloak")
    assert ">Not ready<" in keycloak and KEYCLOAK_CLIENT in keycloak
    reasons = re.findall(r"<li>([^<]+)</li>", keycloak)
    assert reasons == ["missing OAuth secret", "missing redirect URI",
                       "unable to find URL for the Keycloak provider"]
    assert value(keycloak, "Secret") == '<span class="badge warn">not set</span>'
    assert "not set (required)" in keycloak

    gitlab = card(html, "gitlab")
    assert ">Disabled<" in gitlab
    assert re.findall(r"<li>([^<]+)</li>", gitlab) == ["provider is not enabled"]
    # A redirect URI that is not this server's callback is pointed out.
    assert "Not this server's callback (http://localhost:9999/callback)" in gitlab

    assert "Enabled but not implemented by this server:</strong> notyet" in html
    assert "GOTRUE_CUSTOM_OAUTH_ENABLED" not in html
    assert f'<code class="wrap" id="callback-url">{CALLBACK}</code>' in html


def test_the_reasons_are_the_ones_get_authorize_gives(console, app):
    html = console.get("/console/providers").get_data(as_text=True)
    client = app.test_client()
    for name in ("keycloak", "gitlab", "google"):
        first = re.findall(r"<li>([^<]+)</li>", card(html, name))[0]
        answer = client.get("/authorize", query_string={"provider": name})
        assert answer.status_code == 400
        assert answer.get_json()["msg"] == f"Unsupported provider: {first}"


def test_secrets_are_never_in_the_html(console, app):
    _add_custom_provider(app)
    pages = [console.get("/console/providers"), console.get("/console/providers", htmx=True),
             _test(console, "github"), _test(console, "github", htmx=False),
             _test(console, "gitlab"), _test(console, "keycloak")]
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        for secret in (*SECRETS, "gl-Secret-1234567"):
            assert secret not in html
            # Not even a part of it.
            assert secret[:8] not in html and secret[-8:] not in html


# --- the test button ----------------------------------------------------------------------------


def test_the_test_button_shows_the_authorize_url_and_writes_nothing(console, app, github):
    response = _test(console, "github")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<tr id="test-github" class="test-row">')
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast == {"message": "Authorize URL built for github.", "kind": "ok"}
    assert "Nothing was written for this test" in html

    url = _authorize_url(html)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == github.url + GITHUB_ROUTES[
        "authorize"]
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert params.pop("state") and set(params) == {"client_id", "redirect_uri",
                                                   "response_type", "scope"}
    assert params == {"client_id": "gh-client-1", "redirect_uri": CALLBACK,
                      "response_type": "code", "scope": "user:email"}
    assert count(app, FlowState) == 0 and count(app, OAuthClientState) == 0

    # The provider accepts it; our callback then refuses the state, as the page says.
    back = requests.get(url, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith(CALLBACK + "?")
    answer = app.test_client().get("/callback?" + urlsplit(back.headers["Location"]).query)
    assert answer.status_code == 303
    assert query(answer.headers["Location"])["error_description"] == \
        "OAuth state not found or expired"
    assert count(app, FlowState) == 0


def test_each_test_has_a_state_of_its_own(console):
    first = _authorize_url(_test(console, "github").get_data(as_text=True))
    second = _authorize_url(_test(console, "github").get_data(as_text=True))
    states = [query(url)["state"] for url in (first, second)]
    assert states[0] != states[1] and all(uuid.UUID(state) for state in states)


def test_a_provider_that_is_not_ready_says_why(console, app):
    response = _test(console, "keycloak")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<div class="form-error" role="alert">Unsupported provider: missing OAuth secret' \
        in html
    assert json.loads(response.headers["HX-Trigger"])["toast"]["kind"] == "error"
    assert "test-url" not in html

    response = _test(console, "no-such-provider")
    assert "Unsupported provider: Provider no-such-provider could not be found" in \
        response.get_data(as_text=True)
    assert count(app, FlowState) == 0


def test_without_javascript_the_page_comes_back_with_the_result(console):
    response = _test(console, "github", htmx=False)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert "test-url" in card(html, "github")
    assert "test-url" not in card(html, "gitlab")


def test_the_test_needs_the_csrf_token(console, app):
    for htmx in (True, False):
        response = _test(console, "github", htmx=htmx, csrf=False)
        assert response.status_code == 400
        assert "test-url" not in response.get_data(as_text=True)


def test_the_page_needs_a_signed_in_operator(anonymous_console):
    response = anonymous_console.get("/console/providers")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login?next=")
    response = anonymous_console.post("/console/providers/github/test")
    assert response.status_code == 303 and response.headers["Location"] == "/console/login"
    response = anonymous_console.post("/console/providers/github/test", htmx=True)
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/console/login"
    assert "test-url" not in response.get_data(as_text=True)


# --- custom providers ---------------------------------------------------------------------------


def _add_custom_provider(app, **changes):
    rt = app.extensions["gotrue"]
    with app.app_context():
        now = rt.now()
        row = CustomOAuthProvider(**{
            "provider_type": "oidc", "identifier": "custom:acme", "name": "Acme SSO",
            "client_id": "acme-client-7", "client_secret": CUSTOM_SECRET,
            "acceptable_client_ids": [], "scopes": ["openid", "email"], "pkce_enabled": True,
            "attribute_mapping": {}, "authorization_params": {}, "custom_claims_allowlist": [],
            "enabled": True, "email_optional": False, "issuer": "https://id.acme.example",
            "created_at": now, "updated_at": now, **changes})
        db.session.add(row)
        db.session.commit()


def test_custom_providers_are_listed(console, app):
    html = console.get("/console/providers").get_data(as_text=True)
    assert "<strong>No custom providers</strong>" in html

    _add_custom_provider(app)
    _add_custom_provider(app, identifier="custom:beta", name="Beta", provider_type="oauth2",
                         issuer=None, enabled=False, client_id="beta-client",
                         authorization_url="https://beta.example/authorize")
    html = console.get("/console/providers").get_data(as_text=True)
    table = re.search(r'<section class="card flush" id="custom-providers">.*?</section>', html,
                      re.S).group(0)
    rows = re.findall(r"<tr>\s*<td class=\"mono\">(.*?)</tr>", table, re.S)
    assert [row.split("<")[0] for row in rows] == ["custom:acme", "custom:beta"]
    acme, beta = rows
    assert "Acme SSO" in acme and "OpenID Connect" in acme and "acme-client-7" in acme
    assert 'badge ok">yes<' in acme and 'badge ok">set<' in acme
    assert "Beta" in beta and "OAuth 2.0" in beta and 'badge">no<' in beta
    assert CUSTOM_SECRET not in html


def test_custom_providers_switched_off_are_said_to_be_unused(make_app):
    console = signed_in(make_app(**{"external.custom_oauth_enabled": False}))
    html = console.get("/console/providers").get_data(as_text=True)
    assert "<code>GOTRUE_CUSTOM_OAUTH_ENABLED</code> is off" in html


def test_a_custom_provider_can_be_tested_too(console, app):
    _add_custom_provider(app)  # its stored secret was not sealed by this server
    plain = "beta-Plain-Secret-77aa"
    _add_custom_provider(app, identifier="custom:beta", name="Beta", provider_type="oauth2",
                         issuer=None, client_id="beta-client",
                         client_secret=secret_box.seal(app.extensions["gotrue"].settings.jwt
                                                       .secret, plain),
                         authorization_url="https://beta.example/oauth/authorize",
                         token_url="https://beta.example/oauth/token",
                         userinfo_url="https://beta.example/userinfo")
    page = console.get("/console/providers").get_data(as_text=True)
    assert '<tr id="test-custom-acme" hidden></tr>' in page
    assert 'hx-target="#test-custom-beta"' in page

    refused = _test(console, "custom:acme").get_data(as_text=True)
    assert refused.lstrip().startswith('<tr id="test-custom-acme" class="test-row">')
    assert "Unsupported provider: missing OAuth secret" in refused

    response = _test(console, "custom:beta")
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<tr id="test-custom-beta" class="test-row">')
    assert 'colspan="8"' in html
    url = _authorize_url(html)
    assert url.startswith("https://beta.example/oauth/authorize?")
    params = query(url)
    assert params["client_id"] == "beta-client" and params["redirect_uri"] == CALLBACK
    # PKCE with the provider: a challenge whose verifier is not kept anywhere.
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert "oauth_client_states" in html
    assert count(app, FlowState) == 0 and count(app, OAuthClientState) == 0
    for answer in (html, console.get("/console/providers").get_data(as_text=True)):
        assert plain not in answer and plain[:8] not in answer


def test_a_provider_added_to_the_registry_shows_up(console, monkeypatch):
    """The page reads REGISTRY when it renders, not when the console was imported."""

    class NotYet(oauth.Provider):
        name = "notyet"
        default_scopes = ("read:user",)

    monkeypatch.setitem(oauth.REGISTRY, NotYet.name, NotYet())
    html = console.get("/console/providers").get_data(as_text=True)
    assert "<code>read:user</code>" in card(html, "notyet")
    assert "Enabled but not implemented" not in html
