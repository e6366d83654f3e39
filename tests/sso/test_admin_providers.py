"""/admin/sso/providers (spec oauth-sso.md section 5): create, list, get (by id or
``resource_<id>``), update and delete, every refusal with GoTrue's status and code, metadata
fetched from the identity provider's URL (and refused cleanly when that fails), and the 404
every SAML route answers while SAML is off."""

from __future__ import annotations

import uuid

import pytest

from gotrue_web.models import SAMLProvider, SAMLRelayState, SSODomain, SSOProvider

from ..conftest import api_for
from .conftest import DOMAIN, rows

PATH = "/admin/sso/providers"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def _error(answer, status: int, code: str, message: str | None = None) -> dict:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["code"] == code, body
    if message is not None:
        assert body["message"] == message
    return body


def test_create_from_metadata_url_then_get_list_and_delete(site):
    created = site.create_provider(resource_id="Acme-1", name_id_format=EMAIL_FORMAT,
                                   attribute_mapping={"keys": {"name": {"name": "givenName"}}})
    assert list(created) == ["id", "resource_id", "disabled", "saml", "domains", "created_at",
                             "updated_at"]
    assert created["resource_id"] == "Acme-1"
    assert created["disabled"] is None
    assert created["domains"] == [{"domain": DOMAIN}]
    saml = created["saml"]
    assert saml["entity_id"] == site.idp.entity_id
    assert saml["metadata_url"] == site.idp.url + "/metadata"
    assert saml["metadata_xml"] == site.idp.metadata_xml
    assert saml["attribute_mapping"] == {"keys": {"name": {"name": "givenName"}}}
    assert saml["name_id_format"] == EMAIL_FORMAT
    # The metadata was asked for as GoTrue asks.
    assert site.idp.received == ["/metadata?"]

    by_id = site.api.admin("GET", f"{PATH}/{created['id']}")
    assert by_id.status_code == 200 and by_id.get_json() == created
    by_resource = site.api.admin("GET", f"{PATH}/resource_acme-1")
    assert by_resource.status_code == 200 and by_resource.get_json()["id"] == created["id"]

    listed = site.api.admin("GET", PATH)
    assert listed.status_code == 200
    [item] = listed.get_json()["items"]
    assert "metadata_xml" not in item["saml"]
    assert item["id"] == created["id"]

    deleted = site.api.admin("DELETE", f"{PATH}/{created['id']}")
    assert deleted.status_code == 200 and deleted.get_json() == created
    assert rows(site.app, SSOProvider) == rows(site.app, SSODomain) == []
    assert rows(site.app, SAMLProvider) == []
    _error(site.api.admin("GET", f"{PATH}/{created['id']}"), 404, "sso_provider_not_found",
           "SSO Identity Provider not found")


def test_create_from_metadata_xml_and_list_filters(site):
    first = site.create_provider(metadata_url=None, metadata_xml=site.idp.metadata_xml,
                                 resource_id="team-a")
    assert "metadata_url" not in first["saml"]
    assert site.idp.received == []
    assert first["saml"]["attribute_mapping"] == {}
    listed = site.api.admin("GET", PATH + "?resource_id=team-a").get_json()["items"]
    assert [item["id"] for item in listed] == [first["id"]]
    assert site.api.admin("GET", PATH + "?resource_id=team").get_json()["items"] == []
    prefixed = site.api.admin("GET", PATH + "?resource_id_prefix=team-").get_json()["items"]
    assert [item["id"] for item in prefixed] == [first["id"]]
    # LIKE wildcards in a prefix are literal.
    assert site.api.admin("GET", PATH + "?resource_id_prefix=te%25").get_json()["items"] == []


@pytest.mark.parametrize("body, message", [
    ({"type": "oidc"}, "Only 'saml' supported for SSO type"),
    ({"metadata_xml": "<x/>"}, "Only one of metadata_xml or metadata_url needs to be set"),
    ({"metadata_url": None}, "Either metadata_xml or metadata_url must be set"),
    ({"metadata_url": "not a url"}, "metadata_url is not a valid URL"),
    ({"name_id_format": "urn:example:other"}, None),
    ({"domains": [""]}, "domains must not contain an empty domain"),
])
def test_create_validation(site, body, message):
    answer = site.api.admin("POST", PATH, json={"type": "saml",
                                                "metadata_url": site.idp.url + "/metadata",
                                                **body})
    error = _error(answer, 400, "validation_failed", message)
    if message is None:
        assert error["message"].startswith("name_id_format must be unspecified or one of")
    assert rows(site.app, SSOProvider) == []


def test_metadata_url_must_be_https_without_the_test_switch(make_app, saml_private_key,
                                                             service_role_token):
    from .conftest import saml_overrides

    app = make_app(**saml_overrides(saml_private_key,
                                    **{"saml.allow_http_metadata_urls": False}))
    api = api_for(app, service_role_token)
    _error(api.admin("POST", PATH, json={"type": "saml",
                                         "metadata_url": "http://idp.example.com/md"}),
           400, "validation_failed", "metadata_url is not a HTTPS URL")


@pytest.mark.parametrize("mode, status, code", [
    ("error", 400, "saml_metadata_fetch_failed"),
    ("slow", 400, "saml_metadata_fetch_failed"),
    ("garbage", 500, "unexpected_failure"),
])
def test_metadata_url_failures_are_refused_cleanly(make_saml_site, mode, status, code):
    site = make_saml_site(**{"external.http_timeout": __import__("datetime").timedelta(
        seconds=1)})
    site.idp.metadata_mode, site.idp.delay = mode, 3
    answer = site.api.admin("POST", PATH, json={"type": "saml",
                                                "metadata_url": site.idp.url + "/metadata"})
    body = _error(answer, status, code)
    if mode == "error":
        assert body["message"] == (f"HTTP 500 error fetching SAML Metadata from URL "
                                   f"'{site.idp.url}/metadata'")
    assert rows(site.app, SSOProvider) == []


@pytest.mark.parametrize("document, message", [
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>',
     "SAML Metadata does not contain an EntityID"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
     "SAML Metadata does not contain any IDPSSODescriptor"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
     '<md:IDPSSODescriptor protocolSupportEnumeration="p"/>'
     '<md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor>',
     "SAML Metadata contains multiple IDPSSODescriptors"),
])
def test_metadata_xml_checks(site, document, message):
    _error(site.api.admin("POST", PATH, json={"type": "saml", "metadata_xml": document}),
           400, "validation_failed", message)


def test_metadata_that_is_not_xml_or_declares_entities_is_refused(site):
    for document in ("not xml at all",
                     '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                     '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                     'entityID="&e;"/>'):
        _error(site.api.admin("POST", PATH, json={"type": "saml", "metadata_xml": document}),
               500, "unexpected_failure")
    assert rows(site.app, SSOProvider) == []


def test_same_entity_or_domain_twice(site):
    site.create_provider()
    _error(site.api.admin("POST", PATH, json={"type": "saml",
                                              "metadata_xml": site.idp.metadata_xml}),
           422, "saml_idp_already_exists")
    other = site.idp.metadata_xml.replace(site.idp.entity_id, site.idp.entity_id + "/2")
    body = _error(site.api.admin("POST", PATH, json={"type": "saml", "metadata_xml": other,
                                                     "domains": ["EXAMPLE.com"]}),
                  400, "sso_domain_already_exists")
    assert body["message"].startswith("SSO Domain 'EXAMPLE.com' is already assigned")
    assert len(rows(site.app, SSOProvider)) == 1


def test_update_replaces_domains_mapping_and_clears_name_id_format(site):
    created = site.create_provider(name_id_format=PERSISTENT, resource_id="r1")
    path = f"{PATH}/{created['id']}"
    updated = site.api.admin("PUT", path, json={
        "domains": ["a.example", "b.example"], "disabled": True,
        "attribute_mapping": {"keys": {"groups": {"names": ["memberOf"], "array": True}}}})
    assert updated.status_code == 200, updated.get_json()
    body = updated.get_json()
    assert sorted(d["domain"] for d in body["domains"]) == ["a.example", "b.example"]
    assert body["disabled"] is True
    assert body["saml"]["attribute_mapping"] == {
        "keys": {"groups": {"names": ["memberOf"], "array": True}}}
    # Omitted, name_id_format is cleared (GoTrue does so); resource_id stays.
    assert "name_id_format" not in body["saml"]
    assert body["resource_id"] == "r1"
    assert body["updated_at"] >= created["updated_at"]
    cleared = site.api.admin("PUT", path, json={"resource_id": "", "domains": []}).get_json()
    assert "resource_id" not in cleared and cleared["domains"] == []
    # The same metadata again keeps the EntityID; another EntityID is refused.
    same = site.api.admin("PUT", path, json={"metadata_xml": site.idp.metadata_xml})
    assert same.status_code == 200
    other = site.idp.metadata_xml.replace(site.idp.entity_id, "https://elsewhere/idp")
    _error(site.api.admin("PUT", path, json={"metadata_xml": other}), 400,
           "saml_entity_id_mismatch")


def test_update_conflicts(site):
    first = site.create_provider(resource_id="one")
    other = site.idp.metadata_xml.replace(site.idp.entity_id, site.idp.entity_id + "/2")
    second = site.api.admin("POST", PATH, json={"type": "saml", "metadata_xml": other,
                                                "domains": ["two.example"],
                                                "resource_id": "two"}).get_json()
    _error(site.api.admin("PUT", f"{PATH}/{second['id']}", json={"domains": [DOMAIN]}),
           400, "sso_domain_already_exists")
    _error(site.api.admin("PUT", f"{PATH}/{second['id']}", json={"resource_id": "ONE"}),
           422, "conflict")
    assert site.api.admin("GET", f"{PATH}/resource_two").get_json()["id"] == second["id"]
    assert site.api.admin("GET", f"{PATH}/resource_one").get_json()["id"] == first["id"]


def test_unknown_ids_and_bad_bodies(site):
    for idp_id in (str(uuid.uuid4()), "not-a-uuid", "resource_missing"):
        _error(site.api.admin("GET", f"{PATH}/{idp_id}"), 404, "sso_provider_not_found")
        _error(site.api.admin("PUT", f"{PATH}/{idp_id}", json={}), 404,
               "sso_provider_not_found")
        _error(site.api.admin("DELETE", f"{PATH}/{idp_id}"), 404, "sso_provider_not_found")
    _error(site.api.admin("POST", PATH, data="nope"), 400, "bad_json")
    _error(site.api.admin("POST", PATH, json={"type": "saml", "domains": "example.com",
                                              "metadata_xml": site.idp.metadata_xml}),
           400, "bad_json")
    _error(site.api.admin("POST", PATH, json={
        "type": "saml", "metadata_xml": site.idp.metadata_xml,
        "attribute_mapping": {"keys": {"a": {"array": "yes"}}}}), 400, "bad_json")


def test_deleting_a_provider_removes_its_relay_states_and_keeps_its_users(site, browser):
    from gotrue_web.models import Identity, User

    created = site.create_provider()
    browser.follow(browser.go("POST", site.url + "/sso", json={"domain": DOMAIN}))
    browser.go("POST", site.url + "/sso", json={"domain": DOMAIN})
    assert len(rows(site.app, SAMLRelayState)) == 1
    assert site.api.admin("DELETE", f"{PATH}/{created['id']}").status_code == 200
    assert rows(site.app, SAMLRelayState) == []
    assert len(rows(site.app, User)) == 1
    assert [i.provider for i in rows(site.app, Identity)] == [f"sso:{created['id']}"]


def test_admin_routes_need_an_admin(site):
    assert site.api.get(PATH).status_code == 401
    user = site.api.session()
    _error(site.api.request("GET", PATH, token=user["access_token"]), 403, "not_admin")


def test_every_sso_route_is_404_while_saml_is_off(app, service_role_token):
    api = api_for(app, service_role_token)
    answers = [api.admin("GET", PATH), api.admin("POST", PATH, json={}),
               api.admin("GET", f"{PATH}/x"), api.admin("PUT", f"{PATH}/x", json={}),
               api.admin("DELETE", f"{PATH}/x"), api.post("/sso", json={"domain": DOMAIN}),
               api.get("/sso/saml/metadata"), api.post("/sso/saml/acs", data={})]
    for answer in answers:
        _error(answer, 404, "saml_provider_disabled", "SAML 2.0 is disabled")
    # The admin check still comes first.
    assert api.get(PATH).status_code == 401


def test_answers_match_the_openapi_document(site):
    from ..openapi.conformance import assert_conforms

    created = site.api.admin("POST", PATH, json={"type": "saml", "domains": [DOMAIN],
                                                 "metadata_xml": site.idp.metadata_xml,
                                                 "resource_id": "doc"})
    path = f"{PATH}/{created.get_json()['id']}"
    answers = [(created, PATH, "POST"), (site.api.admin("GET", PATH), PATH, "GET"),
               (site.api.admin("GET", path), path, "GET"),
               (site.api.admin("PUT", path, json={"disabled": False}), path, "PUT"),
               (site.api.post("/sso", json={"domain": DOMAIN, "skip_http_redirect": True}),
                "/sso", "POST"),
               (site.api.post("/sso", json={"domain": DOMAIN}), "/sso", "POST"),
               (site.api.post("/sso", json={}), "/sso", "POST"),
               (site.api.post("/sso/saml/acs", data={"RelayState": "?"}), "/sso/saml/acs",
                "POST"),
               (site.api.admin("DELETE", path), path, "DELETE"),
               (site.api.admin("GET", path), path, "GET")]
    for answer, answered_path, method in answers:
        assert_conforms(answer, answered_path, method)
