"""POST /token?grant_type=id_token (spec oauth-sso.md section 3): ID tokens signed by the fake
OIDC provider's test key, checked against its discovery document and JWKS over real sockets."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from authlib.oidc.core.util import create_half_hash
import sqlalchemy as sa

from gotrue_web.models import Identity, Session, User
from gotrue_web.settings import external
from gotrue_web.settings.env import EnvReader

from ...factories import audit_actions, claims, identities, make_user, update_user, user_row
from ...support.fake_oauth import GOOGLE_ROUTES, FakeProvider, rsa_key
from .conftest import entities, provider_settings

NONCE = "a-nonce-the-client-made"
HASHED_NONCE = hashlib.sha256(NONCE.encode()).hexdigest()
GINA = {"sub": "google-sub-1", "email": "gina@example.com", "email_verified": True,
        "name": "Gina", "picture": "https://lh3.example/gina.png", "hd": "example.com"}
# A Keycloak realm with discovery and JWKS under the realm path.
REALM_ROUTES = {
    "authorize": "/realms/test/protocol/openid-connect/auth",
    "token": "/realms/test/protocol/openid-connect/token",
    "profiles": ("/realms/test/protocol/openid-connect/userinfo",),
    "discovery": "/realms/test/.well-known/openid-configuration",
    "jwks": "/realms/test/protocol/openid-connect/certs",
}


@pytest.fixture
def google(servers):
    return servers(FakeProvider(GOOGLE_ROUTES, signing_key=rsa_key()))


def _grant(app, body, **headers):
    return app.test_client().post("/token?grant_type=id_token", json=body, headers=headers)


def _oauth_error(answer, error: str, description: str) -> None:
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json() == {"error": error, "error_description": description}


def _error(answer, status: int, code: str, message: str) -> None:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["error_code"], body["msg"]) == (code, message)


def _google_token(google, **changes) -> str:
    return google.sign({**GINA, "nonce": HASHED_NONCE, **changes})


def _nothing_written(app) -> None:
    assert entities(app, sa.select(User)) == []
    assert entities(app, sa.select(Session)) == []


def test_a_good_google_token_signs_up_and_starts_a_session(oauth_app, google):
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["user"]["email"] == "gina@example.com"
    assert "provider_token" not in body
    assert [entry["method"] for entry in claims(body["access_token"])["amr"]] == ["oauth"]
    (user,) = entities(app, sa.select(User))
    assert user.email_confirmed_at is not None
    assert user.raw_app_meta_data == {"provider": "google", "providers": ["google"]}
    assert user.raw_user_meta_data["custom_claims"] == {"hd": "example.com"}
    (identity,) = identities(app, user.id)
    assert (identity.provider, identity.provider_id) == ("google", "google-sub-1")
    assert identity.identity_data["iss"] == "https://accounts.google.com"
    # Both entries share a timestamp, so their order is the database's.
    assert sorted(audit_actions(app, user.id)) == ["login", "user_signedup"]
    # The keys came from the provider's discovery document and JWKS.
    assert google.requests_to(GOOGLE_ROUTES["jwks"])


def test_every_client_id_is_an_acceptable_audience(oauth_app, google):
    app = oauth_app({"google": google})
    token = _google_token(google, aud=["someone-else", "other-client"])
    answer = _grant(app, {"provider": "google", "id_token": token, "nonce": NONCE})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_the_issuer_alone_selects_google(oauth_app, google):
    app = oauth_app({"google": google})
    answer = _grant(app, {"issuer": "https://accounts.google.com", "client_id": "whatever",
                          "id_token": _google_token(google), "nonce": NONCE})
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.mark.parametrize("changes, description", [
    ({"aud": "someone-else"}, "Unacceptable audience in id_token: [someone-else]"),
    ({"aud": ["a", "b"]}, "Unacceptable audience in id_token: [a b]"),
    ({"iss": "https://evil.example"}, "Bad ID token"),
    ({"exp": int(time.time()) - 5}, "Bad ID token"),
    ({"sub": ""}, "Missing sub claim in id_token"),
])
def test_a_token_failing_a_claim_check_is_refused(oauth_app, google, changes, description):
    app = oauth_app({"google": google})
    token = _google_token(google, **changes)
    answer = _grant(app, {"provider": "google", "id_token": token, "nonce": NONCE})
    _oauth_error(answer, "invalid request", description)
    _nothing_written(app)


def test_a_token_signed_by_another_key_is_refused(oauth_app, google, servers):
    forger = servers(FakeProvider(GOOGLE_ROUTES, signing_key=rsa_key()))
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": _google_token(forger),
                          "nonce": NONCE})
    _oauth_error(answer, "invalid request", "Bad ID token")
    _nothing_written(app)


def test_garbage_instead_of_a_token_is_a_bad_id_token(oauth_app, google):
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": "not.a.jwt", "nonce": NONCE})
    _oauth_error(answer, "invalid request", "Bad ID token")


def test_the_access_token_must_match_at_hash_when_given(oauth_app, google):
    app = oauth_app({"google": google})
    at_hash = create_half_hash("provider-access-1", "RS256").decode()
    token = _google_token(google, at_hash=at_hash)
    answer = _grant(app, {"provider": "google", "id_token": token, "nonce": NONCE,
                          "access_token": "another-access-token"})
    _oauth_error(answer, "invalid request", "Bad ID token")
    # Without an access token at_hash is not checked.
    answer = _grant(app, {"provider": "google", "id_token": token, "nonce": NONCE})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_at_hash_of_the_right_access_token_passes(oauth_app, google):
    app = oauth_app({"google": google})
    at_hash = create_half_hash("provider-access-1", "RS256").decode()
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google, at_hash=at_hash),
                          "nonce": NONCE, "access_token": "provider-access-1"})
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.mark.parametrize("token_nonce, sent, error, description", [
    (HASHED_NONCE, "", "invalid request",
     "Passed nonce and nonce in id_token should either both exist or not."),
    (None, NONCE, "invalid request",
     "Passed nonce and nonce in id_token should either both exist or not."),
    (HASHED_NONCE, "another-nonce", "invalid nonce", "Nonces mismatch"),
    # The raw nonce in the token instead of its hash.
    (NONCE, NONCE, "invalid nonce", "Nonces mismatch"),
])
def test_the_nonce_must_hash_to_the_tokens_nonce(oauth_app, google, token_nonce, sent, error,
                                                 description):
    app = oauth_app({"google": google})
    claims_ = {**GINA, **({"nonce": token_nonce} if token_nonce else {})}
    answer = _grant(app, {"provider": "google", "id_token": google.sign(claims_), "nonce": sent})
    _oauth_error(answer, error, description)
    _nothing_written(app)


def test_skip_nonce_check_accepts_a_token_without_the_nonce(oauth_app, google):
    app = oauth_app({"google": provider_settings(google, "google", skip_nonce_check=True)})
    answer = _grant(app, {"provider": "google", "id_token": google.sign(dict(GINA))})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_without_nonce_on_either_side_the_token_is_accepted(oauth_app, google):
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": google.sign(dict(GINA))})
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.mark.parametrize("body, description", [
    ({"provider": "google"}, "id_token required"),
    ({"id_token": "x"}, "provider or client_id and issuer required"),
    ({"id_token": "x", "issuer": "https://accounts.google.com"},
     "provider or client_id and issuer required"),
])
def test_missing_fields_get_oauth_errors(oauth_app, google, body, description):
    _oauth_error(_grant(oauth_app({"google": google}), body), "invalid request", description)


@pytest.mark.parametrize("body, provider", [
    ({"provider": "myspace", "id_token": "x"}, "myspace"),
    ({"issuer": "https://not-allowed.example", "client_id": "c", "id_token": "x"}, ""),
])
def test_an_unknown_or_not_allowed_provider_is_refused(oauth_app, google, body, provider):
    answer = _grant(oauth_app({"google": google}), body)
    _error(answer, 400, "validation_failed", f'Custom OIDC provider "{provider}" not allowed')


def test_a_disabled_provider_is_refused(oauth_app, google):
    app = oauth_app({"google": provider_settings(google, "google", enabled=False)})
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE})
    _error(answer, 400, "provider_disabled",
           'Provider (issuer "https://accounts.google.com") is not enabled')
    assert not google.received


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"id_token": 5, "provider": "google"}'])
def test_a_bad_body_is_bad_json(oauth_app, google, raw):
    app = oauth_app({"google": google})
    answer = app.test_client().post("/token?grant_type=id_token", data=raw,
                                    content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error_code"] == "bad_json"


def test_an_unreachable_discovery_document_is_a_server_error_not_a_crash(oauth_app, google):
    google.discovery_status = 503
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": "x.y.z", "nonce": NONCE})
    assert answer.status_code == 500
    assert answer.get_json()["error_code"] == "unexpected_failure"


def test_a_verified_email_links_to_the_existing_account(oauth_app, google):
    app = oauth_app({"google": google})
    user_id = make_user(app, "Gina@example.com", password="password-123")
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["user"]["id"] == str(user_id)
    assert [i.provider for i in identities(app, user_id)] == ["email", "google"]
    assert user_row(app, user_id).raw_app_meta_data["providers"] == ["email", "google"]
    assert sorted(audit_actions(app, user_id)) == ["identity_linked", "login"]
    assert len(entities(app, sa.select(User))) == 1


def test_an_unverified_email_does_not_link(oauth_app, google):
    app = oauth_app({"google": google})
    victim = make_user(app, "gina@example.com", password="password-123")
    token = _google_token(google, email_verified=False)
    answer = _grant(app, {"provider": "google", "id_token": token, "nonce": NONCE})
    _error(answer, 422, "provider_email_needs_verification",
           "Unverified email with google. Verify the email with google in order to sign in")
    assert [i.provider for i in identities(app, victim)] == ["email"]


def test_a_banned_user_is_refused(oauth_app, google):
    app = oauth_app({"google": google})
    user_id = make_user(app, "gina@example.com")
    rt = app.extensions["gotrue"]
    update_user(app, user_id, banned_until=rt.now() + timedelta(hours=1))
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE})
    _error(answer, 403, "user_banned", "User is banned")
    assert [i.provider for i in identities(app, user_id)] == ["email"]
    assert entities(app, sa.select(Session)) == []


def test_signing_in_again_uses_the_same_identity(oauth_app, google):
    app = oauth_app({"google": google})
    for name in ("Gina", "Gina Renamed"):
        answer = _grant(app, {"provider": "google", "id_token": _google_token(google, name=name),
                              "nonce": NONCE})
        assert answer.status_code == 200, answer.get_data(as_text=True)
    (identity,) = entities(app, sa.select(Identity))
    assert identity.identity_data["name"] == "Gina Renamed"


def test_signup_disabled_refuses_a_new_account(oauth_app, google):
    app = oauth_app({"google": google}, disable_signup=True)
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE})
    _error(answer, 422, "signup_disabled", "Signups not allowed for this instance")
    _nothing_written(app)


@pytest.fixture
def realm(servers):
    fake = servers(FakeProvider(REALM_ROUTES, signing_key=rsa_key()))
    fake.issuer = fake.url + "/realms/test"
    return fake


def test_keycloak_is_selected_by_name_or_by_its_realm_url(oauth_app, realm):
    app = oauth_app({"keycloak": realm})
    token = realm.sign({"sub": "kc-1", "email": "kc@example.com", "email_verified": True,
                        "name": "Kay", "preferred_username": "kay"})
    answer = _grant(app, {"provider": "keycloak", "id_token": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider == "keycloak"
    assert identity.identity_data["preferred_username"] == "kay"
    answer = _grant(app, {"issuer": realm.issuer, "client_id": "ignored", "id_token": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_a_string_email_verified_is_a_bad_id_token(oauth_app, realm):
    app = oauth_app({"keycloak": realm})
    token = realm.sign({"sub": "kc-1", "email": "kc@example.com", "email_verified": "true"})
    _oauth_error(_grant(app, {"provider": "keycloak", "id_token": token}), "invalid request",
                 "Bad ID token")
    _nothing_written(app)


def test_an_allowed_issuer_takes_the_requests_client_id_as_audience(oauth_app, realm, settings):
    issuers = (*settings.external.allowed_id_token_issuers, realm.issuer)
    app = oauth_app({}, **{"external.allowed_id_token_issuers": issuers})
    token = realm.sign({"sub": "s-1", "aud": "my-app", "email": "x@example.com",
                        "email_verified": True})
    answer = _grant(app, {"issuer": realm.issuer, "client_id": "my-app", "id_token": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    (identity,) = entities(app, sa.select(Identity))
    assert identity.provider == realm.issuer
    answer = _grant(app, {"issuer": realm.issuer, "client_id": "not-my-app", "id_token": token})
    _oauth_error(answer, "invalid request", "Unacceptable audience in id_token: [my-app]")


def test_linking_without_a_user_token_is_refused(oauth_app, google):
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE, "link_identity": True})
    _oauth_error(answer, "invalid request",
                 "Linking requires a valid user access token in Authorization")
    _nothing_written(app)


def test_the_allowed_issuers_default_to_apple_and_google_and_are_read_from_the_env():
    assert external.read(EnvReader({})).allowed_id_token_issuers == (
        "https://appleid.apple.com", "https://accounts.google.com")
    env = EnvReader({"GOTRUE_EXTERNAL_ALLOWED_ID_TOKEN_ISSUERS":
                     "https://idp.example, https://other.example",
                     "GOTRUE_EXTERNAL_GOOGLE_SKIP_NONCE_CHECK": "true"})
    read = external.read(env)
    assert read.allowed_id_token_issuers == ("https://idp.example", "https://other.example")
    assert read.oauth["google"].skip_nonce_check is True


def test_link_identity_links_the_token_to_the_callers_account(oauth_app, google):
    app = oauth_app({"google": google})
    owner = make_user(app, "owner@example.com", password="password-123")
    signed_in = app.test_client().post("/token?grant_type=password", json={
        "email": "owner@example.com", "password": "password-123"}).get_json()
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE, "link_identity": True},
                    Authorization=f"Bearer {signed_in['access_token']}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["user"]["id"] == str(owner)
    assert [i.provider for i in identities(app, owner)] == ["email", "google"]
    assert len(entities(app, sa.select(User))) == 1
    assert "identity_linked" in audit_actions(app, owner)
    # The same identity again: already linked.
    again = _grant(app, {"provider": "google", "id_token": _google_token(google),
                         "nonce": NONCE, "link_identity": True},
                   Authorization=f"Bearer {signed_in['access_token']}")
    _error(again, 422, "identity_already_exists", "Identity is already linked")


def test_link_identity_with_a_forged_user_token_is_refused(oauth_app, google):
    app = oauth_app({"google": google})
    answer = _grant(app, {"provider": "google", "id_token": _google_token(google),
                          "nonce": NONCE, "link_identity": True},
                    Authorization="Bearer not-a-jwt")
    assert answer.status_code == 403
    assert answer.get_json()["error_code"] == "bad_jwt"
    _nothing_written(app)


def _new_signing_key_is_fetched_when_the_cached_keys_are_not_brand_new(
        app, google, monkeypatch, kid: str) -> int:
    """The fake Google signs with a new key under ``kid``: refused while the cached keys are
    brand new (no refetch: no request flood), accepted once they may be refetched (one fetch).
    The number of JWKS fetches so far."""
    from joserfc.jwk import RSAKey

    from gotrue_web.services.oauth import oidc

    assert _grant(app, {"provider": "google", "id_token": _google_token(google),
                        "nonce": NONCE}).status_code == 200
    jwks_path = GOOGLE_ROUTES["jwks"]
    fetched = len(google.requests_to(jwks_path))
    google.signing_key = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
    signed = _google_token(google, sub=f"google-sub-{kid}", email=f"{kid}@example.com")
    _oauth_error(_grant(app, {"provider": "google", "id_token": signed, "nonce": NONCE}),
                 "invalid request", "Bad ID token")
    assert len(google.requests_to(jwks_path)) == fetched
    monkeypatch.setattr(oidc, "KEY_REFRESH_INTERVAL", 0.0)
    answer = _grant(app, {"provider": "google", "id_token": signed, "nonce": NONCE})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["user"]["email"] == f"{kid}@example.com"
    assert len(google.requests_to(jwks_path)) == fetched + 1
    return fetched + 1


def test_a_key_replaced_under_the_same_kid_is_fetched_again(oauth_app, google, monkeypatch):
    """A signature that fails under the cached key of its kid refetches the keys: some
    providers replace a key and keep its kid."""
    from joserfc.jwk import RSAKey

    app = oauth_app({"google": google})
    kid = google.signing_key.kid
    fetched = _new_signing_key_is_fetched_when_the_cached_keys_are_not_brand_new(
        app, google, monkeypatch, kid)
    # A token signed by a key the provider never published is still refused, after one more
    # fetch at most.
    real_key = google.signing_key
    google.signing_key = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
    forged = _google_token(google, sub="google-sub-4", email="eve@example.com")
    google.signing_key = real_key
    _oauth_error(_grant(app, {"provider": "google", "id_token": forged, "nonce": NONCE}),
                 "invalid request", "Bad ID token")
    assert len(google.requests_to(GOOGLE_ROUTES["jwks"])) == fetched + 1


def test_a_rotated_provider_key_is_fetched_once_the_cached_keys_are_not_brand_new(
        oauth_app, google, monkeypatch):
    _new_signing_key_is_fetched_when_the_cached_keys_are_not_brand_new(
        oauth_app({"google": google}), google, monkeypatch, "test-key-2")
