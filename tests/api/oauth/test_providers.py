"""The browser dance for each provider in services/oauth/providers/, against a fake server of
that provider's shape: the authorize URL and scopes, the token request, the profile calls and
their headers, and the identity and user the profile becomes (spec oauth-sso.md section 2)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from urllib.parse import quote_plus, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import Identity, User
from gotrue_web.services.oauth import REGISTRY
from gotrue_web.services.oauth.base import Context, ProviderFailure
from gotrue_web.services.oauth.providers import azure
from gotrue_web.settings.external import OAuthProviderSettings

from ...support import fake_oauth
from ...support.fake_oauth import FakeProvider, rsa_key
from .conftest import CALLBACK, Browser, entities, fragment, provider_settings, query

WELCOME = "http://localhost:3000/welcome"
TOKEN_FORM_KEYS = {"grant_type", "code", "redirect_uri"}


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclasses.dataclass
class SignedIn:
    authorize: dict
    provider_token: str
    user: User
    identity: Identity


def sign_in(oauth_app, fake: FakeProvider, name: str, scopes: str = "", url: str = "",
            **overrides) -> SignedIn:
    """The whole dance for ``name``; checks the authorize URL's fixed parts and the token
    request (HTTP Basic unless the provider wants the credentials in the body)."""
    configured = provider_settings(fake, name, url=url) if url else fake
    app = oauth_app({name: configured}, **overrides)
    browser = Browser(app)
    started = browser.authorize(provider=name, scopes=scopes, redirect_to=WELCOME)
    assert started.status_code == 302, started.get_data(as_text=True)
    location = started.headers["Location"]
    assert location.startswith(fake.url + fake.routes["authorize"] + "?")
    authorize = query(location)
    assert (authorize["client_id"], authorize["redirect_uri"], authorize["response_type"]) == (
        "client-1", CALLBACK, "code")
    finished = browser.callback(browser.at_provider(location))
    assert finished.status_code == 302
    values = fragment(finished.headers["Location"])
    assert "error" not in values, values
    (exchange,) = fake.requests_to(fake.routes["token"])
    if REGISTRY[name].credentials_in_body:
        assert exchange["authorization"] == ""
        assert exchange["form"] == {"grant_type": "authorization_code", "redirect_uri": CALLBACK,
                                    "code": next(iter(fake.codes)), "client_id": "client-1",
                                    "client_secret": "secret:1 two"}
    else:
        assert exchange["authorization"] == _basic("client-1", "secret:1 two")
        assert set(exchange["form"]) == TOKEN_FORM_KEYS
        assert exchange["form"]["code"] == next(iter(fake.codes))
    (user,) = entities(app, sa.select(User))
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider == name
    return SignedIn(authorize, values["provider_token"], user, identity)


def assert_bearer_calls(fake: FakeProvider, signed: SignedIn, **headers: str) -> list[dict]:
    calls = []
    for path in fake.routes["profiles"]:
        (call,) = fake.requests_to(path)
        assert call["authorization"] == "Bearer " + signed.provider_token
        for key, value in headers.items():
            assert call["headers"].get(key) == value
        calls.append(call)
    return calls


def expected(sub: str, email: str, verified: bool = True, **claims) -> dict:
    return {"sub": sub, "provider_id": sub, "email": email, "email_verified": verified,
            "phone_verified": False, **claims}


def fake_of(servers, routes: dict, **kwargs) -> FakeProvider:
    return servers(FakeProvider(routes, **kwargs))


def test_bitbucket_takes_the_primary_address_and_ignores_requested_scopes(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.BITBUCKET_ROUTES)
    fake.documents["/2.0/user"] = {"uuid": "{b-1}", "display_name": "Bit Bucket",
                                   "avatar": {"href": "https://bb.example/a.png"}}
    fake.documents["/2.0/user/emails"] = {"values": [
        {"email": "old@example.com", "is_confirmed": True, "is_primary": False},
        {"email": "Bit@Example.com", "is_confirmed": True, "is_primary": True}]}
    signed = sign_in(oauth_app, fake, "bitbucket", scopes="repository")
    assert signed.authorize["scope"] == "account email"
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "{b-1}", "bit@example.com", iss=f"{fake.url}/2.0", name="Bit Bucket",
        full_name="Bit Bucket", picture="https://bb.example/a.png",
        avatar_url="https://bb.example/a.png")
    assert signed.user.email == "bit@example.com" and signed.user.email_confirmed_at


def test_discord_builds_the_animated_avatar_url(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.DISCORD_ROUTES)
    fake.documents["/api/users/@me"] = {
        "id": "8035", "username": "nelly", "discriminator": "1337", "avatar": "a_83ab",
        "email": "nelly@example.com", "verified": True, "global_name": "Nelly N"}
    signed = sign_in(oauth_app, fake, "discord", scopes="guilds")
    assert signed.authorize["scope"] == "email identify guilds"
    assert_bearer_calls(fake, signed)
    picture = "https://cdn.discordapp.com/avatars/8035/a_83ab.gif"
    assert signed.identity.identity_data == expected(
        "8035", "nelly@example.com", iss=f"{fake.url}/api", name="nelly#1337",
        full_name="nelly", picture=picture, avatar_url=picture,
        custom_claims={"global_name": "Nelly N"})


def test_discord_without_avatar_gets_the_default_for_its_tag(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.DISCORD_ROUTES)
    fake.documents["/api/users/@me"] = {"id": "9", "username": "plain", "discriminator": "0007",
                                        "avatar": None, "email": "p@example.com",
                                        "verified": False}
    signed = sign_in(oauth_app, fake, "discord",
                     **{"external.allow_unverified_email_sign_ins": True})
    data = signed.identity.identity_data
    assert data["picture"] == "https://cdn.discordapp.com/embed/avatars/2.png"
    assert data["email_verified"] is False and signed.user.email_confirmed_at is None


def test_discord_with_a_non_numeric_tag_and_no_avatar_is_a_profile_error(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.DISCORD_ROUTES)
    fake.documents["/api/users/@me"] = {"id": "9", "username": "x", "discriminator": "abc",
                                        "email": "x@example.com", "verified": True}
    app = oauth_app({"discord": fake})
    answer = Browser(app).sign_in(provider="discord", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user profile from external provider")
    assert entities(app, sa.select(User)) == []


def test_facebook_signs_the_profile_call_with_appsecret_proof(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.FACEBOOK_ROUTES)
    fake.documents["/me"] = {"id": "10", "first_name": "Fay", "last_name": "Book",
                             "name": "faybook", "email": "fay@example.com",
                             "picture": {"data": {"url": "https://fb.example/p.jpg"}}}
    signed = sign_in(oauth_app, fake, "facebook", scopes="user_friends")
    assert signed.authorize["scope"] == "email user_friends"
    (call,) = assert_bearer_calls(fake, signed)
    proof = hmac.new(b"secret:1 two", signed.provider_token.encode(), hashlib.sha256).hexdigest()
    assert call["args"] == {"fields": "email,first_name,last_name,name,picture",
                            "appsecret_proof": proof}
    assert signed.identity.identity_data == expected(
        "10", "fay@example.com", iss=f"{fake.url}/me?fields=email,first_name,last_name,name,"
        "picture", name="Fay Book", full_name="Fay Book", nickname="faybook", slug="faybook",
        picture="https://fb.example/p.jpg", avatar_url="https://fb.example/p.jpg")


def test_spotify_email_is_never_verified_and_the_largest_image_wins(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.SPOTIFY_ROUTES)
    fake.documents["/me"] = {"id": "spot", "display_name": "Spot", "email": "spot@example.com",
                             "images": [{"url": "https://i.example/s", "height": 64, "width": 64},
                                        {"url": "https://i.example/l", "height": 640,
                                         "width": 640},
                                        {"url": "https://i.example/n", "height": None,
                                         "width": None}]}
    signed = sign_in(oauth_app, fake, "spotify",
                     **{"external.allow_unverified_email_sign_ins": True})
    assert signed.authorize["scope"] == "user-read-email"
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "spot", "spot@example.com", False, iss=fake.url, name="Spot", full_name="Spot",
        picture="https://i.example/l", avatar_url="https://i.example/l")
    assert signed.user.email_confirmed_at is None


def test_twitch_sends_the_client_id_header(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.TWITCH_ROUTES)
    fake.required_headers = {"Client-Id": "client-1"}
    fake.documents["/helix/users"] = {"data": [{
        "id": "141", "login": "streamer", "display_name": "Streamer", "type": "",
        "broadcaster_type": "partner", "description": "hi", "email": "tw@example.com",
        "profile_image_url": "https://tw.example/p.png", "offline_image_url": "o",
        "view_count": 5}]}
    signed = sign_in(oauth_app, fake, "twitch")
    assert signed.authorize["scope"] == "user:read:email"
    assert_bearer_calls(fake, signed, **{"Client-Id": "client-1"})
    assert signed.identity.identity_data == expected(
        "141", "tw@example.com", iss=fake.url, name="streamer", full_name="streamer",
        nickname="Streamer", slug="Streamer", picture="https://tw.example/p.png",
        avatar_url="https://tw.example/p.png", custom_claims={
            "broadcaster_type": "partner", "description": "hi", "type": "",
            "offline_image_url": "o", "view_count": 5})


def test_notion_reads_the_bot_owner_with_its_api_version(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.NOTION_ROUTES)
    fake.required_headers = {"Notion-Version": "2021-08-16"}
    fake.documents["/v1/users/me"] = {"object": "user", "id": "bot-1", "type": "bot", "bot": {
        "owner": {"type": "user", "user": {
            "id": "u-1", "name": "Nora", "avatar_url": "https://n.example/a.png",
            "person": {"email": "nora@example.com"}}}}}
    signed = sign_in(oauth_app, fake, "notion", scopes="anything")
    assert "scope" not in signed.authorize
    assert_bearer_calls(fake, signed, **{"Notion-Version": "2021-08-16"})
    assert signed.identity.identity_data == expected(
        "u-1", "nora@example.com", iss=f"{fake.url}/v1", name="Nora", full_name="Nora",
        picture="https://n.example/a.png", avatar_url="https://n.example/a.png")


@pytest.mark.parametrize("login_type, verified_flag, verified", [
    (100, 1, True), (100, 0, False), (1, 0, True)])
def test_zoom_trusts_a_work_email_only_once_verified(oauth_app, servers, login_type,
                                                     verified_flag, verified):
    fake = fake_of(servers, fake_oauth.ZOOM_ROUTES)
    fake.documents["/v2/users/me"] = {"id": "z1", "first_name": "Zed", "last_name": "Oom",
                                      "email": "zed@example.com", "pic_url": "https://z/p",
                                      "login_type": login_type, "verified": verified_flag}
    signed = sign_in(oauth_app, fake, "zoom", scopes="meeting:read",
                     **{"external.allow_unverified_email_sign_ins": True})
    assert "scope" not in signed.authorize
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "z1", "zed@example.com", verified, iss=f"{fake.url}/v2", name="Zed Oom",
        full_name="Zed Oom", picture="https://z/p", avatar_url="https://z/p")
    assert (signed.user.email_confirmed_at is not None) is verified


def test_figma_maps_handle_and_image(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.FIGMA_ROUTES)
    fake.documents["/v1/me"] = {"id": "f1", "handle": "figgy", "email": "fig@example.com",
                                "img_url": "https://f/i.png"}
    signed = sign_in(oauth_app, fake, "figma", scopes="file_read")
    assert signed.authorize["scope"] == "current_user:read file_read"
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "f1", "fig@example.com", iss=fake.url, name="figgy", full_name="figgy",
        avatar_url="https://f/i.png")


def test_fly_reads_the_token_info(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.FLY_ROUTES)
    fake.documents["/oauth/token/info"] = {
        "resource_owner_id": "ro-1", "user_id": "fly-u", "user_name": "Flyer",
        "email": "fly@example.com", "organizations": [{"id": "o1", "role": "admin"}],
        "application": {"uid": "app"}, "scope": ["read"], "created_at": 1700000000}
    signed = sign_in(oauth_app, fake, "fly")
    assert signed.authorize["scope"] == "read"
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "fly-u", "fly@example.com", iss=fake.url, full_name="Flyer", custom_claims={
            "resource_owner_id": "ro-1", "organizations": [{"id": "o1", "role": "admin"}],
            "application": {"uid": "app"}, "scope": ["read"], "created_at": 1700000000})


@pytest.mark.parametrize("valid, verified", [(True, True), (False, False)])
def test_kakao_sends_credentials_in_the_body(oauth_app, servers, valid, verified):
    fake = fake_of(servers, fake_oauth.KAKAO_ROUTES)
    fake.documents["/v2/user/me"] = {"id": 123, "kakao_account": {
        "email": "kk@example.com", "is_email_verified": True, "is_email_valid": valid,
        "profile": {"nickname": "Kay", "profile_image_url": "https://k/p.png"}}}
    signed = sign_in(oauth_app, fake, "kakao",
                     **{"external.allow_unverified_email_sign_ins": True})
    assert signed.authorize["scope"] == "account_email profile_image profile_nickname"
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "123", "kk@example.com", verified, iss=fake.url, name="Kay", full_name="Kay",
        preferred_username="Kay", user_name="Kay", avatar_url="https://k/p.png")


def test_workos_takes_the_profile_from_the_token_reply_and_passes_its_options(
        oauth_app, servers):
    fake = fake_of(servers, fake_oauth.WORKOS_ROUTES)
    fake.token_extra = {"profile": {
        "id": "prof_1", "email": "wo@example.com", "first_name": "Wo", "last_name": "Rk",
        "connection_id": "conn_1", "organization_id": "org_1"}}
    app = oauth_app({"workos": fake})
    started = Browser(app).authorize(provider="workos", connection="conn_1",
                                     workos_provider="GoogleOAuth", scopes="x")
    params = query(started.headers["Location"])
    assert params["connection"] == "conn_1" and params["provider"] == "GoogleOAuth"
    assert "scope" not in params and "workos_provider" not in params
    signed = sign_in(oauth_app, fake, "workos")
    assert signed.identity.identity_data == expected(
        "prof_1", "wo@example.com", iss=fake.url, name="Wo Rk", full_name="Wo Rk",
        custom_claims={"connection_id": "conn_1", "organization_id": "org_1"})


def test_slack_oidc_uses_the_namespaced_ids_from_userinfo(oauth_app, servers):
    fake = fake_of(servers, fake_oauth.SLACK_OIDC_ROUTES)
    fake.documents["/api/openid.connect.userInfo"] = {
        "sub": "U1", "https://slack.com/user_id": "U1", "https://slack.com/team_id": "T9",
        "email": "sl@example.com", "email_verified": True, "name": "Slacker",
        "picture": "https://s/p.png"}
    signed = sign_in(oauth_app, fake, "slack_oidc", scopes="openid.extra")
    assert signed.authorize["scope"] == "profile email openid openid.extra"
    assert_bearer_calls(fake, signed)
    assert signed.identity.identity_data == expected(
        "U1", "sl@example.com", iss=fake.url, name="Slacker", full_name="Slacker",
        picture="https://s/p.png", avatar_url="https://s/p.png",
        custom_claims={"https://slack.com/team_id": "T9"})


def _linkedin(servers, **claims) -> FakeProvider:
    fake = fake_of(servers, fake_oauth.LINKEDIN_OIDC_ROUTES, signing_key=rsa_key(),
                   issuer=fake_oauth.LINKEDIN_ISSUER)
    fake.id_token_claims = {"sub": "li-1", "email": "li@example.com", "email_verified": "true",
                            "given_name": "Lin", "family_name": "Ked", "locale": "en_US",
                            "picture": "https://li/p.png", **claims}
    return fake


def test_linkedin_oidc_validates_the_id_token_with_its_fixed_issuer(oauth_app, servers):
    fake = _linkedin(servers)
    signed = sign_in(oauth_app, fake, "linkedin_oidc")
    assert signed.authorize["scope"] == "openid email profile"
    assert fake.requests_to(fake.routes["jwks"])
    assert signed.identity.identity_data == expected(
        "li-1", "li@example.com", iss=fake_oauth.LINKEDIN_ISSUER, name="Lin Ked",
        given_name="Lin", family_name="Ked", locale="en_US", picture="https://li/p.png")


@pytest.mark.parametrize("claims", [{"iss": "https://evil.example"}, {"email_verified": "yes"},
                                    {"aud": "another-client"}])
def test_linkedin_oidc_refuses_a_bad_id_token(oauth_app, servers, claims):
    fake = _linkedin(servers, **claims)
    app = oauth_app({"linkedin_oidc": fake})
    answer = Browser(app).sign_in(provider="linkedin_oidc", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user profile from external provider")
    assert entities(app, sa.select(Identity)) == []


def _azure(servers, issuer: str = fake_oauth.AZURE_ISSUER, **claims) -> FakeProvider:
    fake = fake_of(servers, fake_oauth.AZURE_ROUTES, signing_key=rsa_key(), issuer=issuer)
    fake.id_token_claims = {"sub": "az-1", "email": "az@example.com", "name": "Az User",
                            "preferred_username": "az@contoso.example", "tid": "tenant-1",
                            "aio": "internal", "ver": "2.0", **claims}
    return fake


def test_azure_verifies_the_id_token_with_its_issuers_keys(oauth_app, servers):
    fake = _azure(servers)
    signed = sign_in(oauth_app, fake, "azure", scopes="User.Read",
                     url=fake.url + "/tenant-1")
    assert signed.authorize["scope"] == "openid User.Read"
    assert fake.requests_to(fake.routes["discovery"]) and fake.requests_to(fake.routes["jwks"])
    assert signed.identity.identity_data == expected(
        "az-1", "az@example.com", iss=fake_oauth.AZURE_ISSUER, full_name="Az User",
        preferred_username="az@contoso.example",
        custom_claims={"email": "az@example.com", "tid": "tenant-1"})
    assert signed.user.email_confirmed_at is not None


@pytest.mark.parametrize("edov, verified", [("0", False), (False, False), ("1", True),
                                            (True, True)])
def test_azure_trusts_the_email_unless_the_domain_owner_is_unverified(oauth_app, servers, edov,
                                                                      verified):
    fake = _azure(servers, xms_edov=edov)
    signed = sign_in(oauth_app, fake, "azure", url=fake.url + "/tenant-1",
                     **{"external.allow_unverified_email_sign_ins": True})
    assert signed.identity.identity_data["email_verified"] is verified


@pytest.mark.parametrize("issuer, claims", [
    ("https://evil.example/tenant-1/v2.0", {}),
    (fake_oauth.AZURE_ISSUER, {"aud": "another-client"}),
])
def test_azure_refuses_a_foreign_or_misaddressed_id_token(oauth_app, servers, issuer, claims):
    fake = _azure(servers, issuer=issuer, **claims)
    app = oauth_app({"azure": provider_settings(fake, "azure", url=fake.url + "/tenant-1")})
    answer = Browser(app).sign_in(provider="azure", redirect_to=WELCOME)
    assert query(answer.headers["Location"])["error_description"] == (
        "Error getting user profile from external provider")
    assert entities(app, sa.select(Identity)) == []


@pytest.mark.parametrize("url, issuer", [
    ("https://login.microsoftonline.com/tenant-1", "https://login.microsoftonline.com/tenant-1/v2.0"),
    ("https://login.microsoftonline.com/tenant-1/", "https://login.microsoftonline.com/tenant-1/v2.0"),
    ("https://contoso.ciamlogin.com/tenant-2", "https://contoso.ciamlogin.com/tenant-2/v2.0"),
    ("https://login.microsoftonline.com/common", None),
    ("https://login.microsoftonline.com/organizations", None),
    ("https://sts.example.com/tenant-1", None),
    ("", None),
])
def test_azure_pins_the_issuer_of_a_single_tenant_url(url, issuer):
    assert azure.expected_issuer(url) == issuer


def test_azure_refuses_a_token_of_another_tenant_before_fetching_anything(servers):
    fake = _azure(servers, issuer="https://login.microsoftonline.com/other/v2.0")
    ctx = Context(config=OAuthProviderSettings(
        enabled=True, client_ids=("client-1",), secret="s", redirect_uri=CALLBACK,
        url="https://login.microsoftonline.com/tenant-1"), timeout=1, cache_ttl=1)
    id_token = fake.sign({"sub": "x"})
    with pytest.raises(ProviderFailure, match="not the configured tenant"):
        REGISTRY["azure"].profile(ctx, {"access_token": "a", "id_token": id_token})


DEFAULT_ENDPOINTS = {
    "azure": ("https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
              "https://login.microsoftonline.com/common/oauth2/v2.0/token"),
    "bitbucket": ("https://bitbucket.org/site/oauth2/authorize",
                  "https://bitbucket.org/site/oauth2/access_token"),
    "discord": ("https://discord.com/api/oauth2/authorize", "https://discord.com/api/oauth2/token"),
    "facebook": ("https://www.facebook.com/dialog/oauth",
                 "https://graph.facebook.com/oauth/access_token"),
    "spotify": ("https://accounts.spotify.com/authorize", "https://accounts.spotify.com/api/token"),
    "twitch": ("https://id.twitch.tv/oauth2/authorize", "https://id.twitch.tv/oauth2/token"),
    "notion": ("https://api.notion.com/v1/oauth/authorize",
               "https://api.notion.com/v1/oauth/token"),
    "zoom": ("https://zoom.us/oauth/authorize", "https://zoom.us/oauth/token"),
    "figma": ("https://www.figma.com/oauth", "https://api.figma.com/v1/oauth/token"),
    "fly": ("https://api.fly.io/oauth/authorize", "https://api.fly.io/oauth/token"),
    "kakao": ("https://kauth.kakao.com/oauth/authorize", "https://kauth.kakao.com/oauth/token"),
    "workos": ("https://api.workos.com/sso/authorize", "https://api.workos.com/sso/token"),
    "linkedin_oidc": ("https://api.linkedin.com/oauth/v2/authorization",
                      "https://api.linkedin.com/oauth/v2/accessToken"),
    "slack_oidc": ("https://slack.com/openid/connect/authorize",
                   "https://slack.com/api/openid.connect.token"),
}


@pytest.mark.parametrize("name", sorted(DEFAULT_ENDPOINTS))
def test_without_url_the_provider_hosts_are_used(name):
    ctx = Context(config=OAuthProviderSettings(enabled=True, client_ids=("c",), secret="s",
                                               redirect_uri=CALLBACK), timeout=1, cache_ttl=1)
    endpoints = REGISTRY[name].endpoints(ctx)
    assert (endpoints.authorize, endpoints.token) == DEFAULT_ENDPOINTS[name]
    for url in (endpoints.profile, endpoints.discovery):
        assert not url or urlsplit(url).scheme == "https"
