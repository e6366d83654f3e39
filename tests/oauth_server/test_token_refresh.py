"""The refresh_token grant at POST /oauth/token (spec idp-passkeys-web3.md section 1.7): the
contract's rotation (section 6) for sessions a code exchange made, whose new access tokens keep
client_id and scope; such a session is refreshed only by its own client at /oauth/token, and a
normal session only at /token (400 invalid_client in the OAuth shape otherwise)."""

from __future__ import annotations

import uuid

import jwt
import sqlalchemy as sa
from authlib.integrations.requests_client import OAuth2Session

from gotrue_web.models import RefreshToken, Session

from ..conftest import api_for, table_rows
from ..factories import audit_entries, refresh_token_hash
from .conftest import REDIRECT_URI, oauth_overrides, register_client
from .test_token_client_auth import basic
from .test_token_code_exchange import (
    TOKEN,
    approve,
    assert_oauth_error,
    new_user,
    redeem,
    verified,
)


def oauth_session(app, api, client, scope: str = "email profile") -> dict:
    """The token answer of a code exchange by ``client``."""
    response = redeem(api, client, approve(app, client, new_user(app), scope=scope))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh_at_oauth(api, client, refresh_token: str):
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client.client_type == "public":
        return api.post(TOKEN, data={**body, "client_id": client.client_id})
    return api.post(TOKEN, data=body, headers=basic(client.client_id, client.secret))


def token_revoked(app, token: str) -> bool:
    [(revoked,)] = table_rows(app, sa.select(RefreshToken.revoked)
                              .where(RefreshToken.token == refresh_token_hash(token)))
    return revoked


def test_the_client_refreshes_its_session(oauth_app, oauth_api, confidential_client):
    first = oauth_session(oauth_app, oauth_api, confidential_client)
    response = refresh_at_oauth(oauth_api, confidential_client, first["refresh_token"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token"]
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] != first["refresh_token"]
    assert token_revoked(oauth_app, first["refresh_token"])
    assert not token_revoked(oauth_app, body["refresh_token"])

    _, before = verified(oauth_api, first["access_token"])
    _, after = verified(oauth_api, body["access_token"])
    assert after["client_id"] == confidential_client.client_id
    assert after["scope"] == "email profile"
    assert after["session_id"] == before["session_id"] and after["amr"] == before["amr"]
    assert [entry["action"] for entry in audit_entries(oauth_app)][-1] == "token_refreshed"


def test_rotation_rules_apply(oauth_app, oauth_api, public_client):
    first = oauth_session(oauth_app, oauth_api, public_client)["refresh_token"]
    second = refresh_at_oauth(oauth_api, public_client, first).get_json()["refresh_token"]
    # A client that lost the answer gets the same child again (the locked way).
    again = refresh_at_oauth(oauth_api, public_client, first)
    assert again.status_code == 200 and again.get_json()["refresh_token"] == second
    third = refresh_at_oauth(oauth_api, public_client, second).get_json()["refresh_token"]
    # An older token is reuse: the contract's normal-shaped error, and the session's tokens go.
    reused = refresh_at_oauth(oauth_api, public_client, first)
    assert reused.status_code == 400
    assert reused.get_json() == {"code": "refresh_token_already_used",
                                 "message": "Invalid Refresh Token: Already Used"}
    assert token_revoked(oauth_app, third)


def test_the_grant_needs_a_valid_refresh_token(oauth_api, public_client):
    ask = {"grant_type": "refresh_token", "client_id": public_client.client_id}
    assert_oauth_error(oauth_api.post(TOKEN, data=ask), "invalid_request",
                       "refresh_token is required for refresh_token grant")
    short = oauth_api.post(TOKEN, data={**ask, "refresh_token": "short"})
    assert (short.status_code, short.get_json()) == (
        400, {"code": "validation_failed", "message": "Refresh token is not valid"})
    unknown = oauth_api.post(TOKEN, data={**ask, "refresh_token": "abcdefghijkl"})
    assert unknown.status_code == 400
    assert unknown.get_json()["code"] == "refresh_token_not_found"


def test_another_client_may_not_refresh_the_session(oauth_app, oauth_api, confidential_client):
    issued = oauth_session(oauth_app, oauth_api, confidential_client)
    other = register_client(oauth_app)
    assert_oauth_error(refresh_at_oauth(oauth_api, other, issued["refresh_token"]),
                       "invalid_client", "Client does not match the session's OAuth client")
    assert not token_revoked(oauth_app, issued["refresh_token"])
    # Also on the locked way, for a token already rotated.
    rotated = refresh_at_oauth(oauth_api, confidential_client, issued["refresh_token"])
    assert rotated.status_code == 200
    assert_oauth_error(refresh_at_oauth(oauth_api, other, issued["refresh_token"]),
                       "invalid_client", "Client does not match the session's OAuth client")


def test_a_normal_session_is_not_refreshed_by_a_client(oauth_api, confidential_client):
    signed_in = oauth_api.session()
    assert_oauth_error(refresh_at_oauth(oauth_api, confidential_client,
                                        signed_in["refresh_token"]),
                       "invalid_client",
                       "Client authentication not allowed for non-OAuth session")
    # Still usable where it belongs.
    assert oauth_api.refresh(signed_in["refresh_token"]).status_code == 200


def test_plain_token_refresh_of_an_oauth_session(oauth_app, oauth_api, confidential_client):
    issued = oauth_session(oauth_app, oauth_api, confidential_client)
    assert_oauth_error(oauth_api.refresh(issued["refresh_token"]), "invalid_client",
                       "Client authentication required for OAuth session")
    assert not token_revoked(oauth_app, issued["refresh_token"])
    assert refresh_at_oauth(oauth_api, confidential_client,
                            issued["refresh_token"]).status_code == 200


def test_a_normal_sessions_plain_refresh_is_unchanged(oauth_api):
    signed_in = oauth_api.session()
    response = oauth_api.refresh(signed_in["refresh_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert {"access_token", "token_type", "expires_in", "expires_at", "refresh_token",
            "user"} <= set(body)
    _, claims = verified(oauth_api, body["access_token"])
    assert "client_id" not in claims and "scope" not in claims


def test_authlib_refreshes_over_http(oauth_app, serve, confidential_client):
    server = serve(oauth_app)
    issued = oauth_session(oauth_app, api_for(oauth_app), confidential_client, scope="openid")
    with OAuth2Session(confidential_client.client_id, confidential_client.secret,
                       token_endpoint_auth_method="client_secret_basic",
                       redirect_uri=REDIRECT_URI) as session:
        token = session.refresh_token(server.url + TOKEN,
                                      refresh_token=issued["refresh_token"])
    assert token["refresh_token"] != issued["refresh_token"] and "id_token" not in token
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert (claims["client_id"], claims["scope"]) == (confidential_client.client_id, "openid")


def test_signed_refresh_tokens_keep_the_client_rules(make_app, signing_keys,
                                                     service_role_token):
    """GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2: a code exchange's session gets a
    signed token (no token row), which its client refreshes and nobody else."""
    app = make_app(**oauth_overrides(signing_keys),
                   **{"security.refresh_token_algorithm_version": 2})
    api = api_for(app, service_role_token)
    client, other = register_client(app), register_client(app)
    issued = oauth_session(app, api, client)
    assert len(issued["refresh_token"]) > 12
    assert table_rows(app, sa.select(RefreshToken.id)) == []
    assert_oauth_error(refresh_at_oauth(api, other, issued["refresh_token"]),
                       "invalid_client", "Client does not match the session's OAuth client")
    assert_oauth_error(api.refresh(issued["refresh_token"]), "invalid_client",
                       "Client authentication required for OAuth session")
    response = refresh_at_oauth(api, client, issued["refresh_token"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    _, claims = verified(api, body["access_token"])
    assert claims["client_id"] == client.client_id and claims["scope"] == "email profile"
    [(counter,)] = table_rows(app, sa.select(Session.refresh_token_counter)
                              .where(Session.id == uuid.UUID(claims["session_id"])))
    assert counter == 2
    # The locked way (a token behind the session's) checks the client too.
    assert_oauth_error(refresh_at_oauth(api, other, issued["refresh_token"]),
                       "invalid_client", "Client does not match the session's OAuth client")
