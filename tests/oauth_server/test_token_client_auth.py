"""Client authentication at POST /oauth/token (spec idp-passkeys-web3.md section 1.7): a Basic
header is client_secret_basic, else the body's (JSON, or form then query) client_id and
client_secret are client_secret_post, or none without a secret; the method must be the one
registered, and every failure is 400 invalid_credentials in the normal shape with GoTrue's
message. A request that authenticates reaches the grant checks: without a grant_type it gets
the OAuth-shaped "grant_type is required", which is how these tests see that it passed."""

from __future__ import annotations

import base64
import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import OAuthClient
from gotrue_web.security.client_secrets import client_secret_hash

from ..openapi.conformance import assert_conforms
from .conftest import register_client

TOKEN = "/oauth/token"


def basic(client_id: str, secret: str | None) -> dict:
    pair = f"{client_id}:{secret}" if secret is not None else client_id
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def assert_refused(response, message: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {"code": "invalid_credentials", "message": message}
    assert_conforms(response, "/oauth/token", "post")


def assert_authenticated(response) -> None:
    """The client passed: the next answer is the grant check's, in the OAuth shape."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {"error": "invalid_request",
                                   "error_description": "grant_type is required"}


# --- client_secret_basic -------------------------------------------------------------------


def test_basic_credentials_authenticate_a_basic_client(oauth_api, confidential_client):
    client = confidential_client
    assert_authenticated(oauth_api.post(TOKEN, headers=basic(client.client_id, client.secret)))
    # A JSON body with other credentials does not matter once the header is there.
    assert_authenticated(oauth_api.post(TOKEN, headers=basic(client.client_id, client.secret),
                                        json={"client_id": str(uuid.uuid4())}))


@pytest.mark.parametrize(("header", "message"), [
    ("Basic !!!not-base64!!!", "Invalid client credentials: invalid basic auth encoding"),
    ("Basic " + base64.b64encode(b"ab").decode().rstrip("="),
     "Invalid client credentials: invalid basic auth encoding"),
    ("Basic " + base64.b64encode(b"no-colon-here").decode(),
     "Invalid client credentials: invalid basic auth format"),
    ("Basic " + base64.b64encode(b":a-secret").decode(),
     "Invalid client credentials: client_id is required"),
    ("Basic " + base64.b64encode(b"not-a-uuid:a-secret").decode(), "Invalid client_id format"),
    ("Basic " + base64.b64encode(b"7b1d5a3e-2f4c-4e8a-9b6d-0c3e5f7a9b22:a-secret").decode(),
     "Invalid client credentials"),
])
def test_malformed_or_unknown_basic_credentials(oauth_api, header, message):
    assert_refused(oauth_api.post(TOKEN, headers={"Authorization": header}), message)


def test_a_wrong_or_missing_secret_is_refused(oauth_api, confidential_client):
    client = confidential_client
    assert_refused(oauth_api.post(TOKEN, headers=basic(client.client_id, client.secret + "x")),
                   "invalid credentials")
    assert_refused(oauth_api.post(TOKEN, headers=basic(client.client_id, "")),
                   "confidential clients must provide client_secret")


def test_the_basic_pair_is_not_url_decoded(oauth_api, confidential_client):
    client = confidential_client
    encoded = "%{:02X}".format(ord(client.secret[0])) + client.secret[1:]
    assert_refused(oauth_api.post(TOKEN, headers=basic(client.client_id, encoded)),
                   "invalid credentials")


def test_the_secret_is_everything_after_the_first_colon(oauth_app, oauth_api):
    client = register_client(oauth_app)
    with oauth_app.app_context():
        db.session.execute(sa.update(OAuthClient)
                           .where(OAuthClient.id == uuid.UUID(client.client_id))
                           .values(client_secret_hash=client_secret_hash("with:a:colon")))
        db.session.commit()
    assert_authenticated(oauth_api.post(TOKEN, headers=basic(client.client_id, "with:a:colon")))


def test_the_scheme_is_case_sensitive(oauth_api, confidential_client):
    client = confidential_client
    header = basic(client.client_id, client.secret)["Authorization"].replace("Basic", "basic")
    # Not Basic auth: the body is read instead, and it names no client.
    assert_refused(oauth_api.post(TOKEN, headers={"Authorization": header}),
                   "Invalid client credentials: client_id is required")


def test_a_basic_client_may_not_post_its_secret(oauth_api, confidential_client):
    client = confidential_client
    assert_refused(
        oauth_api.post(TOKEN, data={"client_id": client.client_id,
                                    "client_secret": client.secret}),
        "invalid authentication method: client is registered for 'client_secret_basic' but "
        "'client_secret_post' was used")
    assert_refused(
        oauth_api.post(TOKEN, json={"client_id": client.client_id}),
        "invalid authentication method: client is registered for 'client_secret_basic' but "
        "'none' was used")


@pytest.mark.parametrize("state", ["deleted", "disabled"])
def test_deleted_and_disabled_clients_are_unknown(oauth_app, oauth_api, state):
    client = register_client(oauth_app, **{state: True})
    assert_refused(oauth_api.post(TOKEN, headers=basic(client.client_id, client.secret)),
                   "Invalid client credentials")


# --- client_secret_post --------------------------------------------------------------------


@pytest.fixture
def post_client(oauth_app):
    return register_client(oauth_app, auth_method="client_secret_post")


def test_posted_credentials_in_json_form_or_query(oauth_api, post_client):
    credentials = {"client_id": post_client.client_id, "client_secret": post_client.secret}
    assert_authenticated(oauth_api.post(TOKEN, json=credentials))
    assert_authenticated(oauth_api.post(TOKEN, data=credentials))
    assert_authenticated(oauth_api.post(TOKEN, query_string=credentials))
    # A JSON Content-Type with a charset is still JSON.
    assert_authenticated(oauth_api.post(
        TOKEN, data='{"client_id": "%s", "client_secret": "%s"}' % (
            post_client.client_id, post_client.secret),
        headers={"Content-Type": "application/json; charset=utf-8"}))


def test_the_form_wins_over_the_query(oauth_api, post_client):
    assert_authenticated(oauth_api.post(
        TOKEN, data={"client_id": post_client.client_id, "client_secret": post_client.secret},
        query_string={"client_id": str(uuid.uuid4()), "client_secret": "other"}))
    assert_refused(oauth_api.post(
        TOKEN, data={"client_id": post_client.client_id, "client_secret": "wrong"},
        query_string={"client_secret": post_client.secret}), "invalid credentials")


def test_a_json_body_ignores_the_query(oauth_api, post_client):
    assert_refused(oauth_api.post(
        TOKEN, json={"grant_type": "authorization_code"},
        query_string={"client_id": post_client.client_id, "client_secret": post_client.secret}),
        "Invalid client credentials: client_id is required")


def test_a_post_client_is_refused_a_wrong_secret_or_basic(oauth_api, post_client):
    assert_refused(oauth_api.post(TOKEN, json={"client_id": post_client.client_id,
                                               "client_secret": "wrong"}),
                   "invalid credentials")
    assert_refused(
        oauth_api.post(TOKEN, headers=basic(post_client.client_id, post_client.secret)),
        "invalid authentication method: client is registered for 'client_secret_post' but "
        "'client_secret_basic' was used")


def test_posted_ids_are_checked_like_basic_ones(oauth_api):
    assert_refused(oauth_api.post(TOKEN, data={"client_secret": "s"}),
                   "Invalid client credentials: client_id is required")
    assert_refused(oauth_api.post(TOKEN, data={"client_id": "abc", "client_secret": "s"}),
                   "Invalid client_id format")
    assert_refused(oauth_api.post(TOKEN, json={"client_id": str(uuid.uuid4())}),
                   "Invalid client credentials")


# --- none (public clients) -----------------------------------------------------------------


def test_a_public_client_sends_only_its_id(oauth_api, public_client):
    assert_authenticated(oauth_api.post(TOKEN, json={"client_id": public_client.client_id}))
    assert_authenticated(oauth_api.post(TOKEN, data={"client_id": public_client.client_id}))
    # An uppercase id is the same UUID.
    assert_authenticated(oauth_api.post(TOKEN,
                                        json={"client_id": public_client.client_id.upper()}))
    assert_refused(
        oauth_api.post(TOKEN, json={"client_id": public_client.client_id,
                                    "client_secret": "anything"}),
        "invalid authentication method: client is registered for 'none' but "
        "'client_secret_post' was used")
    assert_refused(
        oauth_api.post(TOKEN, headers=basic(public_client.client_id, "anything")),
        "invalid authentication method: client is registered for 'none' but "
        "'client_secret_basic' was used")


def test_the_client_type_rules_after_the_method(oauth_app, oauth_api):
    """Rows whose type and method disagree (the APIs never make them) meet the type rules."""
    public = register_client(oauth_app, client_type="public", auth_method="client_secret_post")
    assert_refused(oauth_api.post(TOKEN, data={"client_id": public.client_id,
                                               "client_secret": "x"}),
                   "public clients must not provide client_secret")
    confidential = register_client(oauth_app, auth_method="none")
    assert_refused(oauth_api.post(TOKEN, data={"client_id": confidential.client_id}),
                   "confidential clients must provide client_secret")


# --- unreadable bodies ---------------------------------------------------------------------


def _raw_json(oauth_api, body: str, **headers):
    return oauth_api.post(TOKEN, data=body,
                          headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("body", ["{", "[]", '"text"', '{"client_id": 5}', "",
                                  '{"client_id": "x", "grant_type": NaN}'])
def test_an_unreadable_json_body(oauth_api, confidential_client, body):
    invalid = {"error": "invalid_request", "error_description": "Invalid JSON body"}
    response = _raw_json(oauth_api, body)
    assert (response.status_code, response.get_json()) == (400, invalid)
    # Basic credentials are checked first: a wrong one is reported before the body.
    client = confidential_client
    assert_refused(_raw_json(oauth_api, body, **basic(client.client_id, "wrong")),
                   "invalid credentials")
    response = _raw_json(oauth_api, body, **basic(client.client_id, client.secret))
    assert (response.status_code, response.get_json()) == (400, invalid)


def test_null_values_are_absent(oauth_api, public_client):
    assert_authenticated(_raw_json(
        oauth_api, '{"client_id": "%s", "client_secret": null, "grant_type": null}'
        % public_client.client_id))


def test_legacy_error_shape(oauth_app, confidential_client):
    response = oauth_app.test_client().post(TOKEN, headers=basic(confidential_client.client_id,
                                                                 "wrong"))
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "error_code": "invalid_credentials",
                                   "msg": "invalid credentials"}
