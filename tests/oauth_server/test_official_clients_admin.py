"""The official Python client (PyPI ``supabase_auth``) managing OAuth clients over real HTTP,
after supabase-py's test_{create,list,get,update,delete}_oauth_client and
test_regenerate_oauth_client_secret: its pydantic models parse our JSON, its update bodies
carry nulls for the fields it leaves alone, and GoTrue's errors reach it as AuthApiError."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from supabase_auth import SyncGoTrueAdminAPI
from supabase_auth.errors import AuthApiError
from supabase_auth.types import CreateOAuthClientParams, UpdateOAuthClientParams

from gotrue_web.models import OAuthClient
from gotrue_web.security.client_secrets import client_secret_hash

from ..conftest import table_rows
from .conftest import oauth_overrides

CALLBACK = "https://example.com/callback"


@pytest.fixture
def admin(make_app, signing_keys, serve, service_role_token):
    app = make_app(**oauth_overrides(signing_keys))
    server = serve(app)
    client = SyncGoTrueAdminAPI(url=server.url, headers={
        "apikey": service_role_token, "Authorization": f"Bearer {service_role_token}"})
    client.app = app
    yield client
    client.close()


def _create(admin: SyncGoTrueAdminAPI, name: str = "Test OAuth Client"):
    response = admin.oauth.create_client(CreateOAuthClientParams(
        client_name=name, redirect_uris=[CALLBACK]))
    assert response.client is not None
    return response.client


def test_create_oauth_client(admin):
    client = _create(admin)
    assert client.client_name == "Test OAuth Client"
    assert uuid.UUID(client.client_id)
    assert client.client_type == "confidential"
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.registration_type == "manual"
    assert client.redirect_uris == [CALLBACK]
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.response_types == ["code"]
    assert client.client_secret and len(client.client_secret) == 43


def test_list_oauth_clients(admin):
    assert admin.oauth.list_clients().clients == []
    created = _create(admin)
    listed = admin.oauth.list_clients()
    assert [client.client_id for client in listed.clients] == [created.client_id]
    assert listed.clients[0].client_name == "Test OAuth Client"
    assert listed.clients[0].client_secret is None
    # No paging headers: the client keeps its defaults.
    assert (listed.total, listed.next_page, listed.last_page) == (0, None, 0)


def test_get_oauth_client(admin):
    created = _create(admin)
    got = admin.oauth.get_client(created.client_id).client
    assert got.client_id == created.client_id and got.client_name == created.client_name
    assert got.client_secret is None
    assert got.created_at == created.created_at


def test_update_oauth_client(admin):
    created = _create(admin)
    updated = admin.oauth.update_client(
        created.client_id, UpdateOAuthClientParams(client_name="Updated Test OAuth Client"))
    assert updated.client.client_name == "Updated Test OAuth Client"
    # The nulls the client sent for the other fields kept them.
    assert updated.client.redirect_uris == [CALLBACK]
    assert updated.client.grant_types == ["authorization_code", "refresh_token"]
    moved = admin.oauth.update_client(created.client_id, UpdateOAuthClientParams(
        redirect_uris=["https://example.com/new"], logo_uri="https://example.com/logo.png"))
    assert moved.client.client_name == "Updated Test OAuth Client"
    assert moved.client.redirect_uris == ["https://example.com/new"]
    assert moved.client.logo_uri == "https://example.com/logo.png"


def test_delete_oauth_client(admin):
    created = _create(admin)
    assert admin.oauth.delete_client(created.client_id) is None
    with pytest.raises(AuthApiError) as caught:
        admin.oauth.get_client(created.client_id)
    assert (caught.value.status, caught.value.code) == (404, "oauth_client_not_found")
    assert caught.value.message == "OAuth client not found"
    assert admin.oauth.list_clients().clients == []


def test_regenerate_oauth_client_secret(admin):
    created = _create(admin)
    regenerated = admin.oauth.regenerate_client_secret(created.client_id).client
    assert regenerated.client_id == created.client_id
    assert regenerated.client_secret and regenerated.client_secret != created.client_secret
    [(stored,)] = table_rows(admin.app, sa.select(OAuthClient.client_secret_hash))
    assert stored == client_secret_hash(regenerated.client_secret)


def test_errors_reach_the_client(admin):
    with pytest.raises(AuthApiError) as caught:
        admin.oauth.create_client(CreateOAuthClientParams(client_name="x", redirect_uris=[]))
    assert (caught.value.status, caught.value.code) == (400, "validation_failed")
    assert caught.value.message == "400: redirect_uris is required"
    with pytest.raises(AuthApiError) as caught:
        admin.oauth.update_client(str(uuid.uuid4()), UpdateOAuthClientParams(client_name="x"))
    assert caught.value.status == 404
