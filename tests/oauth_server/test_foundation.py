"""The OAuth server's switch and storage: every route but the OpenID configuration is 404
feature_disabled while it is off (after the admin or user check), and clients, their hashed
secrets and the soft-delete and disable markers round-trip through the database."""

from __future__ import annotations

import pytest

from gotrue_web.extensions import db
from gotrue_web.models import OAuthClient
from gotrue_web.security.client_secrets import client_secret_hash, client_secret_matches

from .conftest import register_client

GATED = [
    ("GET", "/.well-known/oauth-authorization-server", None),
    ("POST", "/oauth/clients/register", None),
    ("GET", "/oauth/authorize", None),
    ("POST", "/oauth/token", None),
]


@pytest.mark.parametrize("prefix", ["", "/auth/v1"])
@pytest.mark.parametrize(("method", "path", "_auth"), GATED)
def test_public_routes_are_disabled_while_the_server_is_off(api, prefix, method, path, _auth):
    response = api.request(method, prefix + path)
    assert response.status_code == 404
    assert response.get_json()["code"] == "feature_disabled"
    assert response.get_json()["message"] == "OAuth server is disabled"


def test_admin_routes_check_the_admin_before_the_switch(api):
    anonymous = api.get("/admin/oauth/clients")
    assert anonymous.status_code == 401
    admin = api.admin("GET", "/admin/oauth/clients")
    assert admin.status_code == 404
    assert admin.get_json()["code"] == "feature_disabled"


def test_user_routes_check_the_user_before_the_switch(api):
    assert api.get("/user/oauth/grants").status_code == 401
    token = api.session()["access_token"]
    response = api.get("/user/oauth/grants", token=token)
    assert response.status_code == 404
    assert response.get_json()["code"] == "feature_disabled"


def test_client_rows_keep_only_the_secret_hash(oauth_app):
    registered = register_client(oauth_app, disabled=True)
    with oauth_app.app_context():
        row = db.session.get(OAuthClient, __import__("uuid").UUID(registered.client_id))
        assert row.client_secret_hash == client_secret_hash(registered.secret)
        assert registered.secret not in row.client_secret_hash
        assert len(registered.secret) == 43 and "=" not in registered.secret
        assert client_secret_matches(registered.secret, row.client_secret_hash)
        assert not client_secret_matches(registered.secret + "x", row.client_secret_hash)
        assert not client_secret_matches(registered.secret, None)
        assert row.disabled_at is not None and row.deleted_at is None
        assert row.redirect_uri_list == list(registered.redirect_uris)
        assert row.grant_type_list == ["authorization_code", "refresh_token"]
