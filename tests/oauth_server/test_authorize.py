"""GET /oauth/authorize: the JSON errors before the client and redirect_uri are trusted, the
redirect errors after (in GoTrue's order, encoded as Go's url.Values.Encode and merged into the
redirect_uri's own query), mandatory PKCE, the openid scope without an asymmetric key, the
server_error cases, and the stored row behind the consent page redirect."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from gotrue_web import API_PREFIX
from gotrue_web.models import OAuthAuthorization

from ..conftest import api_for, table_rows
from ..factories import freeze_clock
from ..openapi.support import checked
from .conftest import CONSENT_PATH, REDIRECT_URI, SITE, oauth_overrides, register_client

VERIFIER = "a-verifier-of-more-than-forty-three-characters-0123456789"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(
    b"=").decode()
STATE = "state-123"


def authorize(api, client, **params):
    """GET /oauth/authorize with a good request for ``client``, changed by ``params`` (None
    leaves a parameter out)."""
    query = {"client_id": client.client_id, "redirect_uri": client.redirect_uris[0],
             "response_type": "code", "scope": "openid email", "state": STATE,
             "code_challenge": CHALLENGE, "code_challenge_method": "S256", **params}
    return api.get("/oauth/authorize?" + urlencode(
        {key: value for key, value in query.items() if value is not None}))


def authorizations(app) -> list[OAuthAuthorization]:
    return [row[0] for row in table_rows(app, sa.select(OAuthAuthorization))]


def error_location(description: str, *, state: str | None = STATE,
                   error: str = "invalid_request", uri: str = REDIRECT_URI) -> str:
    encoded = urlencode({"error": error, "error_description": description})
    return f"{uri}?{encoded}" + (f"&state={state}" if state else "")


def assert_json_error(response, code: str, message: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {"code": code, "message": message}


# --- JSON errors ---------------------------------------------------------------------------------


def test_client_id_and_redirect_uri_are_required_in_that_order(oauth_api, confidential_client):
    assert_json_error(authorize(oauth_api, confidential_client, client_id=None,
                                redirect_uri=None),
                      "validation_failed", "client_id is required")
    # Required even though the client has a single registered URI.
    assert_json_error(authorize(oauth_api, confidential_client, redirect_uri=None),
                      "validation_failed", "redirect_uri is required")


def test_a_client_id_that_is_not_a_uuid(oauth_api, confidential_client):
    assert_json_error(authorize(oauth_api, confidential_client, client_id="not-a-uuid"),
                      "oauth_client_not_found", "invalid client_id format")


@pytest.mark.parametrize("state", ["unknown", "disabled", "deleted"])
def test_unknown_disabled_and_deleted_clients_are_not_found(oauth_app, oauth_api, state):
    if state == "unknown":
        client = register_client(oauth_app)
        client.client_id = str(uuid.uuid4())
    else:
        client = register_client(oauth_app, **{state: True})
    response = authorize(oauth_api, client)
    assert_json_error(response, "oauth_client_not_found", "invalid client_id")
    assert response.headers["x-sb-error-code"] == "oauth_client_not_found"
    assert authorizations(oauth_app) == []


@pytest.mark.parametrize("redirect_uri", [REDIRECT_URI + "/", REDIRECT_URI.upper(),
                                          REDIRECT_URI + "?x=1", "http://evil.example/cb"])
def test_the_redirect_uri_must_equal_a_registered_one(oauth_api, confidential_client,
                                                      redirect_uri):
    assert_json_error(authorize(oauth_api, confidential_client, redirect_uri=redirect_uri),
                      "validation_failed", "invalid redirect_uri")


def test_any_registered_redirect_uri_is_accepted(oauth_app, oauth_api):
    client = register_client(oauth_app, redirect_uris=(REDIRECT_URI, "myapp://callback"))
    response = authorize(oauth_api, client, redirect_uri="myapp://callback")
    assert response.status_code == 302
    assert authorizations(oauth_app)[0].redirect_uri == "myapp://callback"


def test_errors_in_the_legacy_shape_without_the_version_header(oauth_app, confidential_client):
    response = oauth_app.test_client().get(
        "/oauth/authorize?" + urlencode({"client_id": confidential_client.client_id}))
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "error_code": "validation_failed",
                                   "msg": "redirect_uri is required"}


# --- redirect errors -----------------------------------------------------------------------------


REDIRECT_ERRORS = [
    ({"response_type": "token"}, "only response_type=code is supported"),
    ({"response_type": "code id_token"}, "only response_type=code is supported"),
    ({"scope": " "}, "scope parameter cannot be empty"),
    ({"scope": "email  profile foo"}, "unsupported scope: foo"),
    ({"scope": "Email"}, "unsupported scope: Email"),
    ({"resource": "http://exa mple.com"}, "resource must be a valid URI"),
    ({"resource": "https://example.com/%zz"}, "resource must be a valid URI"),
    ({"resource": "https://example.com:port/"}, "resource must be a valid URI"),
    ({"resource": "1a:b"}, "resource must be a valid URI"),
    ({"resource": "https://[::1/api"}, "resource must be a valid URI"),
    ({"resource": "https://a@b@example.com/"}, "resource must be a valid URI"),
    ({"resource": "/api/v1"}, "resource must be an absolute URI"),
    ({"resource": "https://api.example.com/#part"},
     "resource must not include a fragment component"),
    ({"resource": "https://api.example.com/?a=1"}, "resource must not include a query component"),
    ({"code_challenge": None}, "PKCE flow requires both code_challenge and code_challenge_method"),
    ({"code_challenge_method": None},
     "PKCE flow requires both code_challenge and code_challenge_method"),
    ({"code_challenge": None, "code_challenge_method": None},
     "PKCE flow requires both code_challenge and code_challenge_method"),
    ({"code_challenge_method": "S512"}, "code_challenge_method must be 'S256' or 'plain'"),
    ({"code_challenge": "x" * 42}, "code_challenge must be between 43 and 128 characters"),
    ({"code_challenge": "x" * 129}, "code_challenge must be between 43 and 128 characters"),
]


@pytest.mark.parametrize(("params", "description"), REDIRECT_ERRORS)
def test_each_redirect_error(oauth_app, oauth_api, confidential_client, params, description):
    response = authorize(oauth_api, confidential_client, **params)
    assert response.status_code == 302
    assert response.headers["Location"] == error_location(description)
    assert authorizations(oauth_app) == []


def test_the_redirect_errors_come_in_gotrue_order(oauth_api, confidential_client):
    broken = {"response_type": "token", "scope": "nope", "resource": "relative",
              "code_challenge": None}
    expected = ["only response_type=code is supported", "unsupported scope: nope",
                "resource must be an absolute URI",
                "PKCE flow requires both code_challenge and code_challenge_method"]
    for description in expected:
        response = authorize(oauth_api, confidential_client, **broken)
        assert response.headers["Location"] == error_location(description)
        broken.pop(next(iter(broken)))
    assert authorize(oauth_api, confidential_client, **broken).status_code == 302


def test_the_description_is_form_encoded(oauth_api, confidential_client):
    response = authorize(oauth_api, confidential_client, response_type="token")
    assert response.headers["Location"] == (
        REDIRECT_URI + "?error=invalid_request"
        "&error_description=only+response_type%3Dcode+is+supported&state=state-123")


@pytest.mark.parametrize(("state", "encoded"), [
    ("", None), ("a b&c=d/é~", "a+b%26c%3Dd%2F%C3%A9~")])
def test_the_state_is_echoed_only_when_given(oauth_api, confidential_client, state, encoded):
    response = authorize(oauth_api, confidential_client, state=state, response_type="x")
    location = response.headers["Location"]
    if encoded is None:
        assert "state" not in location
        assert location == error_location("only response_type=code is supported", state=None)
    else:
        assert location.endswith("&state=" + encoded)


def test_the_redirect_uri_query_is_kept_merged_and_sorted(oauth_app, oauth_api):
    uri = "https://app.example.com/cb?z=1&a=b+c&error=old&m=%2F&m=2&bad=%zz&semi=1;2&flag"
    client = register_client(oauth_app, redirect_uris=(uri,))
    response = authorize(oauth_api, client, scope="phone nope")
    # Go's URL.Query() drops pairs it cannot read; Encode sorts the keys, keeps each key's
    # values in order and replaces what the server sets.
    assert response.headers["Location"] == (
        "https://app.example.com/cb?a=b+c&error=invalid_request"
        "&error_description=unsupported+scope%3A+nope&flag=&m=%2F&m=2&state=state-123&z=1")


@pytest.mark.parametrize("resource", ["urn:example:api", "https://[::1]:8443/api",
                                      "https://api.example.com/v1?", "https://api.example.com#"])
def test_absolute_resources_are_stored(oauth_app, oauth_api, confidential_client, resource):
    response = authorize(oauth_api, confidential_client, resource=resource)
    assert response.headers["Location"].startswith(SITE + CONSENT_PATH)
    assert authorizations(oauth_app)[0].resource == resource


# --- PKCE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "stored"), [
    ("S256", "s256"), ("s256", "s256"), ("plain", "plain"), ("PLAIN", "plain")])
def test_pkce_methods_in_any_case_are_stored_lower_cased(oauth_app, oauth_api,
                                                         confidential_client, method, stored):
    response = authorize(oauth_api, confidential_client, code_challenge_method=method)
    assert response.headers["Location"].startswith(SITE + CONSENT_PATH)
    assert authorizations(oauth_app)[0].code_challenge_method == stored


@pytest.mark.parametrize("length", [43, 128])
def test_challenge_lengths_at_the_bounds(oauth_app, oauth_api, public_client, length):
    response = authorize(oauth_api, public_client, code_challenge="c" * length)
    assert response.headers["Location"].startswith(SITE + CONSENT_PATH)
    assert authorizations(oauth_app)[0].code_challenge == "c" * length


# --- scope ---------------------------------------------------------------------------------------


def test_the_default_scope_applies_without_one(oauth_app, oauth_api, confidential_client):
    authorize(oauth_api, confidential_client, scope=None)
    authorize(oauth_api, confidential_client, scope="")
    assert [row.scope for row in authorizations(oauth_app)] == ["email", "email"]


def test_the_configured_default_scope(make_app, signing_keys):
    app = make_app(**oauth_overrides(signing_keys, **{
        "oauth_server.default_scope": "openid profile"}))
    client = register_client(app)
    assert authorize(api_for(app), client, scope=None).status_code == 302
    assert authorizations(app)[0].scope == "openid profile"


def test_scopes_are_stored_single_spaced(oauth_app, oauth_api, confidential_client):
    authorize(oauth_api, confidential_client,
              scope=" openid  profile email phone offline_access ")
    assert authorizations(oauth_app)[0].scope == "openid profile email phone offline_access"


def test_openid_is_refused_without_an_asymmetric_signing_key(make_app, signing_keys):
    app = make_app(**oauth_overrides(signing_keys, **{"jwt.keys": ()}))
    client = register_client(app)
    api = api_for(app)
    response = authorize(api, client, scope="email openid")
    assert response.status_code == 302
    assert response.headers["Location"] == error_location(
        "openid scope requires an asymmetric JWT signing key (GOTRUE_JWT_KEYS)")
    assert authorizations(app) == []
    # The spec's own checks come first; other scopes are served as usual.
    assert authorize(api, client, scope="openid", code_challenge=None).headers[
        "Location"] == error_location(
        "PKCE flow requires both code_challenge and code_challenge_method")
    assert authorize(api, client, scope="email profile").headers["Location"].startswith(
        SITE + CONSENT_PATH)


# --- server errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"nonce": "n" * 256}, {"state": "s" * 4097},
                                    {"resource": "https://api.example.com/" + "r" * 2030},
                                    {"nonce": "a\x00b"}])
def test_a_request_that_cannot_be_stored_is_a_server_error(oauth_app, oauth_api,
                                                           confidential_client, params):
    response = authorize(oauth_api, confidential_client, **params)
    assert response.status_code == 302
    state = params.get("state", STATE)
    assert response.headers["Location"] == f"{REDIRECT_URI}?" + urlencode(
        {"error": "server_error", "error_description": "error creating authorization",
         "state": state})
    assert authorizations(oauth_app) == []


def test_the_longest_storable_values_are_stored(oauth_app, oauth_api, confidential_client):
    response = authorize(oauth_api, confidential_client, nonce="n" * 255, state="s" * 4096)
    assert response.headers["Location"].startswith(SITE + CONSENT_PATH)
    [row] = authorizations(oauth_app)
    assert (row.nonce, row.state) == ("n" * 255, "s" * 4096)


def test_an_unconfigured_consent_page_is_a_server_error_and_the_row_remains(
        make_app, signing_keys):
    app = make_app(**oauth_overrides(signing_keys, **{"oauth_server.authorization_path": ""}))
    client = register_client(app)
    response = authorize(api_for(app), client)
    assert response.status_code == 302
    assert response.headers["Location"] == error_location(
        "oauth authorization path not configured", error="server_error")
    [row] = authorizations(app)
    assert row.status.value == "pending" and row.state == STATE


# --- success -------------------------------------------------------------------------------------


def test_success_redirects_to_the_consent_page_and_stores_the_request(
        oauth_app, oauth_api, confidential_client):
    clock = freeze_clock(oauth_app)
    response = authorize(oauth_api, confidential_client, scope="openid email profile",
                         resource="https://api.example.com/v1", nonce="nonce-1")
    assert response.status_code == 302
    location = response.headers["Location"]
    match = re.fullmatch(re.escape(SITE + CONSENT_PATH) + r"\?authorization_id=([a-z2-7]{32})",
                         location)
    assert match, location
    [row] = authorizations(oauth_app)
    assert row.authorization_id == match.group(1)
    assert str(row.client_id) == confidential_client.client_id
    assert row.user_id is None
    assert (row.redirect_uri, row.scope, row.state, row.resource, row.nonce) == (
        REDIRECT_URI, "openid email profile", STATE, "https://api.example.com/v1", "nonce-1")
    assert (row.code_challenge, row.code_challenge_method) == (CHALLENGE, "s256")
    assert row.response_type == "code" and row.status.value == "pending"
    assert row.authorization_code is None and row.approved_at is None
    assert row.created_at == clock.now
    assert row.expires_at == clock.now + timedelta(minutes=10)


def test_optional_values_are_stored_as_null(oauth_app, oauth_api, public_client):
    authorize(oauth_api, public_client, state=None, response_type=None)
    [row] = authorizations(oauth_app)
    assert (row.state, row.resource, row.nonce) == (None, None, None)


def test_the_ttl_setting_and_each_request_gets_its_own_id(make_app, signing_keys):
    app = make_app(**oauth_overrides(signing_keys, **{
        "oauth_server.authorization_ttl": timedelta(minutes=3)}))
    clock = freeze_clock(app)
    client = register_client(app)
    api = api_for(app)
    first = authorize(api, client).headers["Location"]
    second = authorize(api, client).headers["Location"]
    assert first != second
    assert {row.expires_at for row in authorizations(app)} == {clock.now + timedelta(minutes=3)}


@pytest.mark.parametrize(("site", "path", "expected"), [
    ("http://localhost:3000/", "/oauth/consent", "http://localhost:3000/oauth/consent?"),
    ("http://localhost:3000", "consent", "http://localhost:3000/consent?"),
    ("https://example.com/app/", "/consent?lang=en", "https://example.com/app/consent?lang=en?"),
])
def test_the_consent_page_url(make_app, signing_keys, site, path, expected):
    app = make_app(**oauth_overrides(signing_keys, site_url=site, **{
        "oauth_server.authorization_path": path}))
    location = authorize(api_for(app), register_client(app)).headers["Location"]
    assert location.startswith(expected + "authorization_id=")


def test_served_under_the_prefix_and_documented(oauth_app, oauth_api, confidential_client):
    query = urlencode({"client_id": confidential_client.client_id,
                       "redirect_uri": REDIRECT_URI, "code_challenge": CHALLENGE,
                       "code_challenge_method": "S256"})
    prefixed = api_for(oauth_app)
    prefixed.prefix = API_PREFIX
    response = checked(prefixed, "GET", "/oauth/authorize?" + query, 302)
    assert response.headers["Location"].startswith(SITE + CONSENT_PATH)
    checked(oauth_api, "GET", "/oauth/authorize?client_id=x&redirect_uri=y", 400,
            "oauth_client_not_found")
