"""/admin/custom-providers (spec oauth-sso.md section 6): the admin API's codes, its validation
matrix, the https/SSRF rules (with and without the tests-only switch), OIDC discovery checked
against a fake server, and the client secret stored encrypted and never returned."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gotrue_web.models import CustomOAuthProvider
from gotrue_web.services.oauth.custom import secret_box

from ...conftest import JWT_SECRET, api_for
from ...support.fake_custom_oauth import (OIDC_ROUTES, PRIVATE_URLS, DocumentServer,
                                          oauth2_body, oauth2_fake, oidc_body, oidc_fake)
from .conftest import entities

PATH = "/admin/custom-providers"
# A public-looking https provider: creating an oauth2 provider makes no outbound call.
PUBLIC = {"provider_type": "oauth2", "identifier": "custom:public", "name": "Public",
          "client_id": "public-client", "client_secret": "public-secret",
          "authorization_url": "https://idp.example.com/authorize",
          "token_url": "https://idp.example.com/token",
          "userinfo_url": "https://idp.example.com/userinfo"}


@pytest.fixture
def admin_app(make_app):
    return make_app(**PRIVATE_URLS, **{"mailer.autoconfirm": True})


@pytest.fixture
def api(admin_app, service_role_token):
    return api_for(admin_app, service_role_token)


@pytest.fixture
def acme(servers):
    return servers(oauth2_fake())


@pytest.fixture
def idp(servers):
    return servers(oidc_fake())


def _rows(app) -> list[CustomOAuthProvider]:
    return entities(app, sa.select(CustomOAuthProvider).order_by(CustomOAuthProvider.identifier))


def _error(answer, status: int, code: str, message: str | None = None) -> dict:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["code"] == code, body
    if message is not None:
        assert body["message"] == message
    return body


def test_an_oauth2_provider_is_created_listed_read_and_its_secret_kept_encrypted(
        api, admin_app, acme):
    created = api.admin("POST", PATH, json=oauth2_body(acme, attribute_mapping={"sub": "id"},
                                                       custom_claims_allowlist=["groups"],
                                                       authorization_params={"prompt": "x"}))
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert "client_secret" not in body
    assert {key: body[key] for key in ("provider_type", "identifier", "name", "client_id",
                                       "scopes", "pkce_enabled", "enabled", "email_optional",
                                       "attribute_mapping", "custom_claims_allowlist",
                                       "authorization_params", "acceptable_client_ids")} == {
        "provider_type": "oauth2", "identifier": "custom:acme", "name": "Acme",
        "client_id": acme.client_id, "scopes": ["profile", "email"], "pkce_enabled": True,
        "enabled": True, "email_optional": False, "attribute_mapping": {"sub": "id"},
        "custom_claims_allowlist": ["groups"], "authorization_params": {"prompt": "x"},
        "acceptable_client_ids": []}
    assert body["token_url"] == acme.url + "/oauth/token"
    assert body["id"] and body["created_at"] and body["updated_at"]
    (row,) = _rows(admin_app)
    assert row.client_secret != acme.secret and acme.secret not in row.client_secret
    assert secret_box.unseal(JWT_SECRET, row.client_secret) == acme.secret
    # No outbound call for an oauth2 provider.
    assert acme.received == []

    listed = api.admin("GET", PATH)
    assert listed.status_code == 200
    assert listed.get_json() == {"providers": [body]}
    assert api.admin("GET", PATH + "?type=oauth2").get_json() == {"providers": [body]}
    assert api.admin("GET", PATH + "?type=oidc").get_json() == {"providers": []}
    _error(api.admin("GET", PATH + "?type=saml"), 400, "validation_failed")
    fetched = api.admin("GET", PATH + "/custom:acme")
    assert fetched.status_code == 200 and fetched.get_json() == body


def test_an_oidc_provider_is_checked_against_its_discovery_document(api, admin_app, idp):
    created = api.admin("POST", PATH, json=oidc_body(idp, acceptable_client_ids=["ios-app"]))
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["scopes"] == ["openid", "email", "profile"]
    assert body["issuer"] == idp.url and body["acceptable_client_ids"] == ["ios-app"]
    document = body["discovery_document"]
    assert document["issuer"] == idp.url
    assert document["jwks_uri"] == idp.url + OIDC_ROUTES["jwks"]
    assert document["authorization_endpoint"] == idp.url + OIDC_ROUTES["authorize"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "client_secret" not in body and "authorization_url" not in body
    assert len(idp.requests_to(OIDC_ROUTES["discovery"])) == 1
    # openid is not added twice.
    again = api.admin("POST", PATH, json=oidc_body(idp, identifier="custom:idp-2",
                                                    scopes=["openid", "email"]))
    assert again.get_json()["scopes"] == ["openid", "email"]


@pytest.mark.parametrize("changes, fragment", [
    ({"identifier": "acme"}, 'identifier must start with "custom:"'),
    ({"identifier": "custom:Acme"}, "identifier must be"),
    ({"identifier": "custom:acme-"}, "identifier must be"),
    ({"identifier": "custom:" + "a" * 44}, "identifier must be"),
    ({"identifier": 7}, 'identifier must start with "custom:"'),
    ({"provider_type": "saml"}, "provider_type"),
    ({"name": ""}, "name is required"),
    ({"name": "n" * 101}, "name must be at most 100"),
    ({"client_id": "c" * 513}, "client_id must be at most 512"),
    ({"client_id": None}, "client_id is required"),
    ({"client_secret": ""}, "client_secret is required"),
    ({"token_url": ""}, "token_url is required"),
    ({"userinfo_url": None}, "userinfo_url is required"),
    ({"scopes": "profile email"}, "scopes must be an array of strings"),
    ({"pkce_enabled": "yes"}, "pkce_enabled must be a boolean"),
    ({"authorization_params": {"redirect_uri": "https://evil.example"}}, '"redirect_uri" is '
                                                                          "reserved"),
    ({"authorization_params": {"State": "x"}}, '"State" is reserved'),
    ({"authorization_params": {"code_challenge": "x"}}, "reserved"),
    ({"authorization_params": {"nonce": "n"}}, '"nonce" is reserved'),
    ({"authorization_params": {"prompt": 1}}, '"prompt" must be a string'),
    ({"attribute_mapping": {"role": "groups"}}, 'the target "role" is not allowed'),
    ({"attribute_mapping": {"app_metadata": "x"}}, 'the target "app_metadata"'),
    ({"attribute_mapping": {"email_verified": True}}, 'the target "email_verified"'),
    ({"attribute_mapping": {"banned_until": "x"}}, 'the target "banned_until"'),
    ({"attribute_mapping": ["sub"]}, "attribute_mapping must be an object"),
    ({"custom_claims_allowlist": ["groups", ""]}, "must not contain empty entries"),
    ({"custom_claims_allowlist": ["  "]}, "must not contain empty entries"),
    ({"token_url": "ftp://idp.example.com/token"}, "token_url is not a valid URL"),
])
def test_invalid_bodies_are_refused_and_nothing_is_stored(api, admin_app, acme, changes,
                                                          fragment):
    body = _error(api.admin("POST", PATH, json=oauth2_body(acme, **changes)), 400,
                  "validation_failed")
    assert fragment in body["message"]
    assert _rows(admin_app) == []


def test_an_oidc_provider_needs_an_issuer(api, idp):
    _error(api.admin("POST", PATH, json=oidc_body(idp, issuer="")), 400, "validation_failed",
           "issuer is required for oidc providers")


@pytest.mark.parametrize("url, problem", [
    ("http://idp.example.com/token", "must use https"),
    ("https://localhost/token", "must not point to localhost"),
    ("https://auth.localhost/token", "must not point to localhost"),
    ("https://127.0.0.1/token", "loopback, private or reserved"),
    ("https://127.1/token", "loopback, private or reserved"),
    ("https://[::1]/token", "loopback, private or reserved"),
    ("https://[::ffff:10.0.0.1]/token", "loopback, private or reserved"),
    ("https://10.1.2.3/token", "loopback, private or reserved"),
    ("https://192.168.0.10:8443/token", "loopback, private or reserved"),
    ("https://169.254.169.254/latest/meta-data", "loopback, private or reserved"),
    ("https://user:pw@idp.example.com/token", "not a valid URL"),
])
def test_without_the_switch_urls_must_be_https_and_public(make_app, service_role_token, url,
                                                          problem):
    app = make_app()
    api = api_for(app, service_role_token)
    body = _error(api.admin("POST", PATH, json={**PUBLIC, "token_url": url}), 400,
                  "validation_failed")
    assert body["message"].startswith("token_url ") and problem in body["message"]
    assert _rows(app) == []
    # A public https provider is fine without the switch.
    assert api.admin("POST", PATH, json=PUBLIC).status_code == 201


def test_the_switch_is_not_an_environment_variable():
    from gotrue_web.settings import from_env

    settings = from_env({"GOTRUE_SITE_URL": "http://localhost:3000",
                         "API_EXTERNAL_URL": "http://localhost:9999",
                         "GOTRUE_JWT_SECRET": JWT_SECRET, "DATABASE_URL": "sqlite://",
                         "GOTRUE_CUSTOM_OAUTH_ALLOW_PRIVATE_URLS": "true",
                         "GOTRUE_EXTERNAL_CUSTOM_OAUTH_ALLOW_PRIVATE_URLS": "true",
                         "GOTRUE_CUSTOM_OAUTH_MAX_PROVIDERS": "3",
                         "GOTRUE_CUSTOM_OAUTH_EXTERNAL_URL": "https://auth.example.com"},
                        env_file=None)
    external = settings.external
    assert external.custom_oauth_allow_private_urls is False
    assert (external.custom_oauth_enabled, external.custom_oauth_max_providers,
            external.custom_oauth_external_url) == (True, 3, "https://auth.example.com")


@pytest.mark.parametrize("setup, fragment", [
    (lambda fake: setattr(fake, "issuer", "https://someone-else.example"),
     'names the issuer "https://someone-else.example"'),
    (lambda fake: setattr(fake, "discovery_status", 500), "Unable to fetch"),
])
def test_a_discovery_document_that_does_not_fit_is_refused(api, admin_app, idp, setup,
                                                           fragment):
    setup(idp)
    body = _error(api.admin("POST", PATH, json=oidc_body(idp)), 400, "validation_failed")
    assert fragment in body["message"]
    assert _rows(admin_app) == []


@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
def test_a_discovery_document_missing_an_endpoint_is_refused(api, admin_app, servers, missing):
    # discovery_url, when given, is where the document is read (not the issuer's well-known).
    server = servers(DocumentServer())
    issuer = "http://127.0.0.1:1/issuer"
    server.document.update({"issuer": issuer, "authorization_endpoint": server.url + "/a",
                            "token_endpoint": server.url + "/t", "jwks_uri": server.url + "/k"})
    del server.document[missing]
    body = _error(api.admin("POST", PATH, json={
        **PUBLIC, "provider_type": "oidc", "issuer": issuer,
        "discovery_url": server.url + "/custom/discovery"}), 400, "validation_failed")
    assert body["message"] == f"The OIDC discovery document has no {missing}"
    assert _rows(admin_app) == []


def test_discovered_endpoints_follow_the_url_rules(make_app, service_role_token, servers):
    # The endpoints a discovery document names are checked like the URLs an admin gives
    # (the switch is on here, as the document lives on loopback: the URL form still counts).
    app = make_app(**PRIVATE_URLS)
    server = servers(DocumentServer({
        "issuer": "https://idp.example.com", "authorization_endpoint": "not a url",
        "token_endpoint": "https://idp.example.com/t", "jwks_uri": "https://idp.example.com/k"}))
    api = api_for(app, service_role_token)
    body = _error(api.admin("POST", PATH, json={
        **PUBLIC, "provider_type": "oidc", "issuer": "https://idp.example.com",
        "discovery_url": server.url + "/d"}), 400, "validation_failed")
    assert body["message"] == "discovery authorization_endpoint is not a valid URL"


def test_a_duplicate_identifier_is_a_conflict(api, admin_app, acme):
    assert api.admin("POST", PATH, json=oauth2_body(acme)).status_code == 201
    _error(api.admin("POST", PATH, json=oauth2_body(acme, name="Other")), 400, "conflict")
    assert [row.name for row in _rows(admin_app)] == ["Acme"]


def test_the_quota_counts_existing_providers(make_app, service_role_token, acme):
    app = make_app(**PRIVATE_URLS, **{"external.custom_oauth_max_providers": 1})
    api = api_for(app, service_role_token)
    assert api.admin("POST", PATH, json=oauth2_body(acme)).status_code == 201
    _error(api.admin("POST", PATH, json=oauth2_body(acme, identifier="custom:two")), 400,
           "over_custom_provider_quota")
    assert len(_rows(app)) == 1


def test_every_route_is_404_when_the_feature_is_off(make_app, service_role_token, acme):
    app = make_app(**PRIVATE_URLS, **{"external.custom_oauth_enabled": False})
    api = api_for(app, service_role_token)
    for method, path, body in (("GET", PATH, None), ("POST", PATH, oauth2_body(acme)),
                               ("GET", PATH + "/custom:acme", None),
                               ("PUT", PATH + "/custom:acme", {"name": "x"}),
                               ("DELETE", PATH + "/custom:acme", None)):
        _error(api.admin(method, path, json=body), 404, "feature_disabled",
               "Custom OAuth providers are disabled")
    assert _rows(app) == []


def test_only_admins_may_call(api, acme):
    user = api.session()
    answer = api.post(PATH, json=oauth2_body(acme), token=user["access_token"])
    _error(answer, 403, "not_admin")
    assert api.get(PATH).status_code == 401


def test_unknown_and_unprefixed_identifiers(api):
    _error(api.admin("GET", PATH + "/custom:nope"), 404, "custom_provider_not_found")
    _error(api.admin("PUT", PATH + "/custom:nope", json={"name": "x"}), 404,
           "custom_provider_not_found")
    _error(api.admin("DELETE", PATH + "/custom:nope"), 404, "custom_provider_not_found")
    _error(api.admin("GET", PATH + "/nope"), 400, "validation_failed")


def test_put_is_a_partial_update(api, admin_app, acme):
    api.admin("POST", PATH, json=oauth2_body(acme, custom_claims_allowlist=["groups"],
                                             attribute_mapping={"sub": "id"}))
    (before,) = _rows(admin_app)
    answer = api.admin("PUT", PATH + "/custom:acme", json={
        "name": "Acme Corp", "client_id": "", "scopes": [], "pkce_enabled": False,
        "attribute_mapping": {"name": "display_name"}})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["name"] == "Acme Corp"
    assert body["client_id"] == acme.client_id  # empty keeps
    assert body["scopes"] == [] and body["pkce_enabled"] is False
    assert body["attribute_mapping"] == {"name": "display_name"}
    assert body["custom_claims_allowlist"] == ["groups"]  # missing keeps
    (after,) = _rows(admin_app)
    assert after.client_secret == before.client_secret
    assert after.updated_at >= before.updated_at

    assert api.admin("PUT", PATH + "/custom:acme",
                     json={"client_secret": "rotated"}).status_code == 200
    (rotated,) = _rows(admin_app)
    assert secret_box.unseal(JWT_SECRET, rotated.client_secret) == "rotated"
    assert "rotated" not in rotated.client_secret


def test_a_refused_put_changes_nothing(api, admin_app, acme):
    api.admin("POST", PATH, json=oauth2_body(acme))
    for body in ({"name": "New", "authorization_params": {"client_id": "x"}},
                 {"name": "New", "attribute_mapping": {"id": "sub"}},
                 {"name": "New", "provider_type": "oidc"}):
        _error(api.admin("PUT", PATH + "/custom:acme", json=body), 400, "validation_failed")
    (row,) = _rows(admin_app)
    assert row.name == "Acme" and row.authorization_params == {}


def test_put_refetches_discovery_when_the_issuer_changes(api, admin_app, idp, servers):
    api.admin("POST", PATH, json=oidc_body(idp))
    assert len(idp.requests_to(OIDC_ROUTES["discovery"])) == 1
    api.admin("PUT", PATH + "/custom:idp", json={"name": "Renamed"})
    assert len(idp.requests_to(OIDC_ROUTES["discovery"])) == 1
    moved = servers(oidc_fake())
    answer = api.admin("PUT", PATH + "/custom:idp", json={"issuer": moved.url})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["discovery_document"]["issuer"] == moved.url
    assert len(moved.requests_to(OIDC_ROUTES["discovery"])) == 1
    # A new issuer whose document disagrees is refused, and the old one stays.
    moved.issuer = "https://not-it.example"
    _error(api.admin("PUT", PATH + "/custom:idp", json={"issuer": idp.url + "/"}), 400,
           "validation_failed")
    (row,) = _rows(admin_app)
    assert row.issuer == moved.url


def test_delete_removes_the_provider(api, admin_app, acme):
    api.admin("POST", PATH, json=oauth2_body(acme))
    answer = api.admin("DELETE", PATH + "/custom:acme")
    assert answer.status_code == 204 and answer.get_data() == b""
    assert _rows(admin_app) == []
    _error(api.admin("GET", PATH + "/custom:acme"), 404, "custom_provider_not_found")


@pytest.mark.parametrize("raw", [
    b"[]", b"not json", b'{"provider_type": "oauth2", "acceptable_client_ids": [1]}',
    b'{"provider_type": "oidc", "identifier": "custom:x", "issuer": ["https://a"]}',
])
def test_malformed_bodies_are_400s(api, admin_app, raw):
    answer = api.admin("POST", PATH, data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["code"] in ("bad_json", "validation_failed")
    assert _rows(admin_app) == []


def test_fields_of_the_other_provider_type_are_ignored(api, admin_app, acme):
    answer = api.admin("POST", PATH, json=oauth2_body(acme, issuer="https://x.example",
                                                      skip_nonce_check=True))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    (row,) = _rows(admin_app)
    assert (row.issuer, row.skip_nonce_check) == (None, False)
