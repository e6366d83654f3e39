"""GET /sso/saml/metadata (spec oauth-sso.md section 5): the service provider's document and
its headers, with a download, a key being rotated in, and encrypted assertions allowed."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.x509.oid import NameOID

from gotrue_web.security import saml_keys

from ..conftest import api_for
from ..support.fake_saml_idp import sp_private_key_setting
from .conftest import saml_overrides

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _document(answer) -> ET.Element:
    assert answer.status_code == 200
    return ET.fromstring(answer.get_data())


def _valid_until(root: ET.Element) -> datetime:
    return datetime.fromisoformat(root.get("validUntil").replace("Z", "+00:00"))


def _certificates(descriptor: ET.Element, use: str) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(element.text))
            for key in descriptor.findall(f"{MD}KeyDescriptor") if key.get("use") == use
            for element in key.iter(f"{DS}X509Certificate")]


def test_the_document_and_its_headers(make_app, saml_private_key, service_role_token):
    app = make_app(**saml_overrides(saml_private_key))
    api = api_for(app, service_role_token)
    answer = api.get("/sso/saml/metadata")
    assert answer.headers["Content-Type"] == "application/xml"
    assert answer.headers["Cache-Control"] == "public, max-age=600"
    assert "Content-Disposition" not in answer.headers
    root = _document(answer)
    assert root.tag == f"{MD}EntityDescriptor"
    assert root.get("entityID") == "http://localhost:9999/sso/saml/metadata"
    assert root.get("cacheDuration") is None
    now = datetime.now(timezone.utc)
    assert abs(_valid_until(root) - (now + timedelta(hours=48))) < timedelta(minutes=1)
    [descriptor] = root.findall(f"{MD}SPSSODescriptor")
    assert descriptor.get("WantAssertionsSigned") == "true"
    assert descriptor.get("AuthnRequestsSigned") is None
    assert descriptor.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    [certificate] = _certificates(descriptor, "signing")
    assert _certificates(descriptor, "encryption") == []
    key = saml_keys.load_private_key(saml_private_key)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "SAML 2.0 Certificate for localhost"
    assert [element.text for element in descriptor.findall(f"{MD}NameIDFormat")] == [
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"]
    services = [(s.get("Binding"), s.get("Location"), s.get("index"))
                for s in descriptor.findall(f"{MD}AssertionConsumerService")]
    assert services == [
        ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
         "http://localhost:9999/sso/saml/acs", "1"),
        ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
         "http://localhost:9999/sso/saml/acs", "2")]
    # The same certificate from another app with the key (every worker publishes one).
    again = _document(api_for(make_app(**saml_overrides(saml_private_key)),
                              service_role_token).get("/auth/v1/sso/saml/metadata"))
    assert _certificates(again.find(f"{MD}SPSSODescriptor"), "signing") == [certificate]


def test_download(make_app, saml_private_key, service_role_token):
    api = api_for(make_app(**saml_overrides(saml_private_key)), service_role_token)
    answer = api.get("/sso/saml/metadata?download=true")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="metadata.xml"'
    root = _document(answer)
    expected = datetime.now(timezone.utc) + timedelta(days=5 * 365)
    assert abs(_valid_until(root) - expected) < timedelta(minutes=1)


def test_a_next_key_and_encryption(make_app, saml_private_key, service_role_token):
    next_key = sp_private_key_setting()
    app = make_app(**saml_overrides(saml_private_key, **{
        "saml.private_key_next": next_key, "saml.allow_encrypted_assertions": True,
        "saml.external_url": "https://auth.example.com/auth/v1"}))
    api = api_for(app, service_role_token)
    answer = api.get("/sso/saml/metadata")
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    root = _document(answer)
    assert root.get("cacheDuration") == "PT1H"
    assert root.get("entityID") == "https://auth.example.com/auth/v1/sso/saml/metadata"
    descriptor = root.find(f"{MD}SPSSODescriptor")
    signing = _certificates(descriptor, "signing")
    assert len(signing) == 2 and _certificates(descriptor, "encryption") == signing
    assert signing[1].public_key().public_numbers() == \
        saml_keys.load_private_key(next_key).public_key().public_numbers()
    methods = [m.get("Algorithm") for m in descriptor.iter(f"{MD}EncryptionMethod")]
    assert "http://www.w3.org/2001/04/xmlenc#aes256-cbc" in methods
    settings = api.get("/settings").get_json()
    assert settings["saml_enabled"] is True
    assert settings["saml_private_key_next_configured"] is True
