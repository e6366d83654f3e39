"""POST /oauth/clients/register: dynamic client registration (RFC 7591) behind its own switch,
open to anyone (no bearer), with the registration's rules and its per-client rate limit
(spec idp-passkeys-web3.md sections 0, 1.1 and 1.3)."""

from __future__ import annotations

import re

import pytest

from gotrue_web.models import OAuthClient
from gotrue_web.ratelimit import buckets_from
from gotrue_web.settings import rate_limit
from gotrue_web.settings.env import EnvReader

from ..conftest import ApiClient
from ..factories import count
from ..openapi.support import checked
from .conftest import REDIRECT_URI, oauth_overrides

PATH = "/oauth/clients/register"
DCR = {"oauth_server.allow_dynamic_registration": True}


@pytest.fixture
def dcr_app(make_app, signing_keys):
    return make_app(**oauth_overrides(signing_keys, **DCR))


@pytest.fixture
def dcr_api(dcr_app, service_role_token) -> ApiClient:
    return ApiClient(dcr_app.test_client(), service_role_token)


def _register(api: ApiClient, address: str = "127.0.0.1", **body):
    return api.client.post(PATH, headers=api.headers(), environ_base={"REMOTE_ADDR": address},
                           json={"redirect_uris": [REDIRECT_URI], **body})


def test_registration_is_refused_while_dynamic_registration_is_off(oauth_api, oauth_app):
    response = checked(oauth_api, "POST", PATH, 403, json={"redirect_uris": [REDIRECT_URI]})
    assert response.get_json() == {"code": "oauth_dynamic_client_registration_disabled",
                                   "message": "Dynamic client registration is not enabled"}
    assert count(oauth_app, OAuthClient) == 0


def test_the_server_switch_comes_first(make_app, service_role_token):
    api = ApiClient(make_app(**DCR).test_client(), service_role_token)
    response = _register(api)
    assert response.status_code == 404 and response.get_json()["code"] == "feature_disabled"


def test_anyone_registers_a_dynamic_client(dcr_api, dcr_app):
    # auth-js sends response_types and scope; they are ignored.
    response = checked(dcr_api, "POST", PATH, 201, json={
        "redirect_uris": [REDIRECT_URI, "myapp://callback"], "client_name": "Agent",
        "response_types": ["code"], "scope": "openid", "client_uri": None})
    body = response.get_json()
    assert body["registration_type"] == "dynamic"
    assert body["client_type"] == "confidential"
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["client_secret"])
    assert body["redirect_uris"] == [REDIRECT_URI, "myapp://callback"]
    assert body["client_name"] == "Agent"
    listed = dcr_api.admin("GET", "/admin/oauth/clients").get_json()["clients"]
    assert [(c["client_id"], c["registration_type"]) for c in listed] == [
        (body["client_id"], "dynamic")]
    assert "client_secret" not in listed[0]


def test_a_public_client_registers_without_a_secret(dcr_api):
    body = checked(dcr_api, "POST", PATH, 201,
                   json={"redirect_uris": [REDIRECT_URI],
                         "token_endpoint_auth_method": "none"}).get_json()
    assert (body["client_type"], body["token_endpoint_auth_method"]) == ("public", "none")
    assert "client_secret" not in body


@pytest.mark.parametrize(("body", "status", "code", "message"), [
    ({"redirect_uris": []}, 400, "validation_failed", "400: redirect_uris is required"),
    ({"redirect_uris": ["http://evil.example/cb"]}, 400, "validation_failed",
     "400: invalid redirect_uri 'http://evil.example/cb': HTTP scheme only allowed for "
     "localhost"),
    ({"redirect_uris": [REDIRECT_URI], "client_type": "public",
      "token_endpoint_auth_method": "client_secret_post"}, 400, "validation_failed",
     "400: client_type 'public' is inconsistent with token_endpoint_auth_method "
     "'client_secret_post' (expected client_type 'confidential')"),
    ({"redirect_uris": REDIRECT_URI}, 400, "bad_json", "Invalid JSON body"),
])
def test_registration_errors_are_the_admin_apis(dcr_api, dcr_app, body, status, code, message):
    response = checked(dcr_api, "POST", PATH, status, json=body)
    assert response.get_json() == {"code": code, "message": message}
    assert count(dcr_app, OAuthClient) == 0


def test_the_default_limit_allows_a_burst_of_30_per_client(dcr_api):
    for _ in range(30):
        assert _register(dcr_api, "198.51.100.7").status_code == 201
    refused = _register(dcr_api, "198.51.100.7")
    assert refused.status_code == 429
    assert refused.get_json() == {"code": "over_request_rate_limit",
                                  "message": "Request rate limit reached"}
    assert int(refused.headers["Retry-After"]) > 0
    # Another client has its own bucket.
    assert _register(dcr_api, "198.51.100.8").status_code == 201


def test_the_limit_follows_its_setting_and_counts_refused_requests(make_app, signing_keys,
                                                                   service_role_token):
    app = make_app(**oauth_overrides(signing_keys, **DCR,
                                     **{"rate_limit.oauth_client_register": 1}))
    api = ApiClient(app.test_client(), service_role_token)
    assert _register(api, redirect_uris=[]).status_code == 400
    assert _register(api).status_code == 201
    assert _register(api).status_code == 201
    assert _register(api).status_code == 429
    assert count(app, OAuthClient) == 2


@pytest.mark.parametrize("name", ["GOTRUE_RATE_LIMIT_OAUTH_DYNAMIC_CLIENT_REGISTER",
                                  "GOTRUE_RATE_LIMIT_O_AUTH_DYNAMIC_CLIENT_REGISTER"])
def test_both_spellings_of_the_setting_size_the_bucket(name):
    settings = rate_limit.read(EnvReader({name: "4"}))
    assert settings.oauth_client_register == 4
    assert buckets_from(settings)["oauth_client_register"].limit.amount == 12
