"""The whole external sign-in as a browser makes it, against fake GitHub, GitLab, Google and
Keycloak servers: the authorize URL, the token request, the profile calls, both finishes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import quote_plus, urlencode

import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry, FlowState, Identity, User


from .conftest import CALLBACK, Browser, entities, fragment, query

WELCOME = "http://localhost:3000/welcome"
IMPLICIT_KEYS = ["access_token", "expires_at", "expires_in", "provider_refresh_token",
                 "provider_token", "refresh_token", "sb", "token_type"]


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def test_github_implicit_flow_signs_up_and_returns_tokens_in_the_fragment(oauth_app, github):
    app = oauth_app({"github": github})
    browser = Browser(app)
    started = browser.authorize(provider="github", redirect_to=WELCOME, scopes="repo,read:org",
                                login_hint="octo")
    assert started.status_code == 302
    (flow,) = entities(app, sa.select(FlowState))
    assert flow.provider_type == "github" and flow.authentication_method == "oauth"
    assert flow.referrer == WELCOME and flow.code_challenge == ""
    expected = {"client_id": "client-1", "login_hint": "octo", "redirect_to": WELCOME,
                "redirect_uri": CALLBACK, "response_type": "code",
                "scope": "user:email repo read:org", "state": str(flow.id)}
    assert started.headers["Location"] == (
        f"{github.url}/login/oauth/authorize?" + urlencode(sorted(expected.items())))

    finished = browser.callback(browser.at_provider(started.headers["Location"]))

    assert finished.status_code == 302
    location = finished.headers["Location"]
    assert location.startswith(WELCOME + "#")
    values = fragment(location)
    assert list(values) == IMPLICIT_KEYS
    assert values["provider_token"] in github.access_tokens
    assert values["provider_refresh_token"] == "provider-refresh-1"
    assert values["token_type"] == "bearer" and values["sb"] == ""
    # The token request: HTTP Basic with escaped credentials, the code and our redirect URI.
    (exchange,) = github.requests_to("/login/oauth/access_token")
    assert exchange["authorization"] == _basic("client-1", "secret:1 two")
    assert exchange["form"] == {"grant_type": "authorization_code",
                                "code": next(iter(github.codes)), "redirect_uri": CALLBACK}
    for path in ("/api/v3/user", "/api/v3/user/emails"):
        (call,) = github.requests_to(path)
        assert call["authorization"] == "Bearer " + values["provider_token"]

    (user,) = entities(app, sa.select(User))
    assert user.email == "octo@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "github", "providers": ["github"]}
    assert user.raw_user_meta_data["user_name"] == "octocat"
    (identity,) = entities(app, sa.select(Identity))
    assert (identity.provider, identity.provider_id) == ("github", "4242")
    assert identity.identity_data == {
        "iss": f"{github.url}/api/v3", "sub": "4242", "name": "Octo Cat",
        "full_name": "Octo Cat", "picture": "https://avatars.example/octo.png",
        "avatar_url": "https://avatars.example/octo.png", "preferred_username": "octocat",
        "user_name": "octocat", "email": "octo@example.com", "provider_id": "4242",
        "email_verified": True, "phone_verified": False}
    assert entities(app, sa.select(FlowState)) == []
    actions = [row.payload["action"] for row in entities(app, sa.select(AuditLogEntry))]
    assert sorted(actions) == ["login", "user_signedup"]
    me = browser.client.get("/user", headers={"Authorization": f"Bearer {values['access_token']}"})
    assert me.status_code == 200 and me.get_json()["email"] == "octo@example.com"


def test_github_pkce_flow_redirects_with_a_code_then_the_pkce_grant_returns_provider_tokens(
        oauth_app, github):
    app = oauth_app({"github": github})
    browser = Browser(app)
    verifier, challenge = _pkce_pair()
    finished = browser.sign_in(provider="github", redirect_to=WELCOME + "?tab=1",
                               code_challenge=challenge, code_challenge_method="S256")

    assert finished.status_code == 302
    (flow,) = entities(app, sa.select(FlowState))
    assert finished.headers["Location"] == f"{WELCOME}?code={flow.auth_code}&tab=1"
    assert flow.user_id is not None and flow.provider_access_token in github.access_tokens
    # The provider never sees our PKCE parameters.
    (authorize,) = github.requests_to("/login/oauth/authorize")
    assert "code_challenge" not in authorize["args"]

    body = {"auth_code": flow.auth_code, "code_verifier": verifier}
    exchanged = browser.client.post("/token?grant_type=pkce", json=body)
    assert exchanged.status_code == 200, exchanged.get_json()
    session = exchanged.get_json()
    assert session["provider_token"] == flow.provider_access_token
    assert session["provider_refresh_token"] == "provider-refresh-1"
    assert session["user"]["email"] == "octo@example.com"
    again = browser.client.post("/token?grant_type=pkce", json=body)
    assert again.status_code == 404


def test_a_provider_refusing_basic_auth_gets_the_credentials_in_the_body(oauth_app, github):
    github.token_mode = "no_basic"
    finished = Browser(oauth_app({"github": github})).sign_in(provider="github")
    assert "access_token" in fragment(finished.headers["Location"])
    first, second = github.requests_to("/login/oauth/access_token")
    assert first["authorization"].startswith("Basic ")
    assert second["authorization"] == ""
    assert second["form"]["client_id"] == "client-1"
    assert second["form"]["client_secret"] == "secret:1 two"


def test_gitlab_uses_the_confirmed_account_email(oauth_app, gitlab):
    app = oauth_app({"gitlab": gitlab})
    finished = Browser(app).sign_in(provider="gitlab")
    assert finished.headers["Location"].startswith("http://localhost:3000#access_token=")
    (authorize,) = gitlab.requests_to("/oauth/authorize")
    assert authorize["args"]["scope"] == "read_user"
    (user,) = entities(app, sa.select(User))
    assert user.email == "tanuki@example.com" and user.email_confirmed_at is not None
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider_id == "77" and identity.identity_data["iss"] == f"{gitlab.url}/api/v4"


def test_google_signs_in_with_a_verified_id_token_and_caches_discovery(oauth_app, google):
    app = oauth_app({"google": google})
    browser = Browser(app)
    started = browser.authorize(provider="google", scopes="https://www.googleapis.com/auth/gmail")
    location = started.headers["Location"]
    assert location.startswith(f"{google.url}/o/oauth2/v2/auth?")
    assert query(location)["scope"] == "email profile https://www.googleapis.com/auth/gmail"
    finished = browser.callback(browser.at_provider(location))
    assert "access_token" in fragment(finished.headers["Location"])
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider_id == "google-sub-1"
    assert identity.identity_data["iss"] == "https://accounts.google.com"
    assert identity.identity_data["custom_claims"] == {"hd": "example.com"}
    assert identity.identity_data["email_verified"] is True
    assert google.requests_to("/userinfo/v2/me") == []

    Browser(app).sign_in(provider="google")
    assert len(google.requests_to("/.well-known/openid-configuration")) == 1
    assert len(google.requests_to("/oauth2/v3/certs")) == 1
    assert len(entities(app, sa.select(User))) == 1


def test_google_without_an_id_token_falls_back_to_userinfo(oauth_app, google):
    google.id_token_claims = None
    google.documents["/userinfo/v2/me"] = {"id": "g-2", "email": "Gus@Example.com",
                                           "verified_email": True, "name": "Gus"}
    app = oauth_app({"google": google})
    Browser(app).sign_in(provider="google")
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider_id == "g-2"
    assert identity.identity_data["iss"] == f"{google.url}/userinfo/v2/me"
    assert identity.identity_data["email"] == "gus@example.com"


def test_keycloak_reads_the_realms_userinfo(oauth_app, keycloak):
    app = oauth_app({"keycloak": keycloak})
    finished = Browser(app).sign_in(provider="keycloak")
    assert "access_token" in fragment(finished.headers["Location"])
    (authorize,) = keycloak.requests_to("/realms/test/protocol/openid-connect/auth")
    assert authorize["args"]["scope"] == "profile email"
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider_id == "kc-subject-1"
    assert identity.identity_data["iss"] == f"{keycloak.url}/realms/test"
    assert identity.identity_data["custom_claims"] == {"preferred_username": "kay",
                                                       "groups": ["staff"]}


def test_settings_report_the_implemented_providers_that_are_enabled(oauth_app, github, google,
                                                                     gitlab, keycloak):
    app = oauth_app({"github": github, "google": google, "gitlab": gitlab,
                     "keycloak": keycloak})
    external = app.test_client().get("/settings").get_json()["external"]
    assert {name for name, on in external.items() if on} == {
        "github", "google", "gitlab", "keycloak", "email"}


def test_a_form_post_callback_works_like_a_get(oauth_app, github):
    app = oauth_app({"github": github})
    browser = Browser(app)
    back = browser.at_provider(browser.authorize(provider="github").headers["Location"])
    finished = browser.callback(back, method="POST")
    assert finished.status_code == 302
    assert "access_token" in fragment(finished.headers["Location"])


def test_the_referrer_is_a_valid_redirect_to_else_a_valid_referer_else_the_site(oauth_app,
                                                                               github):
    app = oauth_app({"github": github})
    client = app.test_client()
    client.get("/authorize?provider=github",
               headers={"Referer": "http://localhost:3000/from-page"})
    client.get("/authorize?provider=github&redirect_to=https://evil.example/",
               headers={"Referer": "https://evil.example/page"})
    client.get("/authorize?provider=github&redirect_to=http://localhost:3000/app",
               headers={"Referer": "http://localhost:3000/from-page"})
    referrers = sorted(flow.referrer for flow in entities(app, sa.select(FlowState)))
    assert referrers == ["http://localhost:3000", "http://localhost:3000/app",
                         "http://localhost:3000/from-page"]


def test_a_stale_discovery_document_is_kept_while_the_provider_cannot_refresh_it(oauth_app,
                                                                                 google):
    from datetime import timedelta
    app = oauth_app({"google": google},
                    **{"external.oidc_provider_cache_ttl": timedelta(0)})
    Browser(app).sign_in(provider="google")
    google.discovery_status = 503
    finished = Browser(app).sign_in(provider="google")
    assert "access_token" in fragment(finished.headers["Location"])
    # Every use tried to refresh it (the TTL is zero), and the failures did not matter.
    assert len(google.requests_to("/.well-known/openid-configuration")) >= 3
