"""The console's SSO page (/console/sso): what to give an identity provider, the providers with
their users, adding one by metadata XML or by a metadata URL served on a loopback port, the
admin API's refusals shown in the form, editing, disabling, deleting, the audit entries, the
page while SAML is off, and what a viewer may do."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations.audit_log import summaries
from gotrue_web.console.operations.sso_providers import report
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, Identity, SAMLProvider, SSODomain, SSOProvider
from gotrue_web.services.sso import providers, service_provider

from ..factories import make_user
from ..support.fake_saml_idp import FakeSAMLIdP, sp_private_key_setting
from ..support.idp_metadata import idp_metadata_xml
from .conftest import OPERATOR_PASSWORD, console_client, form_error, signed_in

PAGE = "/console/sso"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
IDP = "https://idp.acme.example/saml"


@pytest.fixture(scope="module")
def sp_key() -> str:
    return sp_private_key_setting()


@pytest.fixture
def saml_app(make_app, sp_key):
    return make_app(**{"saml.enabled": True, "saml.private_key": sp_key,
                       "saml.allow_http_metadata_urls": True,
                       "saml.external_url": "https://auth.acme.example"})


@pytest.fixture
def operator(saml_app):
    return signed_in(saml_app)


def add_provider(app, entity_id: str = IDP, **body) -> uuid.UUID:
    """A provider registered through the service the admin API uses."""
    with app.app_context():
        provider = providers.create(app.extensions["gotrue"], {
            "type": "saml", "metadata_xml": idp_metadata_xml(entity_id), **body})
        db.session.commit()
        return provider.id


def provider_rows(app) -> list[SSOProvider]:
    with app.app_context():
        found = list(db.session.execute(sa.select(SSOProvider)).scalars())
        for row in found:
            _ = (row.saml, list(row.domains))
        db.session.expunge_all()
        return found


def sso_entries(app) -> list[dict]:
    with app.app_context():
        entries = db.session.execute(sa.select(AuditLogEntry).order_by(
            AuditLogEntry.created_at)).scalars().all()
        return [entry.payload for entry in entries
                if entry.payload.get("action") == "sso_provider_changed"]


def snapshot(app) -> list:
    with app.app_context():
        return [sorted(map(repr, db.session.execute(sa.select(model.__table__)).all()))
                for model in (SSOProvider, SSODomain, SAMLProvider)]


def add_form(**fields) -> dict:
    return {"metadata_url": "", "metadata_xml": "", "domains": "", "name_id_format": "",
            "attribute_mapping": "", "resource_id": "", **fields}


def edit_form(app, provider_id, **fields) -> dict:
    """The edit form as the page fills it, with ``fields`` changed."""
    with app.app_context():
        row = report.row_of(db.session.get(SSOProvider, provider_id))
    return {"domains": "\n".join(row.domains), "name_id_format": row.name_id_format,
            "attribute_mapping": row.mapping_text, "resource_id": row.resource_id,
            "metadata_url": "", "metadata_xml": "", **fields}


# --- the page -----------------------------------------------------------------------------------


def test_the_page_shows_what_to_give_the_idp_and_the_providers(saml_app, operator):
    provider_id = add_provider(saml_app, domains=["acme.example", "acme.test"],
                               name_id_format=EMAIL_FORMAT, resource_id="acme")
    add_provider(saml_app, "https://other.example/idp")
    for index in range(3):
        make_user(saml_app, f"sso{index}@acme.example", providers=(f"sso:{provider_id}",))
    make_user(saml_app, "plain@acme.example")

    page = operator.get(PAGE)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "https://auth.acme.example/sso/saml/metadata" in body
    assert "https://auth.acme.example/sso/saml/acs" in body
    assert 'data-copy="https://auth.acme.example/sso/saml/acs"' in body
    assert 'aria-current="page">SSO</a>' in body
    row = re.search(rf'<tr id="sso-provider-{provider_id}">(.*?)</tr>', body, re.S).group(1)
    assert IDP in row and "<code>acme.example</code>" in row and "<code>acme.test</code>" in row
    assert "Enabled" in row and "<code>acme</code>" in row and "pasted XML" in row
    assert "Email address" in row and '<td class="num">3</td>' in row
    assert "<time" in row
    assert "https://other.example/idp" in body
    assert 'action="/console/sso"' in body  # the add form (an owner, SAML on)


def test_the_user_count_is_capped(saml_app, monkeypatch):
    provider_id = add_provider(saml_app)
    for index in range(3):
        make_user(saml_app, f"u{index}@acme.example", providers=(f"sso:{provider_id}",))
    monkeypatch.setattr(report, "USER_COUNT_CAP", 2)
    with saml_app.app_context():
        [row] = report.rows()
    assert row.users == 2 and row.users_capped


# --- adding -------------------------------------------------------------------------------------


def test_add_by_metadata_url_from_a_loopback_idp(saml_app, operator, servers):
    rt = saml_app.extensions["gotrue"]
    metadata = saml_app.test_client().get("/sso/saml/metadata").get_data(as_text=True)
    idp = servers(FakeSAMLIdP(metadata,
                              sp_certificate=service_provider.of(rt.settings).certificate))
    mapping = {"keys": {"name": {"names": ["displayName", "cn"]}}}
    response = operator.post(PAGE, add_form(
        metadata_url=idp.url + "/metadata", domains="acme.example, acme.test\nacme.org",
        name_id_format=EMAIL_FORMAT, attribute_mapping=json.dumps(mapping),
        resource_id="acme"))
    assert response.status_code == 303, response.get_data(as_text=True)
    [row] = provider_rows(saml_app)
    assert response.headers["Location"] == f"/console/sso/{row.id}"
    assert idp.received == ["/metadata?"]
    assert row.saml.entity_id == idp.entity_id
    assert row.saml.metadata_url == idp.url + "/metadata"
    assert row.saml.metadata_xml == idp.metadata_xml
    assert row.saml.name_id_format == EMAIL_FORMAT
    assert row.saml.attribute_mapping == mapping
    assert row.resource_id == "acme" and row.disabled is None
    assert sorted(d.domain for d in row.domains) == ["acme.example", "acme.org", "acme.test"]

    [entry] = sso_entries(saml_app)
    assert entry["actor_username"] == "operator@example.com"
    assert entry["log_type"] == "operator"
    assert entry["traits"] == {"sso_provider_id": str(row.id), "entity_id": idp.entity_id,
                               "change": "created", "metadata_source": "url",
                               "domains": ["acme.example", "acme.org", "acme.test"]}
    assert summaries.summary("sso_provider_changed", entry["traits"]) == \
        f"SSO identity provider {idp.entity_id} added"
    page = operator.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Identity provider {idp.entity_id} added." in page
    assert "from <code" in page and idp.url + "/metadata" in page


def test_add_by_pasted_xml_with_htmx(saml_app, operator):
    response = operator.post(PAGE, add_form(metadata_xml=idp_metadata_xml(IDP),
                                            domains="acme.example"), htmx=True)
    assert response.status_code == 204
    [row] = provider_rows(saml_app)
    assert response.headers["HX-Redirect"] == f"/console/sso/{row.id}"
    assert row.saml.metadata_url is None and row.saml.name_id_format is None
    assert sso_entries(saml_app)[0]["traits"]["metadata_source"] == "xml"


@pytest.mark.parametrize("fields, message", [
    ({}, "Either metadata_xml or metadata_url must be set"),
    ({"metadata_url": "https://idp.example/m", "metadata_xml": "<x/>"},
     "Only one of metadata_xml or metadata_url needs to be set"),
    ({"metadata_url": "ftp://idp.example/m"}, "metadata_url is not a HTTPS URL"),
    ({"metadata_xml": "<not xml"}, "SAML Metadata could not be parsed as XML"),
    ({"metadata_xml": '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                      'entityID="x"/>'},
     "SAML Metadata does not contain any IDPSSODescriptor"),
    ({"metadata_xml": idp_metadata_xml(IDP), "attribute_mapping": "{nope"},
     "Attribute mapping is not valid JSON: Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1)"),
    ({"metadata_xml": idp_metadata_xml(IDP), "attribute_mapping": '{"name": {"name": "cn"}}'},
     'Attribute mapping must be a JSON object of the form {"keys": {...}}'),
    ({"metadata_xml": idp_metadata_xml(IDP), "attribute_mapping": '{"keys": {"a": 1}}'},
     "Could not parse request body as JSON: attribute_mapping: keys.a must be an object"),
    ({"metadata_xml": idp_metadata_xml(IDP), "name_id_format": "urn:made:up"},
     "name_id_format must be unspecified or one of " + ", ".join(
         providers.NAME_ID_FORMATS[1:])),
])
def test_refusals_are_the_admin_apis_and_shown_in_the_form(saml_app, operator, fields,
                                                            message):
    response = operator.post(PAGE, add_form(resource_id="kept-as-typed", **fields))
    assert response.status_code == 422
    assert form_error(response) == message.replace('"', "&#34;")
    assert 'value="kept-as-typed"' in response.get_data(as_text=True)
    assert provider_rows(saml_app) == [] and sso_entries(saml_app) == []


def test_taken_entity_id_and_domain_and_an_htmx_refusal(saml_app, operator):
    add_provider(saml_app, domains=["acme.example"])
    again = operator.post(PAGE, add_form(metadata_xml=idp_metadata_xml(IDP)))
    assert again.status_code == 422
    assert form_error(again) == (f"SAML Identity Provider with this EntityID ({IDP}) already "
                                 "exists")
    before = snapshot(saml_app)
    taken = operator.post(PAGE, add_form(metadata_xml=idp_metadata_xml("https://b.example"),
                                         domains="ACME.example"), htmx=True)
    assert taken.status_code == 422
    body = taken.get_data(as_text=True)
    assert body.lstrip().startswith("<section") and 'id="sso-add"' in body  # the fragment
    assert "SSO Domain &#39;ACME.example&#39; is already assigned" in body
    assert "already assigned" in json.loads(taken.headers["HX-Trigger"])["toast"]["message"]
    assert snapshot(saml_app) == before and sso_entries(saml_app) == []


# --- editing, disabling, deleting ---------------------------------------------------------------


def test_edit_changes_what_the_form_gives_and_audits_it(saml_app, operator):
    provider_id = add_provider(saml_app, domains=["acme.example"], name_id_format=PERSISTENT)
    url = f"{PAGE}/{provider_id}"
    page = operator.get(url).get_data(as_text=True)
    assert "<textarea id=\"edit-domains\"" in page and "acme.example</textarea>" in page

    same = operator.post(url, edit_form(saml_app, provider_id))
    assert same.status_code == 303
    assert "Nothing changed." in operator.get(url).get_data(as_text=True)
    assert sso_entries(saml_app) == []

    mapping = {"keys": {"groups": {"name": "memberOf", "array": True}}}
    response = operator.post(url, edit_form(
        saml_app, provider_id, domains="acme.example\nacme.org", name_id_format=EMAIL_FORMAT,
        attribute_mapping=json.dumps(mapping), resource_id="acme-2",
        metadata_xml=idp_metadata_xml(IDP, "https://idp.acme.example/new-sso")))
    assert response.status_code == 303
    [row] = provider_rows(saml_app)
    assert sorted(d.domain for d in row.domains) == ["acme.example", "acme.org"]
    assert row.saml.name_id_format == EMAIL_FORMAT and row.resource_id == "acme-2"
    assert row.saml.attribute_mapping == mapping
    assert "new-sso" in row.saml.metadata_xml
    [entry] = sso_entries(saml_app)
    assert entry["traits"]["changed"] == ["domains", "attribute_mapping", "name_id_format",
                                          "resource_id", "metadata"]
    assert entry["traits"]["domains"] == ["acme.example", "acme.org"]
    assert summaries.summary("sso_provider_changed", entry["traits"]) == (
        f"SSO identity provider {IDP} edited: domains, attribute mapping, NameID format, "
        "resource id, metadata")

    # Emptied mapping and resource id clear them.
    operator.post(url, edit_form(saml_app, provider_id, attribute_mapping="", resource_id=""))
    [row] = provider_rows(saml_app)
    assert row.saml.attribute_mapping == {"keys": {}} and row.resource_id is None


def test_edit_refusals_keep_the_provider(saml_app, operator):
    provider_id = add_provider(saml_app, domains=["acme.example"])
    add_provider(saml_app, "https://b.example", domains=["b.example"])
    url = f"{PAGE}/{provider_id}"
    before = snapshot(saml_app)
    other = operator.post(url, edit_form(saml_app, provider_id,
                                         metadata_xml=idp_metadata_xml("https://evil.example")))
    assert other.status_code == 422
    assert form_error(other) == (
        "SAML Metadata can be updated only if the EntityID matches for the provider; expected "
        f"&#39;{IDP}&#39; but got &#39;https://evil.example&#39;")
    taken = operator.post(url, edit_form(saml_app, provider_id, domains="acme.example\nb.example",
                                         resource_id="typed"), htmx=True)
    assert taken.status_code == 422
    body = taken.get_data(as_text=True)
    assert 'id="sso-edit"' in body and "b.example" in body and 'value="typed"' in body
    assert "already assigned to another provider" in body
    assert snapshot(saml_app) == before and sso_entries(saml_app) == []
    assert operator.post(f"{PAGE}/{uuid.uuid4()}", {}).status_code == 404


def test_disable_and_enable_keep_the_nameid_format(saml_app, operator):
    provider_id = add_provider(saml_app, domains=["acme.example"], name_id_format=EMAIL_FORMAT)
    url = f"{PAGE}/{provider_id}"
    assert operator.post(url + "/disable").status_code == 303
    [row] = provider_rows(saml_app)
    assert row.disabled is True and row.saml.name_id_format == EMAIL_FORMAT
    page = operator.get(url).get_data(as_text=True)
    assert "disabled: its users cannot sign in through it." in page
    assert f'action="{url}/enable"' in page and f'action="{url}/disable"' not in page
    # Sign-in through it is refused as GoTrue refuses it.
    refused = saml_app.test_client().post("/sso", json={"domain": "acme.example"})
    assert refused.status_code == 404
    assert refused.get_json()["error_code"] == "sso_provider_disabled"
    assert operator.post(url + "/disable").status_code == 303  # nothing to do: not audited
    assert operator.post(url + "/enable").status_code == 303
    [row] = provider_rows(saml_app)
    assert not row.disabled and row.saml.name_id_format == EMAIL_FORMAT
    changes = [entry["traits"]["change"] for entry in sso_entries(saml_app)]
    assert changes == ["disabled", "enabled"]
    texts = [summaries.summary("sso_provider_changed", entry["traits"])
             for entry in sso_entries(saml_app)]
    assert texts == [f"SSO identity provider {IDP} disabled",
                     f"SSO identity provider {IDP} enabled again"]


def test_delete_asks_first_and_keeps_users_and_identities(saml_app, operator):
    provider_id = add_provider(saml_app, domains=["acme.example"])
    user_id = make_user(saml_app, "sso@acme.example", providers=(f"sso:{provider_id}",))
    url = f"{PAGE}/{provider_id}"
    confirm = operator.get(url + "/delete")
    body = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert f"Delete the identity provider <span class=\"wrap-anywhere\">{IDP}</span>?" in body
    assert "Its users and their identities stay" in body
    assert f'action="{url}/delete"' in body
    assert provider_rows(saml_app) != []  # the GET changed nothing

    deleted = operator.post(url + "/delete")
    assert deleted.status_code == 303 and deleted.headers["Location"] == PAGE
    assert provider_rows(saml_app) == []
    with saml_app.app_context():
        identities = db.session.execute(sa.select(Identity.provider).where(
            Identity.user_id == user_id)).scalars().all()
    assert identities == [f"sso:{provider_id}"]
    [entry] = sso_entries(saml_app)
    assert entry["traits"] == {"sso_provider_id": str(provider_id), "entity_id": IDP,
                               "change": "deleted", "domains": ["acme.example"]}
    page = operator.get(PAGE).get_data(as_text=True)
    assert "Its users and their identities stay." in page and "No identity providers" in page
    assert operator.get(url).status_code == 404


def test_the_audit_log_filters_and_words_sso_changes(saml_app, operator):
    operator.post(PAGE, add_form(metadata_xml=idp_metadata_xml(IDP)))
    page = operator.get("/console/audit?happened=sso").get_data(as_text=True)
    assert f"SSO identity provider {IDP} added" in page
    assert "SSO identity provider changes" in page


# --- SAML off, and roles ------------------------------------------------------------------------


def test_saml_off_says_how_to_turn_it_on_and_offers_no_forms(make_app, sp_key):
    on = make_app(**{"saml.enabled": True, "saml.private_key": sp_key})
    provider_id = add_provider(on, domains=["acme.example"])
    off = make_app()
    client = signed_in(off)
    body = client.get(PAGE).get_data(as_text=True)
    assert "SAML single sign-on is off" in body and "GOTRUE_SAML_ENABLED=true" in body
    assert IDP in body  # the provider in the database is listed
    assert 'action="/console/sso' not in body
    detail = client.get(f"{PAGE}/{provider_id}").get_data(as_text=True)
    assert IDP in detail and 'action="/console/sso' not in detail
    before = snapshot(off)
    refused = client.post(PAGE, add_form(metadata_xml=idp_metadata_xml("https://n.example")))
    assert refused.status_code == 303
    assert "SAML 2.0 is disabled" in client.get(PAGE).get_data(as_text=True)
    for action in ("", "/disable", "/delete"):
        assert client.post(f"{PAGE}/{provider_id}{action}", {"domains": ""}).status_code == 303
        assert "SAML 2.0 is disabled" in client.get(PAGE).get_data(as_text=True)
    assert snapshot(off) == before and sso_entries(off) == []


def test_a_viewer_sees_no_forms_and_is_refused(saml_app):
    provider_id = add_provider(saml_app, domains=["acme.example"])
    with saml_app.app_context():
        from gotrue_web.console.operations import operators
        operators.create(saml_app.extensions["gotrue"], "viewer@example.com", OPERATOR_PASSWORD,
                         role="viewer")
        db.session.commit()
    viewer = console_client(saml_app)
    assert viewer.login("viewer@example.com", OPERATOR_PASSWORD).status_code == 303
    for path in (PAGE, f"{PAGE}/{provider_id}", f"{PAGE}/{provider_id}/delete"):
        body = viewer.get(path).get_data(as_text=True)
        assert IDP in body and 'action="/console/sso' not in body, path
    before = snapshot(saml_app)
    for path, data in ((PAGE, add_form(metadata_xml=idp_metadata_xml("https://v.example"))),
                       (f"{PAGE}/{provider_id}", {"domains": ""}),
                       (f"{PAGE}/{provider_id}/disable", {}),
                       (f"{PAGE}/{provider_id}/delete", {})):
        response = viewer.post(path, data)
        assert response.status_code == 403, path
        assert "your role is viewer" in response.get_data(as_text=True)
    assert snapshot(saml_app) == before and sso_entries(saml_app) == []
