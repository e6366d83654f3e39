"""POST /token?grant_type=id_token for the rows of the provider-selection table beyond Google
and Keycloak (spec oauth-sso.md section 3): Apple's and Azure's issuer detection, the iOS bundle
id audience, Facebook Limited Login's nonce, and the Kakao, Vercel Marketplace and Snapchat
mappings. Tokens are signed by fake issuers on loopback, reached through the provider's URL."""

from __future__ import annotations

import hashlib
import time

import pytest
import sqlalchemy as sa
from joserfc import jwt

from gotrue_web.models import Identity, Session, User
from gotrue_web.settings import external
from gotrue_web.settings.env import EnvReader

from ...factories import claims as jwt_claims
from ...support.fake_oauth import AZURE_ROUTES
from ...support.fake_oidc_providers import (APPLE_ISSUER, APPLE_NEW_ISSUER, APPLE_ROUTES,
                                            AZURE_V1_ISSUER, AZURE_V1_ROUTES, AZURE_V2_ISSUER,
                                            FACEBOOK_ISSUER, FACEBOOK_OIDC_ROUTES, KAKAO_ISSUER,
                                            KAKAO_OIDC_ROUTES, SNAPCHAT_ISSUER,
                                            SNAPCHAT_OIDC_ROUTES, VERCEL_ISSUER, VERCEL_ROUTES,
                                            oidc_fake)
from .conftest import entities, provider_settings

NONCE = "a-nonce-the-client-made"
HASHED_NONCE = hashlib.sha256(NONCE.encode()).hexdigest()
BUNDLE_ID = "com.example.ios"


def _grant(app, body):
    return app.test_client().post("/token?grant_type=id_token", json=body)


def _ok(answer) -> dict:
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert [entry["method"] for entry in jwt_claims(body["access_token"])["amr"]] == ["oauth"]
    return body


def _error(answer, status: int, code: str, message: str) -> None:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["error_code"], body["msg"]) == (code, message)


def _oauth_error(answer, error: str, description: str) -> None:
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json() == {"error": error, "error_description": description}


def _nothing_written(app) -> None:
    assert entities(app, sa.select(User)) == []
    assert entities(app, sa.select(Session)) == []


def _identity(app) -> Identity:
    (identity,) = entities(app, sa.select(Identity))
    return identity


# --- Apple ---

@pytest.fixture
def apple(servers):
    return oidc_fake(servers, APPLE_ROUTES, APPLE_ISSUER, sub="apple-sub-1",
                     email="ann@privaterelay.appleid.com", is_private_email="true",
                     nonce=HASHED_NONCE)


@pytest.fixture
def apple_app(oauth_app, apple):
    return oauth_app({"apple": apple}, **{"external.ios_bundle_id": BUNDLE_ID})


def test_an_apple_token_signs_up_with_apples_mapping(apple_app, apple):
    answer = _grant(apple_app, {"provider": "apple", "id_token": apple.sign(
        dict(apple.id_token_claims)), "nonce": NONCE})
    body = _ok(answer)
    assert body["user"]["email"] == "ann@privaterelay.appleid.com"
    assert "provider_token" not in body
    identity = _identity(apple_app)
    assert (identity.provider, identity.provider_id) == ("apple", "apple-sub-1")
    assert identity.identity_data == {
        "iss": APPLE_ISSUER, "sub": "apple-sub-1", "provider_id": "apple-sub-1",
        "email": "ann@privaterelay.appleid.com", "email_verified": True,
        "phone_verified": False, "custom_claims": {"is_private_email": True}}
    (user,) = entities(apple_app, sa.select(User))
    assert user.email_confirmed_at is not None
    # Discovery at the issuer the token names, moved to the URL setting's host.
    assert apple.requests_to(APPLE_ROUTES["discovery"])


@pytest.mark.parametrize("aud", [BUNDLE_ID, "other-client", ["x", "client-1"]])
def test_apple_accepts_every_client_id_and_the_ios_bundle_id(apple_app, apple, aud):
    token = apple.sign({**apple.id_token_claims, "aud": aud})
    _ok(_grant(apple_app, {"provider": "apple", "id_token": token, "nonce": NONCE}))


def test_without_the_bundle_id_setting_its_audience_is_refused(oauth_app, apple):
    app = oauth_app({"apple": apple})
    token = apple.sign({**apple.id_token_claims, "aud": BUNDLE_ID})
    _oauth_error(_grant(app, {"provider": "apple", "id_token": token, "nonce": NONCE}),
                 "invalid request", f"Unacceptable audience in id_token: [{BUNDLE_ID}]")
    _nothing_written(app)


def test_apples_new_issuer_is_detected_from_the_token(apple_app, apple):
    token = apple.sign({**apple.id_token_claims, "iss": APPLE_NEW_ISSUER})
    _ok(_grant(apple_app, {"provider": "apple", "id_token": token, "nonce": NONCE}))
    assert _identity(apple_app).identity_data["iss"] == APPLE_NEW_ISSUER


@pytest.mark.parametrize("issuer", [APPLE_ISSUER, APPLE_NEW_ISSUER])
def test_an_apple_issuer_alone_selects_apple_not_the_allow_list(apple_app, apple, issuer):
    # The request's client_id is not an audience here: Apple's client ids are.
    token = apple.sign({**apple.id_token_claims, "iss": issuer})
    _ok(_grant(apple_app, {"issuer": issuer, "client_id": "someone-else", "id_token": token,
                           "nonce": NONCE}))
    assert _identity(apple_app).provider == "apple"


@pytest.mark.parametrize("token_issuer", ["https://evil.example", "", None])
def test_a_token_of_another_issuer_is_not_an_apple_token(apple_app, apple, token_issuer):
    if token_issuer is None:
        token = _without_issuer(apple, dict(apple.id_token_claims))
    else:
        token = apple.sign({**apple.id_token_claims, "iss": token_issuer})
    _error(_grant(apple_app, {"provider": "apple", "id_token": token, "nonce": NONCE}), 400,
           "validation_failed", "Detected ID token issuer is not an Apple ID token issuer")
    _nothing_written(apple_app)
    assert not apple.received


def _without_issuer(fake, claims: dict) -> str:
    """A token with no iss at all (FakeProvider.sign would add one)."""
    now = int(time.time())
    return jwt.encode({"alg": "RS256", "kid": fake.signing_key.kid},
                      {"aud": fake.client_id, "iat": now, "exp": now + 600, **claims},
                      fake.signing_key)


def test_garbage_for_apple_is_not_an_apple_token(apple_app):
    _error(_grant(apple_app, {"provider": "apple", "id_token": "not-a-jwt"}), 400,
           "validation_failed", "Detected ID token issuer is not an Apple ID token issuer")


@pytest.mark.parametrize("given, token_issuer", [(APPLE_NEW_ISSUER, APPLE_ISSUER),
                                                 (APPLE_ISSUER, APPLE_NEW_ISSUER),
                                                 ("https://evil.example", APPLE_ISSUER)])
def test_a_given_issuer_must_be_the_tokens(apple_app, apple, given, token_issuer):
    token = apple.sign({**apple.id_token_claims, "iss": token_issuer})
    _error(_grant(apple_app, {"provider": "apple", "issuer": given, "id_token": token,
                              "nonce": NONCE}),
           400, "validation_failed", "Provided issuer does not match ID token issuer")
    _nothing_written(apple_app)


def test_a_disabled_apple_names_the_detected_issuer(oauth_app, apple):
    app = oauth_app({"apple": provider_settings(apple, "apple", enabled=False)})
    token = apple.sign({**apple.id_token_claims, "iss": APPLE_NEW_ISSUER})
    _error(_grant(app, {"provider": "apple", "id_token": token, "nonce": NONCE}), 400,
           "provider_disabled", f'Provider (issuer "{APPLE_NEW_ISSUER}") is not enabled')
    assert not apple.received


def test_apple_checks_the_nonce(apple_app, apple):
    token = apple.sign(dict(apple.id_token_claims))
    _oauth_error(_grant(apple_app, {"provider": "apple", "id_token": token, "nonce": "other"}),
                 "invalid nonce", "Nonces mismatch")
    _nothing_written(apple_app)


def test_an_apple_token_from_another_key_is_bad(apple_app, apple, servers):
    forger = oidc_fake(servers, APPLE_ROUTES, APPLE_ISSUER)
    token = forger.sign(dict(apple.id_token_claims))
    _oauth_error(_grant(apple_app, {"provider": "apple", "id_token": token, "nonce": NONCE}),
                 "invalid request", "Bad ID token")
    _nothing_written(apple_app)


def test_the_ios_bundle_id_is_read_from_the_env():
    assert external.read(EnvReader({})).ios_bundle_id == ""
    env = EnvReader({"GOTRUE_EXTERNAL_IOS_BUNDLE_ID": BUNDLE_ID})
    assert external.read(env).ios_bundle_id == BUNDLE_ID


# --- Azure ---

@pytest.fixture
def azure(servers):
    return oidc_fake(servers, AZURE_ROUTES, AZURE_V2_ISSUER)


AZ_CLAIMS = {"sub": "az-1", "email": "az@example.com", "name": "Az User",
             "preferred_username": "az@contoso.example", "tid": "tenant-1", "aio": "x"}


def test_an_azure_token_is_verified_with_its_tenants_keys(oauth_app, azure):
    app = oauth_app({"azure": azure})
    _ok(_grant(app, {"provider": "azure", "id_token": azure.sign(dict(AZ_CLAIMS))}))
    identity = _identity(app)
    assert identity.identity_data == {
        "iss": AZURE_V2_ISSUER, "sub": "az-1", "provider_id": "az-1", "email": "az@example.com",
        "email_verified": True, "phone_verified": False, "full_name": "Az User",
        "preferred_username": "az@contoso.example",
        "custom_claims": {"email": "az@example.com", "tid": "tenant-1"}}
    assert azure.requests_to(AZURE_ROUTES["discovery"])


def test_an_azure_issuer_alone_selects_azure(oauth_app, azure):
    app = oauth_app({"azure": azure})
    _ok(_grant(app, {"issuer": AZURE_V2_ISSUER, "client_id": "ignored",
                     "id_token": azure.sign(dict(AZ_CLAIMS))}))
    assert _identity(app).provider == "azure"


def test_a_v1_token_from_sts_windows_net_is_accepted(oauth_app, servers):
    fake = oidc_fake(servers, AZURE_V1_ROUTES, AZURE_V1_ISSUER)
    app = oauth_app({"azure": fake})
    _ok(_grant(app, {"provider": "azure", "id_token": fake.sign(dict(AZ_CLAIMS))}))
    assert _identity(app).identity_data["iss"] == AZURE_V1_ISSUER


def test_a_token_of_another_issuer_is_not_an_azure_token(oauth_app, azure):
    app = oauth_app({"azure": azure})
    token = azure.sign({**AZ_CLAIMS, "iss": "https://evil.example/tenant-1/v2.0"})
    _error(_grant(app, {"provider": "azure", "id_token": token}), 400, "validation_failed",
           "Detected ID token issuer is not an Azure ID token issuer")
    _nothing_written(app)


def test_a_given_azure_issuer_must_be_the_tokens(oauth_app, azure):
    app = oauth_app({"azure": azure})
    token = azure.sign(dict(AZ_CLAIMS))
    _error(_grant(app, {"issuer": "https://login.microsoftonline.com/other/v2.0",
                        "client_id": "c", "id_token": token}),
           400, "validation_failed", "Provided issuer does not match ID token issuer")
    _nothing_written(app)


def test_azure_audiences_are_azures_client_ids(oauth_app, azure):
    app = oauth_app({"azure": azure})
    token = azure.sign({**AZ_CLAIMS, "aud": "someone-else"})
    _oauth_error(_grant(app, {"provider": "azure", "id_token": token}), "invalid request",
                 "Unacceptable audience in id_token: [someone-else]")


# --- Facebook Limited Login ---

@pytest.fixture
def facebook(servers):
    return oidc_fake(servers, FACEBOOK_OIDC_ROUTES, FACEBOOK_ISSUER)


FAY = {"sub": "fb-10", "email": "Fay@Example.com", "name": "Fay Book", "given_name": "Fay",
       "family_name": "Book", "picture": "https://fb.example/p.jpg"}


@pytest.mark.parametrize("token_nonce, sent", [("not-the-hash", NONCE), (HASHED_NONCE, ""),
                                               (None, NONCE)])
def test_facebook_limited_login_never_checks_the_nonce(oauth_app, facebook, token_nonce, sent):
    app = oauth_app({"facebook": facebook})
    claims = {**FAY, **({"nonce": token_nonce} if token_nonce else {})}
    _ok(_grant(app, {"provider": "facebook", "id_token": facebook.sign(claims), "nonce": sent}))


def test_facebook_addresses_are_verified_and_the_issuer_selects_it(oauth_app, facebook):
    app = oauth_app({"facebook": facebook})
    body = _ok(_grant(app, {"issuer": FACEBOOK_ISSUER, "client_id": "ignored",
                            "id_token": facebook.sign(dict(FAY))}))
    assert body["user"]["email"] == "fay@example.com"
    identity = _identity(app)
    assert (identity.provider, identity.provider_id) == ("facebook", "fb-10")
    data = identity.identity_data
    assert data["email_verified"] is True and data["email"] == "fay@example.com"
    assert (data["name"], data["full_name"], data["given_name"], data["family_name"]) == (
        "Fay Book", "Fay Book", "Fay", "Book")
    assert data["avatar_url"] == data["picture"] == "https://fb.example/p.jpg"


# --- Kakao, Vercel Marketplace, Snapchat: selected by name or issuer ---

def test_kakao_maps_the_nickname(oauth_app, servers):
    fake = oidc_fake(servers, KAKAO_OIDC_ROUTES, KAKAO_ISSUER)
    app = oauth_app({"kakao": fake})
    token = fake.sign({"sub": "kk-1", "email": "kk@example.com", "nickname": "Kay",
                       "picture": "https://k/p.png"})
    _ok(_grant(app, {"issuer": KAKAO_ISSUER, "client_id": "ignored", "id_token": token}))
    identity = _identity(app)
    assert (identity.provider, identity.provider_id) == ("kakao", "kk-1")
    assert identity.identity_data == {
        "iss": KAKAO_ISSUER, "sub": "kk-1", "provider_id": "kk-1", "email": "kk@example.com",
        "email_verified": True, "phone_verified": False, "name": "Kay",
        "preferred_username": "Kay", "picture": "https://k/p.png"}


def test_vercel_marketplace_maps_the_global_user_id(oauth_app, servers):
    fake = oidc_fake(servers, VERCEL_ROUTES, VERCEL_ISSUER)
    app = oauth_app({"vercel_marketplace": fake})
    token = fake.sign({"sub": "v-1", "global_user_id": "gu-9", "user_email": "v@example.com",
                       "user_name": "Val", "user_avatar_url": "https://v/a.png"})
    _ok(_grant(app, {"provider": "vercel_marketplace", "id_token": token}))
    identity = _identity(app)
    assert (identity.provider, identity.provider_id) == ("vercel_marketplace",
                                                         "global_user_id:gu-9")
    assert identity.identity_data == {
        "iss": VERCEL_ISSUER, "sub": "global_user_id:gu-9", "provider_id": "global_user_id:gu-9",
        "email": "v@example.com", "email_verified": True, "phone_verified": False,
        "name": "Val", "picture": "https://v/a.png"}
    # Selected by its issuer too: the same identity signs in again.
    _ok(_grant(app, {"issuer": VERCEL_ISSUER, "client_id": "ignored", "id_token": token}))
    assert len(entities(app, sa.select(Identity))) == 1


def test_snapchat_is_generic_with_verified_addresses(oauth_app, servers):
    fake = oidc_fake(servers, SNAPCHAT_OIDC_ROUTES, SNAPCHAT_ISSUER)
    app = oauth_app({"snapchat": fake})
    # A string email_verified would be a bad generic token; Snapchat's addresses are verified.
    token = fake.sign({"sub": "snap-1", "email": "s@example.com", "email_verified": "false",
                       "name": "Sunny"})
    _ok(_grant(app, {"issuer": SNAPCHAT_ISSUER, "client_id": "ignored", "id_token": token}))
    identity = _identity(app)
    assert (identity.provider, identity.provider_id) == ("snapchat", "snap-1")
    data = identity.identity_data
    assert (data["email_verified"], data["name"], data["full_name"]) == (True, "Sunny", "Sunny")
    assert data["iss"] == SNAPCHAT_ISSUER


@pytest.mark.parametrize("name, routes, issuer", [
    ("kakao", KAKAO_OIDC_ROUTES, KAKAO_ISSUER),
    ("vercel_marketplace", VERCEL_ROUTES, VERCEL_ISSUER),
    ("snapchat", SNAPCHAT_OIDC_ROUTES, SNAPCHAT_ISSUER),
    ("facebook", FACEBOOK_OIDC_ROUTES, FACEBOOK_ISSUER),
])
def test_a_token_of_another_issuer_is_bad_for_a_fixed_issuer_row(oauth_app, servers, name,
                                                                 routes, issuer):
    fake = oidc_fake(servers, routes, issuer)
    app = oauth_app({name: fake})
    token = fake.sign({"sub": "s-1", "email": "x@example.com", "iss": "https://evil.example"})
    _oauth_error(_grant(app, {"provider": name, "id_token": token}), "invalid request",
                 "Bad ID token")
    _nothing_written(app)


@pytest.mark.parametrize("name, issuer", [("kakao", KAKAO_ISSUER),
                                          ("vercel_marketplace", VERCEL_ISSUER),
                                          ("snapchat", SNAPCHAT_ISSUER),
                                          ("facebook", FACEBOOK_ISSUER)])
def test_a_disabled_fixed_issuer_row_is_refused(oauth_app, name, issuer):
    app = oauth_app({})
    _error(_grant(app, {"issuer": issuer, "client_id": "c", "id_token": "x"}), 400,
           "provider_disabled", f'Provider (issuer "{issuer}") is not enabled')
