"""The discovery documents: one body at /.well-known/oauth-authorization-server and
/.well-known/openid-configuration (the latter served even while the OAuth server is off), built
on GOTRUE_JWT_ISSUER, with the registration endpoint only while dynamic registration is on."""

from __future__ import annotations

import json

import pytest

from gotrue_web import API_PREFIX

from ..conftest import api_for
from ..openapi.support import checked
from .conftest import oauth_overrides

ISSUER = "http://localhost:9999/auth/v1/"
METADATA = "/.well-known/oauth-authorization-server"
OPENID = "/.well-known/openid-configuration"


def expected(base: str, issuer: str, registration: bool) -> dict:
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
    }
    if registration:
        document["registration_endpoint"] = f"{base}/oauth/clients/register"
    document.update({
        "scopes_supported": ["openid", "profile", "email", "phone", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "none"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": ["sub", "aud", "iss", "exp", "iat", "auth_time", "nonce", "email",
                             "email_verified", "phone_number", "phone_number_verified", "name",
                             "picture", "preferred_username", "updated_at"],
    })
    return document


def app_with(make_app, signing_keys, **overrides):
    return make_app(**oauth_overrides(signing_keys, **{"jwt.issuer": ISSUER, **overrides}))


@pytest.mark.parametrize("prefix", ["", API_PREFIX])
def test_both_urls_serve_the_same_document(make_app, signing_keys, prefix):
    api = api_for(app_with(make_app, signing_keys))
    api.prefix = prefix
    bodies = []
    for path in (METADATA, OPENID):
        response = checked(api, "GET", path, 200)
        assert response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "public, max-age=600"
        bodies.append(response.get_data())
    assert bodies[0] == bodies[1]
    document = json.loads(bodies[0])
    assert document == expected("http://localhost:9999/auth/v1", ISSUER, registration=False)
    assert list(document) == list(expected("", "", registration=False))


def test_the_registration_endpoint_while_dynamic_registration_is_on(make_app, signing_keys):
    api = api_for(app_with(make_app, signing_keys, **{
        "oauth_server.allow_dynamic_registration": True}))
    for path in (METADATA, OPENID):
        document = api.get(path).get_json()
        assert document == expected("http://localhost:9999/auth/v1", ISSUER, registration=True)
        assert list(document)[5] == "registration_endpoint"


def test_the_openid_document_is_served_while_the_server_is_off(make_app, signing_keys):
    api = api_for(app_with(make_app, signing_keys, **{
        "oauth_server.enabled": False, "oauth_server.allow_dynamic_registration": True}))
    response = checked(api, "GET", OPENID, 200)
    assert response.get_json() == expected("http://localhost:9999/auth/v1", ISSUER,
                                           registration=False)
    assert response.headers["Cache-Control"] == "public, max-age=600"
    off = checked(api, "GET", METADATA, 404, "feature_disabled")
    assert off.get_json()["message"] == "OAuth server is disabled"


def test_an_issuer_without_a_trailing_slash_or_none(make_app, signing_keys):
    plain = api_for(app_with(make_app, signing_keys, **{"jwt.issuer": "https://auth.example.com"}))
    assert plain.get(OPENID).get_json() == expected(
        "https://auth.example.com", "https://auth.example.com", registration=False)
    empty = api_for(app_with(make_app, signing_keys, **{"jwt.issuer": ""}))
    assert empty.get(METADATA).get_json() == expected("", "", registration=False)
