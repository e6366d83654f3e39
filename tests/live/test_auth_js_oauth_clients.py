"""The official JavaScript client (npm ``@supabase/auth-js``) managing OAuth clients over real
HTTP with its admin API (``admin.oauth.*``), after auth-js's "OAuth Admin" tests
(GoTrueApi.test.ts; spec idp-passkeys-web3.md section 4): create, get, update, delete, list,
regenerate, and the errors the client returns. The server is mounted at /auth/v1, as auth-js's
suite expects; tests/live/js/oauth_driver.mjs keeps one server-side client per test."""

from __future__ import annotations

import re
import uuid

import pytest

from ..oauth_server.conftest import oauth_overrides, signing_keys  # noqa: F401
from .test_auth_js_oauth import AuthJs

pytestmark = pytest.mark.live

NIL_UUID = "00000000-0000-0000-0000-000000000000"
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


@pytest.fixture
def js(make_app, signing_keys, serve, auth_js, service_role_token, tmp_path):  # noqa: F811
    server = serve(make_app(**oauth_overrides(signing_keys)))
    driver = AuthJs(auth_js, server.url + "/auth/v1", tmp_path / "node.log")
    driver.send(op="new", client="admin", serviceRoleKey=service_role_token)
    yield driver
    driver.close()


def _ok(answer: dict) -> dict:
    assert answer["error"] is None, answer
    return answer["data"]


def _create(js: AuthJs, **params) -> dict:
    return _ok(js.call("admin", "admin.oauth.createClient", {
        "client_name": "Test OAuth Client", "redirect_uris": ["https://example.com/callback"],
        **params}))


def test_create_get_update_and_delete(js):
    created = _create(js, client_uri="https://example.com")
    assert uuid.UUID(created["client_id"])
    assert SECRET.match(created["client_secret"])
    assert created["client_name"] == "Test OAuth Client"
    got = _ok(js.call("admin", "admin.oauth.getClient", created["client_id"]))
    assert got["client_id"] == created["client_id"] and "client_secret" not in got
    updated = _ok(js.call("admin", "admin.oauth.updateClient", created["client_id"], {
        "client_name": "Updated OAuth Client", "logo_uri": "https://example.com/logo.png"}))
    assert updated["client_name"] == "Updated OAuth Client"
    assert updated["logo_uri"] == "https://example.com/logo.png"
    assert updated["client_uri"] == "https://example.com"
    assert _ok(js.call("admin", "admin.oauth.deleteClient", created["client_id"])) is None
    gone = js.call("admin", "admin.oauth.getClient", created["client_id"])
    assert gone["data"] is None
    assert (gone["error"]["status"], gone["error"]["code"]) == (404, "oauth_client_not_found")


def test_list_sends_paging_and_gets_every_client(js):
    ids = [_create(js, client_name=f"Client {n}")["client_id"] for n in range(3)]
    listed = _ok(js.call("admin", "admin.oauth.listClients", {"page": 1, "perPage": 10}))
    assert len(listed["clients"]) >= 3
    assert [client["client_id"] for client in listed["clients"]] == ids[::-1]
    assert not any("client_secret" in client for client in listed["clients"])


def test_regenerate_gives_a_new_secret(js):
    created = _create(js)
    regenerated = _ok(js.call("admin", "admin.oauth.regenerateClientSecret",
                              created["client_id"]))
    assert SECRET.match(regenerated["client_secret"])
    assert regenerated["client_secret"] != created["client_secret"]
    assert regenerated["client_id"] == created["client_id"]


def test_a_partial_update_keeps_the_name_and_lists_keep_their_order(js):
    uris = ["https://example.com/b", "https://example.com/a", "myapp://callback"]
    minimal = _ok(js.call("admin", "admin.oauth.createClient", {"redirect_uris": uris}))
    assert minimal["grant_types"] == ["authorization_code", "refresh_token"]
    assert minimal["response_types"] == ["code"]
    assert minimal["redirect_uris"] == uris
    named = _create(js, client_name="Keep Me")
    updated = _ok(js.call("admin", "admin.oauth.updateClient", named["client_id"],
                          {"redirect_uris": ["https://example.com/new"]}))
    assert updated["client_name"] == "Keep Me"
    assert updated["redirect_uris"] == ["https://example.com/new"]


def test_errors_reach_the_client(js):
    empty = js.call("admin", "admin.oauth.createClient",
                    {"client_name": "No URIs", "redirect_uris": []})
    assert empty["data"] is None
    assert re.search(r"redirect_uris|required|invalid", empty["error"]["message"], re.I)
    assert (empty["error"]["status"], empty["error"]["code"]) == (400, "validation_failed")
    unknown = js.call("admin", "admin.oauth.getClient", NIL_UUID)
    assert unknown["data"] is None and unknown["error"]["status"] == 404
    public = _create(js, token_endpoint_auth_method="none")
    refused = js.call("admin", "admin.oauth.regenerateClientSecret", public["client_id"])
    assert refused["error"]["message"] == "Cannot regenerate secret for public client"
