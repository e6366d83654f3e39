"""The attribute mapping (spec oauth-sso.md section 5): attributes matched by Name or
FriendlyName in any case; ``name`` then ``names``, the first with a value winning; ``array``;
``default``; claims in identity_data and user_metadata, the rest in custom_claims."""

from __future__ import annotations

from gotrue_web.models import Identity, User

from .conftest import rows

ACS_PATH = "/sso/saml/acs"
IDENTITY = {"mail": ["Alice@Example.com"], "givenName": ["Alice"], "displayName": ["Alice A."],
            "groups": ["admins", "staff"], "memberOf": ["", "cn=ops"],
            "workEmail": ["alice.work@example.org"]}


def _signed_in(site, browser, mapping: dict) -> Identity:
    site.create_provider(attribute_mapping=mapping)
    site.idp.identity = IDENTITY
    answer = browser.go("POST", site.url + ACS_PATH, data={"SAMLResponse": site.idp.response()})
    assert answer.status_code == 302, answer.headers["Location"]
    [identity] = rows(site.app, Identity)
    return identity


def test_names_array_and_default(site, browser):
    identity = _signed_in(site, browser, {"keys": {
        "name": {"name": "DISPLAYNAME"},                                 # a FriendlyName
        "given_name": {"name": "urn:oid:2.5.4.42"},                      # a Name
        "groups": {"names": ["absent", "memberOf", "groups"], "array": True},
        "teams": {"name": "groups", "array": True},
        "role": {"name": "absent", "default": "member"},
        "level": {"names": ["absent"], "default": 3},
        "nothing": {"name": "absent"},
    }})
    data = identity.identity_data
    assert data["name"] == "Alice A."
    assert data["given_name"] == "Alice"
    assert data["custom_claims"] == {"groups": ["cn=ops"], "teams": ["admins", "staff"],
                                     "role": "member", "level": 3}
    assert data["email"] == "alice@example.com" and data["email_verified"] is True
    [user] = rows(site.app, User)
    assert user.user_metadata["name"] == "Alice A."
    assert user.user_metadata["custom_claims"]["role"] == "member"


def test_a_mapped_email_wins(site, browser):
    identity = _signed_in(site, browser, {"keys": {"email": {"name": "workEmail"}}})
    assert identity.identity_data["email"] == "alice.work@example.org"
    assert "custom_claims" not in identity.identity_data
    [user] = rows(site.app, User)
    assert user.email == "alice.work@example.org"


def test_without_a_mapping_only_the_identity_claims(site, browser):
    identity = _signed_in(site, browser, {})
    assert set(identity.identity_data) == {"iss", "sub", "email", "provider_id",
                                           "email_verified", "phone_verified"}


def test_a_subject_id_attribute_is_the_user_id(site, browser):
    site.create_provider()
    site.idp.identity = {**IDENTITY,
                         "urn:oasis:names:tc:SAML:attribute:subject-id": ["alice@corp"]}
    answer = browser.go("POST", site.url + ACS_PATH, data={"SAMLResponse": site.idp.response()})
    assert answer.status_code == 302
    [identity] = rows(site.app, Identity)
    assert identity.provider_id == "alice@corp"
