"""/admin/oauth/clients: registering clients (defaults, every validation message in GoTrue's
order with its "400: " prefix, the secret and its stored hash), reading, listing, partial
updates (null keeps, "" clears), soft deletion, secret regeneration, and our pause switch
(spec idp-passkeys-web3.md sections 1.3, 1.4 and 6)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import OAuthClient, RegistrationType
from gotrue_web.security.client_secrets import client_secret_hash, client_secret_matches
from gotrue_web.services.oauth_server import clients

from ..factories import count, freeze_clock
from ..openapi.support import checked
from .conftest import REDIRECT_URI, register_client

PATH = "/admin/oauth/clients"
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
KEY_ORDER = ["client_id", "client_secret", "client_type", "redirect_uris",
             "token_endpoint_auth_method", "grant_types", "response_types", "client_name",
             "client_uri", "logo_uri", "registration_type", "created_at", "updated_at"]
OPTIONAL = ("client_name", "client_uri", "logo_uri")
METHODS = "[none client_secret_basic client_secret_post]"


def _create(api, status: int = 201, **body):
    return checked(api, "POST", PATH, status, token=api.service_role_token,
                   json={"redirect_uris": [REDIRECT_URI], **body})


def _failure(response) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body["code"], body["message"]


def _row(app, client_id: str) -> OAuthClient:
    with app.app_context():
        row = db.session.get(OAuthClient, uuid.UUID(client_id))
        db.session.expunge(row)
        return row


def _in_order(body: dict) -> bool:
    return list(body) == [key for key in KEY_ORDER if key in body]


# --- create --------------------------------------------------------------------------------------

def test_a_confidential_client_gets_a_secret_of_which_only_the_hash_is_stored(oauth_api,
                                                                               oauth_app):
    body = _create(oauth_api).get_json()
    assert list(body) == [key for key in KEY_ORDER if key not in OPTIONAL]
    assert body["client_type"] == "confidential"
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["registration_type"] == "manual"
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["created_at"] == body["updated_at"]
    secret = body["client_secret"]
    assert SECRET.match(secret)
    row = _row(oauth_app, body["client_id"])
    assert row.client_secret_hash == client_secret_hash(secret)
    assert client_secret_matches(secret, row.client_secret_hash)
    stored = [str(getattr(row, column.key)) for column in OAuthClient.__table__.columns]
    assert not any(secret in value for value in stored)
    assert row.registration_type.value == "manual" and row.deleted_at is row.disabled_at is None


@pytest.mark.parametrize(("given", "client_type", "method"), [
    ({}, "confidential", "client_secret_basic"),
    ({"token_endpoint_auth_method": "none"}, "public", "none"),
    ({"client_type": "public"}, "public", "none"),
    ({"token_endpoint_auth_method": "client_secret_post"}, "confidential", "client_secret_post"),
    ({"client_type": "confidential", "token_endpoint_auth_method": "client_secret_post"},
     "confidential", "client_secret_post"),
    ({"client_type": "public", "token_endpoint_auth_method": "none"}, "public", "none"),
    # Empty strings and nulls are "not given".
    ({"client_type": "", "token_endpoint_auth_method": ""}, "confidential",
     "client_secret_basic"),
    ({"client_type": None, "token_endpoint_auth_method": None}, "confidential",
     "client_secret_basic"),
])
def test_type_and_method_default_from_each_other(oauth_api, oauth_app, given, client_type,
                                                 method):
    body = _create(oauth_api, **given).get_json()
    assert (body["client_type"], body["token_endpoint_auth_method"]) == (client_type, method)
    assert ("client_secret" in body) is (client_type == "confidential")
    row = _row(oauth_app, body["client_id"])
    assert (row.client_secret_hash is None) is (client_type == "public")


def test_every_field_is_echoed_in_order_and_other_keys_are_ignored(oauth_api, oauth_app):
    uris = ["https://app.example/cb?tab=1", "myapp://cb", "com.example.app://oauth/callback",
            "http://localhost/cb", "http://127.0.0.1:9999/cb", "http://[::1]:8080/cb"]
    body = _create(oauth_api, redirect_uris=uris, grant_types=["authorization_code"],
                   client_name="Ünïcode app ✓", client_uri="https://app.example",
                   logo_uri="https://app.example/logo.png", response_types=["code"],
                   scope="openid email", token_endpoint_auth_method="none").get_json()
    assert _in_order(body) and "client_secret" not in body
    assert body["redirect_uris"] == uris
    assert body["grant_types"] == ["authorization_code"]
    assert (body["client_name"], body["client_uri"], body["logo_uri"]) == (
        "Ünïcode app ✓", "https://app.example", "https://app.example/logo.png")
    assert "scope" not in body
    row = _row(oauth_app, body["client_id"])
    assert row.redirect_uris == ",".join(uris) and row.grant_types == "authorization_code"


def test_nulls_are_absent_and_empty_lists_take_the_defaults(oauth_api):
    body = _create(oauth_api, grant_types=[], client_name=None, client_uri=None, logo_uri="",
                   scope=None, response_types=None).get_json()
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert not set(OPTIONAL) & set(body)


BAD_URI = "invalid redirect_uri '{}': {}"
REGISTRATION_ERRORS = [
    ({"redirect_uris": []}, "redirect_uris is required"),
    ({"redirect_uris": None}, "redirect_uris is required"),
    ({"redirect_uris": [f"https://app.example/{n}" for n in range(11)]},
     "redirect_uris cannot exceed 10 items"),
    ({"redirect_uris": ["myapp:/x"]}, BAD_URI.format("myapp:/x", "must have scheme and host")),
    ({"redirect_uris": ["https:///x"]}, BAD_URI.format("https:///x",
                                                       "must have scheme and host")),
    ({"redirect_uris": ["/callback"]}, BAD_URI.format("/callback", "must have scheme and host")),
    ({"redirect_uris": ["JavaScript://x/alert"]},
     BAD_URI.format("JavaScript://x/alert",
                    "scheme 'javascript' is not allowed for security reasons")),
    *[({"redirect_uris": [f"{scheme}://host/x"]},
       BAD_URI.format(f"{scheme}://host/x",
                      f"scheme '{scheme}' is not allowed for security reasons"))
      for scheme in ("data", "file", "vbscript", "about", "blob")],
    ({"redirect_uris": ["http://app.example/cb"]},
     BAD_URI.format("http://app.example/cb", "HTTP scheme only allowed for localhost")),
    ({"redirect_uris": ["http://localhost.example:3000/cb"]},
     BAD_URI.format("http://localhost.example:3000/cb",
                    "HTTP scheme only allowed for localhost")),
    ({"redirect_uris": ["https://app.example/cb#done"]},
     BAD_URI.format("https://app.example/cb#done", "fragment not allowed in redirect URI")),
    # The first bad URI of the list is the one named.
    ({"redirect_uris": ["https://ok.example/cb", "http://bad.example/cb", "myapp:/x"]},
     BAD_URI.format("http://bad.example/cb", "HTTP scheme only allowed for localhost")),
    # Ours: URIs are stored comma-joined; unparsable ones; longer than an authorization holds.
    ({"redirect_uris": ["https://app.example/cb?a=1,2"]},
     BAD_URI.format("https://app.example/cb?a=1,2", "must not contain a comma")),
    ({"redirect_uris": ["https://[::1/cb"]}, BAD_URI.format("https://[::1/cb",
                                                            "invalid URL format")),
    ({"redirect_uris": ["https://app.example:http/cb"]},
     BAD_URI.format("https://app.example:http/cb", "invalid URL format")),
    ({"redirect_uris": ["https://app.example/\tcb"]},
     BAD_URI.format("https://app.example/\tcb", "invalid URL format")),
    ({"redirect_uris": ["https://app.example/" + "a" * 2029]},
     BAD_URI.format("https://app.example/" + "a" * 2029, "must not exceed 2048 characters")),
    ({"grant_types": ["password"]},
     "grant_types must only contain 'authorization_code' and/or 'refresh_token'"),
    ({"grant_types": ["authorization_code", "client_credentials"]},
     "grant_types must only contain 'authorization_code' and/or 'refresh_token'"),
    ({"client_name": "n" * 1025}, "client_name cannot exceed 1024 characters"),
    # Bytes, not characters: 513 two-byte letters.
    ({"client_name": "é" * 513}, "client_name cannot exceed 1024 characters"),
    ({"client_uri": "app.example/home"}, "client_uri must be a valid URL"),
    ({"client_uri": "/home"}, "client_uri must be a valid URL"),
    ({"client_uri": "https://app.example/" + "a" * 2029}, "client_uri must be a valid URL"),
    ({"logo_uri": "logo.png"}, "logo_uri must be a valid URL"),
    ({"client_type": "secret"}, "client_type must be 'public' or 'confidential'"),
    ({"token_endpoint_auth_method": "private_key_jwt"},
     f"token_endpoint_auth_method must be one of: {METHODS}"),
    ({"client_type": "public", "token_endpoint_auth_method": "client_secret_basic"},
     "client_type 'public' is inconsistent with token_endpoint_auth_method "
     "'client_secret_basic' (expected client_type 'confidential')"),
    ({"client_type": "public", "token_endpoint_auth_method": "client_secret_post"},
     "client_type 'public' is inconsistent with token_endpoint_auth_method "
     "'client_secret_post' (expected client_type 'confidential')"),
    ({"client_type": "confidential", "token_endpoint_auth_method": "none"},
     "client_type 'confidential' is inconsistent with token_endpoint_auth_method 'none' "
     "(expected client_type 'public')"),
]


@pytest.mark.parametrize(("given", "message"), REGISTRATION_ERRORS)
def test_each_registration_error_has_goTrues_message_with_its_prefix(oauth_api, oauth_app,
                                                                     given, message):
    response = _create(oauth_api, 400, **given)
    assert _failure(response) == (400, "validation_failed", "400: " + message)
    assert count(oauth_app, OAuthClient) == 0


def test_registration_checks_run_in_goTrues_order(oauth_api):
    body = {"redirect_uris": [], "grant_types": ["implicit"], "client_name": "n" * 1025,
            "client_uri": "nope", "logo_uri": "nope", "client_type": "secret",
            "token_endpoint_auth_method": "jwt"}
    fixes = [("redirect_uris", [REDIRECT_URI]), ("grant_types", None),
             ("client_name", "ok"), ("client_uri", "https://app.example"),
             ("logo_uri", None), ("client_type", "public"),
             ("token_endpoint_auth_method", "client_secret_post"),
             ("token_endpoint_auth_method", "none")]
    seen = []
    for key, fixed in fixes:
        seen.append(_failure(oauth_api.admin("POST", PATH, json=body))[2])
        body[key] = fixed
    assert seen == ["400: redirect_uris is required",
                    "400: grant_types must only contain 'authorization_code' and/or "
                    "'refresh_token'",
                    "400: client_name cannot exceed 1024 characters",
                    "400: client_uri must be a valid URL", "400: logo_uri must be a valid URL",
                    "400: client_type must be 'public' or 'confidential'",
                    f"400: token_endpoint_auth_method must be one of: {METHODS}",
                    "400: client_type 'public' is inconsistent with token_endpoint_auth_method "
                    "'client_secret_post' (expected client_type 'confidential')"]
    assert oauth_api.admin("POST", PATH, json=body).status_code == 201


@pytest.mark.parametrize("raw", [
    "not json", "", "[]", '"text"', '{"redirect_uris": "https://app.example/cb"}',
    '{"redirect_uris": [1]}', '{"redirect_uris": [null]}', '{"client_name": 5}',
    '{"grant_types": "authorization_code"}', '{"client_type": true}',
    '{"token_endpoint_auth_method": ["none"]}', '{"logo_uri": {}}',
    '{"redirect_uris": ["https://app.example/cb"], "client_name": "a\\u0000b"}',
])
def test_an_undecodable_or_mistyped_body_is_bad_json(oauth_api, oauth_app, raw):
    response = oauth_api.admin("POST", PATH, data=raw, content_type="application/json")
    assert _failure(response) == (400, "bad_json", "Invalid JSON body")
    assert count(oauth_app, OAuthClient) == 0


# --- read, list ----------------------------------------------------------------------------------

def test_get_returns_the_client_without_its_secret(oauth_api):
    # A name of 1024 bytes is accepted.
    created = _create(oauth_api, client_name="é" * 512).get_json()
    assert created["client_name"] == "é" * 512
    got = checked(oauth_api, "GET", f"{PATH}/{created['client_id']}", 200,
                  token=oauth_api.service_role_token).get_json()
    assert got == {key: value for key, value in created.items() if key != "client_secret"}
    assert _in_order(got)


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("PUT", "", {"client_name": "x"}), ("DELETE", "", None),
    ("POST", "/regenerate_secret", None)])
def test_a_path_that_is_no_uuid_is_400_and_an_unknown_client_404(oauth_api, method, suffix,
                                                                  body):
    token = oauth_api.service_role_token
    malformed = checked(oauth_api, method, f"{PATH}/not-a-uuid{suffix}", 400, json=body,
                        token=token)
    assert _failure(malformed) == (400, "validation_failed", "invalid client_id format")
    unknown = checked(oauth_api, method, f"{PATH}/{uuid.uuid4()}{suffix}", 404, json=body,
                      token=token)
    assert _failure(unknown) == (404, "oauth_client_not_found", "OAuth client not found")


def test_an_empty_list_is_an_empty_array(oauth_api):
    response = checked(oauth_api, "GET", PATH, 200, token=oauth_api.service_role_token)
    assert response.get_data(as_text=True) == '{"clients":[]}'


def test_the_list_is_newest_first_unpaged_and_keeps_disabled_clients(oauth_api, oauth_app):
    clock = freeze_clock(oauth_app, datetime.now(timezone.utc) - timedelta(hours=1))
    ids = []
    for name in ("first", "second", "third"):
        ids.append(_create(oauth_api, client_name=name).get_json()["client_id"])
        clock.advance(seconds=1)
    paused = register_client(oauth_app, disabled=True, name="paused")
    gone = register_client(oauth_app, deleted=True)
    response = checked(oauth_api, "GET", f"{PATH}?page=2&per_page=1", 200,
                       token=oauth_api.service_role_token)
    listed = response.get_json()["clients"]
    names = [client.get("client_name") for client in listed]
    # register_client stamps the wall clock, an hour after the frozen one.
    assert names == ["paused", "third", "second", "first"]
    assert gone.client_id not in {client["client_id"] for client in listed}
    assert paused.client_id == listed[0]["client_id"]
    assert not any("client_secret" in client for client in listed)
    assert "X-Total-Count" not in response.headers and "Link" not in response.headers


# --- update --------------------------------------------------------------------------------------

def _update(api, client_id: str, status: int = 200, **body):
    return checked(api, "PUT", f"{PATH}/{client_id}", status, token=api.service_role_token,
                   json=body)


def test_an_update_with_nulls_keeps_and_empty_strings_clear(oauth_api, oauth_app):
    clock = freeze_clock(oauth_app)
    created = _create(oauth_api, client_name="Before", client_uri="https://app.example",
                      logo_uri="https://app.example/logo.png").get_json()
    clock.advance(seconds=5)
    # supabase-py sends every field it does not set as null.
    renamed = _update(oauth_api, created["client_id"], client_name="After", client_uri=None,
                      logo_uri=None, redirect_uris=None, grant_types=None).get_json()
    assert renamed["client_name"] == "After"
    assert renamed["client_uri"] == "https://app.example"
    assert renamed["logo_uri"] == "https://app.example/logo.png"
    assert renamed["redirect_uris"] == [REDIRECT_URI]
    assert renamed["created_at"] == created["created_at"]
    assert renamed["updated_at"] > created["updated_at"] and "client_secret" not in renamed
    cleared = _update(oauth_api, created["client_id"], client_name="", client_uri="",
                      logo_uri="").get_json()
    assert not set(OPTIONAL) & set(cleared) and _in_order(cleared)
    row = _row(oauth_app, created["client_id"])
    assert row.client_name is row.client_uri is row.logo_uri is None
    assert row.client_secret_hash == client_secret_hash(created["client_secret"])


def test_an_update_replaces_lists_and_keeps_the_client_type(oauth_api, oauth_app):
    client_id = _create(oauth_api).get_json()["client_id"]
    uris = ["https://two.example/cb", "https://one.example/cb"]
    body = _update(oauth_api, client_id, redirect_uris=uris, grant_types=["authorization_code"],
                   token_endpoint_auth_method="client_secret_post",
                   client_type="public").get_json()
    assert body["redirect_uris"] == uris and body["grant_types"] == ["authorization_code"]
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert body["client_type"] == "confidential"
    # An empty grant_types goes back to the default pair.
    again = _update(oauth_api, client_id, grant_types=[]).get_json()
    assert again["grant_types"] == ["authorization_code", "refresh_token"]
    assert _row(oauth_app, client_id).redirect_uris == ",".join(uris)


UPDATE_ERRORS = [
    ({}, "No fields provided for update"),
    ({"client_name": None, "redirect_uris": None}, "No fields provided for update"),
    ({"client_type": "public", "scope": "openid"}, "No fields provided for update"),
    ({"redirect_uris": []}, "redirect_uris cannot be empty"),
    ({"redirect_uris": [f"https://app.example/{n}" for n in range(11)]},
     "redirect_uris cannot exceed 10 items"),
    ({"redirect_uris": ["http://app.example/cb"]},
     BAD_URI.format("http://app.example/cb", "HTTP scheme only allowed for localhost")),
    ({"grant_types": ["implicit"]},
     "grant_types must only contain 'authorization_code' and/or 'refresh_token'"),
    ({"client_name": "n" * 1025}, "client_name cannot exceed 1024 characters"),
    ({"client_uri": "nope"}, "client_uri must be a valid URL"),
    ({"logo_uri": "nope"}, "logo_uri must be a valid URL"),
    ({"token_endpoint_auth_method": ""},
     f"invalid token_endpoint_auth_method: must be one of {METHODS}"),
    ({"token_endpoint_auth_method": "private_key_jwt"},
     f"invalid token_endpoint_auth_method: must be one of {METHODS}"),
    ({"token_endpoint_auth_method": "none"},
     "token_endpoint_auth_method 'none' is not valid for client_type 'confidential'; "
     "valid methods: [client_secret_basic client_secret_post]"),
    # A valid change with an invalid one: nothing is written.
    ({"client_name": "Renamed", "redirect_uris": ["myapp:/x"]},
     BAD_URI.format("myapp:/x", "must have scheme and host")),
]


@pytest.mark.parametrize(("given", "message"), UPDATE_ERRORS)
def test_update_errors_have_no_prefix(oauth_api, oauth_app, given, message):
    created = _create(oauth_api, client_name="Kept").get_json()
    response = _update(oauth_api, created["client_id"], 400, **given)
    assert _failure(response) == (400, "validation_failed", message)
    row = _row(oauth_app, created["client_id"])
    assert (row.client_name, row.redirect_uris) == ("Kept", REDIRECT_URI)
    assert row.token_endpoint_auth_method == "client_secret_basic"


def test_a_public_client_keeps_the_method_none(oauth_api):
    client_id = _create(oauth_api, client_type="public").get_json()["client_id"]
    refused = _update(oauth_api, client_id, 400, token_endpoint_auth_method="client_secret_basic")
    assert _failure(refused)[2] == ("token_endpoint_auth_method 'client_secret_basic' is not "
                                    "valid for client_type 'public'; valid methods: [none]")
    kept = _update(oauth_api, client_id, token_endpoint_auth_method="none").get_json()
    assert kept["token_endpoint_auth_method"] == "none" and kept["client_type"] == "public"


@pytest.mark.parametrize("raw", ["", "nope", '{"client_name": 1}', '{"redirect_uris": "x"}',
                                 '{"grant_types": [true]}'])
def test_a_mistyped_update_is_bad_json(oauth_api, raw):
    client_id = _create(oauth_api).get_json()["client_id"]
    response = oauth_api.admin("PUT", f"{PATH}/{client_id}", data=raw,
                               content_type="application/json")
    assert _failure(response) == (400, "bad_json", "Invalid JSON body")


# --- delete, regenerate, disable -----------------------------------------------------------------

def test_delete_is_soft_and_the_client_is_gone_everywhere(oauth_api, oauth_app):
    client_id = _create(oauth_api).get_json()["client_id"]
    token = oauth_api.service_role_token
    deleted = checked(oauth_api, "DELETE", f"{PATH}/{client_id}", 204, token=token)
    assert deleted.get_data() == b""
    row = _row(oauth_app, client_id)
    assert row.deleted_at is not None
    for method, suffix, body in [("GET", "", None), ("PUT", "", {"client_name": "x"}),
                                 ("DELETE", "", None), ("POST", "/regenerate_secret", None)]:
        response = oauth_api.admin(method, f"{PATH}/{client_id}{suffix}", json=body)
        assert _failure(response) == (404, "oauth_client_not_found", "OAuth client not found")
    assert oauth_api.admin("GET", PATH).get_json() == {"clients": []}
    assert count(oauth_app, OAuthClient) == 1
    with oauth_app.app_context():
        assert clients.find_usable_client(uuid.UUID(client_id)) is None


def test_regenerate_replaces_the_secret_and_its_hash(oauth_api, oauth_app):
    clock = freeze_clock(oauth_app)
    created = _create(oauth_api, client_name="Rotating").get_json()
    clock.advance(seconds=3)
    response = checked(oauth_api, "POST", f"{PATH}/{created['client_id']}/regenerate_secret",
                       200, token=oauth_api.service_role_token)
    body = response.get_json()
    assert _in_order(body) and SECRET.match(body["client_secret"])
    assert body["client_secret"] != created["client_secret"]
    assert body["updated_at"] > created["updated_at"]
    unchanged = ("client_id", "client_type", "redirect_uris", "client_name", "created_at")
    assert {key: body[key] for key in unchanged} == {key: created[key] for key in unchanged}
    row = _row(oauth_app, created["client_id"])
    assert row.client_secret_hash == client_secret_hash(body["client_secret"])
    assert not client_secret_matches(created["client_secret"], row.client_secret_hash)


def test_a_public_client_has_no_secret_to_regenerate(oauth_api, oauth_app):
    client_id = _create(oauth_api, token_endpoint_auth_method="none").get_json()["client_id"]
    response = checked(oauth_api, "POST", f"{PATH}/{client_id}/regenerate_secret", 400,
                       token=oauth_api.service_role_token)
    assert _failure(response) == (400, "validation_failed",
                                  "Cannot regenerate secret for public client")
    assert _row(oauth_app, client_id).client_secret_hash is None


def test_a_disabled_client_is_managed_but_not_usable(oauth_api, oauth_app):
    client_id = _create(oauth_api, client_name="Paused").get_json()["client_id"]
    rt = oauth_app.extensions["gotrue"]
    with oauth_app.app_context():
        clients.set_disabled(rt, client_id, True)
        db.session.commit()
        assert clients.find_usable_client(uuid.UUID(client_id)) is None
    assert _row(oauth_app, client_id).disabled_at is not None
    assert oauth_api.admin("GET", f"{PATH}/{client_id}").status_code == 200
    assert [c["client_id"] for c in oauth_api.admin("GET", PATH).get_json()["clients"]] == [
        client_id]
    assert _update(oauth_api, client_id, client_name="Still editable").status_code == 200
    with oauth_app.app_context():
        clients.set_disabled(rt, client_id, False)
        db.session.commit()
        assert clients.find_usable_client(uuid.UUID(client_id)).client_name == "Still editable"
    assert _row(oauth_app, client_id).disabled_at is None


def test_admin_calls_need_an_admin_and_the_server_switched_on(api, oauth_api):
    user_token = oauth_api.session()["access_token"]
    assert oauth_api.get(PATH).status_code == 401
    assert _failure(oauth_api.get(PATH, token=user_token))[:2] == (403, "not_admin")
    known = _create(oauth_api).get_json()["client_id"]
    for method, path in [("GET", PATH), ("POST", PATH), ("GET", f"{PATH}/{known}"),
                         ("PUT", f"{PATH}/{known}"), ("DELETE", f"{PATH}/{known}"),
                         ("POST", f"{PATH}/{known}/regenerate_secret")]:
        response = api.admin(method, path, json={"client_name": "x"})
        assert _failure(response) == (404, "feature_disabled", "OAuth server is disabled")


def test_create_client_writes_nothing_until_the_caller_commits(oauth_app):
    rt = oauth_app.extensions["gotrue"]
    with oauth_app.app_context():
        created, secret = clients.create_client(rt, {"redirect_uris": [REDIRECT_URI]},
                                                registration_type=RegistrationType.manual)
        assert secret and created.client_secret_hash == client_secret_hash(secret)
        db.session.rollback()
        assert db.session.execute(sa.select(sa.func.count()).select_from(
            OAuthClient)).scalar_one() == 0
