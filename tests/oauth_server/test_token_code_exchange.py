"""The authorization_code grant at POST /oauth/token (spec idp-passkeys-web3.md sections 1.7
and 1.8): GoTrue's checks in order, PKCE (S256 and plain), the session of the client it
starts (oauth_client_id, scopes, amr oauth_provider/authorization_code), its access token's
client_id and scope, the ID token checked against the app's JWKS, the audit entry, single use
(replay and ten concurrent redemptions over real HTTP), and the grant_type checks.

Approved authorizations are written straight into the database here, as the consent API
leaves them (status approved, a UUID code), so these tests do not depend on that API."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import sqlalchemy as sa
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from gotrue_web import review_configuration
from gotrue_web.extensions import db
from gotrue_web.models import (
    AMRClaim,
    AuthorizationStatus,
    OAuthAuthorization,
    OAuthClient,
    Session,
)
from gotrue_web.services.oauth_server.id_tokens import OPENID_REFUSED_WARNING

from ..conftest import api_for, table_rows
from ..factories import audit_entries, freeze_clock, make_user, unique_email, update_user, user_row
from ..openapi.conformance import assert_conforms
from .conftest import REDIRECT_URI, oauth_overrides, register_client
from .test_token_client_auth import basic

TOKEN = "/oauth/token"


# --- helpers shared with test_token_refresh.py ---------------------------------------------


@dataclass
class Approved:
    code: str
    verifier: str
    row_id: uuid.UUID
    user_id: uuid.UUID


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()


def approve(app, client, user_id: uuid.UUID | None, *, scope: str = "email",
            method: str = "s256", redirect_uri: str = REDIRECT_URI,
            resource: str | None = None, nonce: str | None = None,
            status: AuthorizationStatus = AuthorizationStatus.approved,
            ttl: timedelta = timedelta(minutes=10)) -> Approved:
    """An authorization as the consent API leaves it once the user approved: its code is a
    UUID, the PKCE method lower-case."""
    verifier = secrets.token_urlsafe(48)
    now = app.extensions["gotrue"].now()
    row = OAuthAuthorization(
        id=uuid.uuid4(), authorization_id=base64.b32encode(secrets.token_bytes(20))
        .decode().lower(), client_id=uuid.UUID(client.client_id), user_id=user_id,
        redirect_uri=redirect_uri, scope=scope, state="st", resource=resource,
        code_challenge=s256(verifier) if method == "s256" else verifier,
        code_challenge_method=method, nonce=nonce, response_type="code", status=status,
        authorization_code=str(uuid.uuid4()), created_at=now, expires_at=now + ttl,
        approved_at=now if status == AuthorizationStatus.approved else None)
    with app.app_context():
        db.session.add(row)
        db.session.commit()
        return Approved(row.authorization_code, verifier, row.id, user_id)


def new_user(app, **columns) -> uuid.UUID:
    return make_user(app, unique_email("oauth"), password="password-123", **columns)


def redeem(api, client, approved: Approved, **extra):
    """A form-encoded code exchange, authenticated the way ``client`` registered."""
    body = {"grant_type": "authorization_code", "code": approved.code,
            "code_verifier": approved.verifier, "redirect_uri": REDIRECT_URI, **extra}
    if client.client_type == "public":
        return api.post(TOKEN, data={**body, "client_id": client.client_id})
    return api.post(TOKEN, data=body, headers=basic(client.client_id, client.secret))


def jwks(api) -> KeySet:
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return KeySet.import_key_set(response.get_json())


def verified(api, token: str) -> tuple[dict, dict]:
    """Header and claims of a token whose signature the app's JWKS verifies."""
    decoded = jose_jwt.decode(token, jwks(api), algorithms=["RS256"])
    return decoded.header, decoded.claims


def authorization_exists(app, row_id: uuid.UUID) -> bool:
    return bool(table_rows(app, sa.select(OAuthAuthorization.id)
                           .where(OAuthAuthorization.id == row_id)))


def client_sessions(app, client) -> list:
    return table_rows(app, sa.select(Session).where(
        Session.oauth_client_id == uuid.UUID(client.client_id)))


def assert_oauth_error(response, error: str, description: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {"error": error, "error_description": description}
    assert_conforms(response, TOKEN, "post")


# --- success ---------------------------------------------------------------------------------


def test_a_code_becomes_a_session_of_the_client(oauth_app, oauth_api, confidential_client):
    user_id = new_user(oauth_app)
    approved = approve(oauth_app, confidential_client, user_id, scope="openid email",
                       nonce="n-0S6_WzA2Mj")
    response = redeem(oauth_api, confidential_client, approved)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token",
                          "id_token"]
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert_conforms(response, TOKEN, "post")

    [session] = [row for (row,) in client_sessions(oauth_app, confidential_client)]
    assert session.user_id == user_id and session.scopes == "openid email"
    assert session.aal.value == "aal1"
    claims_rows = table_rows(oauth_app, sa.select(AMRClaim.authentication_method)
                             .where(AMRClaim.session_id == session.id))
    assert [row[0] for row in claims_rows] == ["oauth_provider/authorization_code"]

    header, claims = verified(oauth_api, body["access_token"])
    assert header["kid"] == "oauth-server-rsa"
    assert claims["sub"] == str(user_id) and claims["aud"] == "authenticated"
    assert claims["client_id"] == confidential_client.client_id
    assert claims["scope"] == "openid email"
    assert claims["session_id"] == str(session.id) and claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["oauth_provider/authorization_code"]
    assert list(claims)[-2:] == ["client_id", "scope"]

    # The token works on the user endpoints (no scope enforcement).
    assert oauth_api.get("/user", token=body["access_token"]).get_json()["id"] == str(user_id)

    [entry] = audit_entries(oauth_app, "login")
    assert entry["actor_id"] == str(user_id)
    assert entry["traits"] == {"provider_type": "oauth_provider_authorization_code",
                               "client_id": confidential_client.client_id}
    assert not authorization_exists(oauth_app, approved.row_id)
    assert user_row(oauth_app, user_id).last_sign_in_at is not None


def test_a_code_is_spent_once(oauth_app, oauth_api, confidential_client):
    approved = approve(oauth_app, confidential_client, new_user(oauth_app))
    assert redeem(oauth_api, confidential_client, approved).status_code == 200
    assert_oauth_error(redeem(oauth_api, confidential_client, approved),
                       "invalid_grant", "Invalid authorization code")
    assert len(client_sessions(oauth_app, confidential_client)) == 1


def test_without_openid_there_is_no_id_token(oauth_app, oauth_api, public_client):
    approved = approve(oauth_app, public_client, new_user(oauth_app), scope="email profile")
    response = redeem(oauth_api, public_client, approved)
    assert response.status_code == 200, response.get_json()
    assert_conforms(response, TOKEN, "post")
    body = response.get_json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token"]
    _, claims = verified(oauth_api, body["access_token"])
    assert (claims["client_id"], claims["scope"]) == (public_client.client_id, "email profile")


@pytest.mark.parametrize("method", ["s256", "plain"])
def test_pkce_methods(oauth_app, oauth_api, public_client, method):
    approved = approve(oauth_app, public_client, new_user(oauth_app), method=method)
    response = oauth_api.post(TOKEN, json={
        "grant_type": "authorization_code", "client_id": public_client.client_id,
        "code": approved.code, "code_verifier": approved.verifier})
    assert response.status_code == 200, response.get_json()


def test_posted_credentials_and_json(oauth_app, oauth_api):
    client = register_client(oauth_app, auth_method="client_secret_post")
    approved = approve(oauth_app, client, new_user(oauth_app),
                       resource="https://api.example.com/v1")
    response = oauth_api.post(TOKEN, json={
        "grant_type": "authorization_code", "code": approved.code,
        "code_verifier": approved.verifier, "client_id": client.client_id,
        "client_secret": client.secret, "redirect_uri": REDIRECT_URI,
        "resource": "https://api.example.com/v1"})
    assert response.status_code == 200, response.get_json()


# --- the ID token ----------------------------------------------------------------------------


def test_the_id_token_verifies_against_the_jwks(oauth_app, oauth_api, confidential_client):
    clock = freeze_clock(oauth_app)
    user_id = new_user(oauth_app, phone="15550001111")
    update_user(oauth_app, user_id, raw_user_meta_data={
        "name": "Ada Lovelace", "avatar_url": "https://img.example.com/ada.png",
        "username": "ada", "picture": 7})
    approved = approve(oauth_app, confidential_client, user_id,
                       scope="openid email profile phone", nonce="abc-nonce")
    body = redeem(oauth_api, confidential_client, approved).get_json()
    header, claims = verified(oauth_api, body["id_token"])
    assert (header["alg"], header["kid"]) == ("RS256", "oauth-server-rsa")
    now = int(clock.now.timestamp())
    user = user_row(oauth_app, user_id)
    assert claims == {
        "sub": str(user_id), "aud": confidential_client.client_id, "exp": now + 3600,
        "iat": now, "auth_time": now, "nonce": "abc-nonce", "email": user.email,
        "email_verified": True, "phone_number": "15550001111", "phone_number_verified": True,
        "name": "Ada Lovelace", "picture": "https://img.example.com/ada.png",
        "preferred_username": "ada", "updated_at": now,
        "client_id": confidential_client.client_id}
    assert int(user.last_sign_in_at.timestamp()) == now
    # A relying party's checks: audience, nonce, expiry.
    registry = jose_jwt.JWTClaimsRegistry(
        aud={"essential": True, "value": confidential_client.client_id},
        nonce={"essential": True, "value": "abc-nonce"})
    registry.validate(claims)


def test_the_id_token_claims_follow_the_scope(make_app, signing_keys):
    app = make_app(**oauth_overrides(signing_keys, **{"jwt.issuer": "https://auth.example.com"}))
    api = api_for(app)
    client = register_client(app, client_type="public")
    user_id = new_user(app, confirmed=False)
    approved = approve(app, client, user_id, scope="openid")
    body = redeem(api, client, approved).get_json()
    _, claims = verified(api, body["id_token"])
    assert claims["iss"] == "https://auth.example.com"
    assert claims["email_verified"] is False and claims["phone_number_verified"] is False
    for absent in ("email", "phone_number", "name", "picture", "preferred_username",
                   "updated_at", "nonce"):
        assert absent not in claims
    # name falls back to the email; the unconfirmed email says so.
    approved = approve(app, client, user_id, scope="openid profile email")
    _, claims = verified(api, redeem(api, client, approved).get_json()["id_token"])
    email = user_row(app, user_id).email
    assert (claims["email"], claims["email_verified"], claims["name"]) == (email, False, email)


def test_hs256_only_refuses_openid_without_spending_the_code(make_app):
    app = make_app(**{"oauth_server.enabled": True, "mailer.autoconfirm": True})
    api = api_for(app)
    client = register_client(app, client_type="public")
    approved = approve(app, client, new_user(app), scope="openid email")
    response = redeem(api, client, approved)
    assert response.status_code == 500
    assert response.get_json()["message"] == "Error generating ID token"
    assert authorization_exists(app, approved.row_id)
    assert client_sessions(app, client) == []


def test_start_up_warns_when_no_key_can_sign_id_tokens(settings, signing_keys):
    on = settings.replace(**{"oauth_server.enabled": True})
    assert OPENID_REFUSED_WARNING in [f.message for f in review_configuration({}, on)]
    # A warning only: strict configuration still starts.
    strict = on.replace(strict_config=True)
    [finding] = review_configuration({}, strict)
    assert finding.variable == "GOTRUE_OAUTH_SERVER_ENABLED"
    assert finding.message == (
        "GOTRUE_OAUTH_SERVER_ENABLED is on but GOTRUE_JWT_KEYS has no asymmetric signing key: "
        "the openid scope is refused")
    assert review_configuration({}, on.replace(**{"jwt.keys": tuple(signing_keys)})) == []
    assert review_configuration({}, settings) == []


# --- the checks, in order --------------------------------------------------------------------


def test_every_check_in_order(oauth_app, oauth_api, confidential_client):
    """A request wrong in every way meets GoTrue's checks one at a time: each fix uncovers the
    next, and none of them spends the code."""
    clock = freeze_clock(oauth_app)
    other = register_client(oauth_app)
    user_id = new_user(oauth_app)
    approved = approve(oauth_app, other, user_id, resource="https://api.example.com")
    update_user(oauth_app, user_id, banned_until=clock.now + timedelta(days=1))
    client = confidential_client

    def attempt(**body):
        request = {"grant_type": "authorization_code", "code": approved.code,
                   "code_verifier": "wrong-" + approved.verifier, "redirect_uri":
                   "http://localhost:8765/other", "resource": "https://other.example.com",
                   **body}
        return oauth_api.post(TOKEN, json=request, headers=basic(client.client_id,
                                                                 client.secret))

    assert_oauth_error(attempt(code=""), "invalid_request",
                       "code is required for authorization_code grant")
    assert_oauth_error(attempt(code=str(uuid.uuid4())), "invalid_grant",
                       "Invalid authorization code")
    clock.advance(minutes=11)
    assert_oauth_error(attempt(), "invalid_grant", "Authorization code has expired")
    clock.advance(minutes=-11)
    assert_oauth_error(attempt(), "invalid_grant",
                       "Authorization code was not issued for this client")
    client = other
    assert_oauth_error(attempt(), "invalid_grant",
                       "Authorization code resource does not match the resource parameter")
    assert_oauth_error(attempt(resource="https://api.example.com"), "invalid_grant",
                       "Invalid redirect_uri")
    assert_oauth_error(attempt(resource="", redirect_uri=""), "invalid_grant",
                       "PKCE verification failed: code challenge does not match previously "
                       "saved code verifier")
    assert_oauth_error(attempt(resource="", redirect_uri="", code_verifier=""), "invalid_grant",
                       "PKCE verification failed: code_verifier is required when PKCE "
                       "challenge is present")
    assert_oauth_error(attempt(resource="", redirect_uri=REDIRECT_URI,
                               code_verifier=approved.verifier),
                       "access_denied", "User is banned")
    assert authorization_exists(oauth_app, approved.row_id)
    update_user(oauth_app, user_id, banned_until=None)
    response = attempt(resource="https://api.example.com", redirect_uri=REDIRECT_URI,
                       code_verifier=approved.verifier)
    assert response.status_code == 200, response.get_json()


def test_resource_is_read_from_json_only(oauth_app, oauth_api, confidential_client):
    approved = approve(oauth_app, confidential_client, new_user(oauth_app),
                       resource="https://api.example.com")
    # A form's resource is not read, so it cannot mismatch.
    response = redeem(oauth_api, confidential_client, approved,
                      resource="https://other.example.com")
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("status", [AuthorizationStatus.pending, AuthorizationStatus.denied,
                                    AuthorizationStatus.expired])
def test_only_approved_authorizations_redeem(oauth_app, oauth_api, confidential_client,
                                             status):
    approved = approve(oauth_app, confidential_client, new_user(oauth_app), status=status)
    assert_oauth_error(redeem(oauth_api, confidential_client, approved),
                       "invalid_grant", "Invalid authorization code")


def test_an_authorization_without_a_user(oauth_app, oauth_api, confidential_client):
    approved = approve(oauth_app, confidential_client, None)
    assert_oauth_error(redeem(oauth_api, confidential_client, approved),
                       "invalid_grant", "User not found for authorization code")


@pytest.mark.parametrize("code", ["a\\u0000b", "x" * 300, "\\u00e9t\\u00e9", "\\ud800"])
def test_odd_codes_are_unknown(oauth_api, public_client, code):
    # Escapes as a client writes them: a NUL, a lone surrogate (which Go reads as U+FFFD).
    body = '{"grant_type": "authorization_code", "code": "%s", "client_id": "%s"}' % (
        code, public_client.client_id)
    response = oauth_api.post(TOKEN, data=body, headers={"Content-Type": "application/json"})
    assert_oauth_error(response, "invalid_grant", "Invalid authorization code")


# --- grant_type ------------------------------------------------------------------------------


def test_grant_type_checks(oauth_app, oauth_api):
    code_only = register_client(oauth_app, client_type="public",
                                grant_types=("authorization_code",))
    ask = {"client_id": code_only.client_id}
    assert_oauth_error(oauth_api.post(TOKEN, data=ask), "invalid_request",
                       "grant_type is required")
    assert_oauth_error(oauth_api.post(TOKEN, data={**ask, "grant_type": "refresh_token"}),
                       "unsupported_grant_type",
                       "Client is not allowed to use grant type: refresh_token")
    assert_oauth_error(oauth_api.post(TOKEN, data={**ask, "grant_type": "password"}),
                       "unsupported_grant_type",
                       "Client is not allowed to use grant type: password")
    # A grant the client row lists but this server does not have.
    odd = register_client(oauth_app, client_type="public",
                          grant_types=("authorization_code", "client_credentials"))
    assert_oauth_error(oauth_api.post(TOKEN, data={"client_id": odd.client_id,
                                                   "grant_type": "client_credentials"}),
                       "unsupported_grant_type", "Unsupported grant type: client_credentials")
    # The grant type may come from the query string of a form request.
    assert_oauth_error(oauth_api.post(TOKEN, data=ask, query_string={"grant_type": "x"}),
                       "unsupported_grant_type", "Client is not allowed to use grant type: x")


# --- real clients, real HTTP -----------------------------------------------------------------


def test_authlib_redeems_a_code_with_basic_auth(oauth_app, serve, confidential_client):
    server = serve(oauth_app)
    approved = approve(oauth_app, confidential_client, new_user(oauth_app), scope="openid")
    with OAuth2Session(confidential_client.client_id, confidential_client.secret,
                       token_endpoint_auth_method="client_secret_basic",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256") as session:
        token = session.fetch_token(server.url + TOKEN, code=approved.code,
                                    code_verifier=approved.verifier)
    assert token["token_type"] == "bearer" and token["id_token"]
    assert jwt.decode(token["access_token"], options={"verify_signature": False})[
        "client_id"] == confidential_client.client_id


def test_of_ten_concurrent_redemptions_exactly_one_wins(oauth_app, serve, confidential_client):
    server = serve(oauth_app)
    approved = approve(oauth_app, confidential_client, new_user(oauth_app))
    racers = 10
    barrier = threading.Barrier(racers)
    answers: list = [None] * racers

    def race(number: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            answers[number] = http.post(
                server.url + TOKEN, timeout=60,
                headers=basic(confidential_client.client_id, confidential_client.secret),
                data={"grant_type": "authorization_code", "code": approved.code,
                      "code_verifier": approved.verifier})

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * (racers - 1), [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json() == {"error": "invalid_grant",
                                     "error_description": "Invalid authorization code"}
    assert len(client_sessions(oauth_app, confidential_client)) == 1
    assert len(audit_entries(oauth_app, "login")) == 1
    assert not authorization_exists(oauth_app, approved.row_id)


def test_a_deleted_client_cannot_redeem(oauth_app, oauth_api, confidential_client):
    approved = approve(oauth_app, confidential_client, new_user(oauth_app))
    with oauth_app.app_context():
        db.session.execute(sa.update(OAuthClient)
                           .where(OAuthClient.id == uuid.UUID(confidential_client.client_id))
                           .values(deleted_at=datetime.now(timezone.utc)))
        db.session.commit()
    response = redeem(oauth_api, confidential_client, approved)
    assert response.status_code == 400
    assert response.get_json() == {"code": "invalid_credentials",
                                   "message": "Invalid client credentials"}


def test_the_whole_flow_with_authlib(oauth_app, oauth_api, serve, confidential_client):
    """authorize, the consent API, then the token endpoint, with authlib as the relying party
    (PKCE S256, client_secret_basic), the ID token checked against the JWKS."""
    server = serve(oauth_app)
    signed_in = oauth_api.session()
    with OAuth2Session(confidential_client.client_id, confidential_client.secret,
                       token_endpoint_auth_method="client_secret_basic",
                       redirect_uri=REDIRECT_URI, scope="openid email",
                       code_challenge_method="S256") as session:
        verifier = secrets.token_urlsafe(48)
        url, state = session.create_authorization_url(
            server.url + "/oauth/authorize", code_verifier=verifier, nonce="flow-nonce")
        consent_page = requests.get(url, allow_redirects=False, timeout=30)
        assert consent_page.status_code == 302, consent_page.text
        authorization_id = parse_qs(urlsplit(consent_page.headers["Location"]).query)[
            "authorization_id"][0]
        details = oauth_api.get(f"/oauth/authorizations/{authorization_id}",
                                token=signed_in["access_token"])
        assert details.status_code == 200, details.get_json()
        decided = oauth_api.post(f"/oauth/authorizations/{authorization_id}/consent",
                                 token=signed_in["access_token"], json={"action": "approve"})
        assert decided.status_code == 200, decided.get_json()
        token = session.fetch_token(server.url + TOKEN,
                                    authorization_response=decided.get_json()["redirect_url"],
                                    state=state, code_verifier=verifier)
    _, claims = verified(oauth_api, token["id_token"])
    assert (claims["aud"], claims["nonce"], claims["sub"]) == (
        confidential_client.client_id, "flow-nonce", signed_in["user"]["id"])
    assert claims["email"] == signed_in["user"]["email"] and claims["email_verified"] is True
    _, access = verified(oauth_api, token["access_token"])
    assert (access["client_id"], access["scope"]) == (confidential_client.client_id,
                                                      "openid email")
