"""POST /sso/saml/acs refusing what it must (spec oauth-sso.md section 5): unknown, expired
and replayed relay states; forged, unsigned, tampered, misaddressed and untimely responses;
assertions that name nobody or no email; malformed input and XML entities. Each refusal is a
303 to SITE_URL with the error in the query, and signs nobody in."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_TRANSIENT, NameID

from gotrue_web.models import SAMLRelayState, Session, User

from ..factories import fragment, freeze_clock, query
from .conftest import DOMAIN, SITE, rows

ACS_PATH = "/sso/saml/acs"


def refused(answer, code: str, description: str | None = None) -> dict:
    assert answer.status_code == 303, answer.text
    location = answer.headers["Location"]
    assert location.startswith(SITE + "?") and "#" not in location
    values = query(location)
    assert values["error_code"] == code, values
    if description is not None:
        assert values["error_description"] == description
    return values


def _post(browser, site, **form):
    return browser.go("POST", site.url + ACS_PATH, data=form)


def _signed_in_nobody(site):
    assert rows(site.app, User) == [] and rows(site.app, Session) == []


def _started(site, browser) -> tuple[str, dict]:
    """POST /sso, and the form the IdP gave the browser (not yet posted)."""
    from ..support.fake_saml_idp import form_of

    started = browser.go("POST", site.url + "/sso", json={"domain": DOMAIN})
    page = browser.go("GET", started.headers["Location"])
    return form_of(page.text)


def test_unknown_relay_state(site, browser):
    site.create_provider()
    values = refused(_post(browser, site, SAMLResponse=site.idp.response(),
                           RelayState=str(uuid.uuid4())),
                     "saml_relay_state_not_found")
    assert values["error"] == "server_error"
    _signed_in_nobody(site)


def test_expired_relay_state_is_deleted(site, browser):
    site.create_provider()
    clock = freeze_clock(site.app)
    action, fields = _started(site, browser)
    clock.advance(minutes=2)
    refused(browser.go("POST", action, data=fields), "saml_relay_state_expired")
    assert rows(site.app, SAMLRelayState) == []
    _signed_in_nobody(site)


def test_a_response_is_accepted_once(site, browser):
    site.create_provider()
    action, fields = _started(site, browser)
    first = browser.go("POST", action, data=fields)
    assert first.status_code == 302 and "access_token" in fragment(first.headers["Location"])
    refused(browser.go("POST", action, data=fields), "saml_relay_state_not_found")
    assert len(rows(site.app, Session)) == 1


def test_a_refused_response_still_uses_up_its_relay_state(site, browser):
    site.create_provider()
    action, fields = _started(site, browser)
    request_id = site.idp.requests[0].request_id
    forged = site.idp.response(in_response_to=request_id, other_key=True)
    refused(browser.go("POST", action, data={**fields, "SAMLResponse": forged}),
            "validation_failed", "SAML Assertion is not valid")
    refused(browser.go("POST", action, data=fields), "saml_relay_state_not_found")
    _signed_in_nobody(site)


def _tamper_name_id(document: str) -> str:
    return document.replace("alice-persistent-1", "mallory-persistent-9")


@pytest.mark.parametrize("knobs", [
    {"other_key": True},
    {"tamper": _tamper_name_id},
    {"sign_response": False, "sign_assertion": False},
    {"audience": "https://someone-else.example/sso/saml/metadata"},
    {"destination": "https://someone-else.example/sso/saml/acs"},
    {"acs_url": "https://someone-else.example/sso/saml/acs"},
    {"in_response_to": "id-" + "0" * 40},
], ids=["another-key", "tampered", "unsigned", "audience", "destination", "recipient",
        "unsolicited-with-in-response-to"])
def test_forged_or_misaddressed_idp_initiated_responses(site, browser, knobs):
    site.create_provider()
    refused(_post(browser, site, SAMLResponse=site.idp.response(**knobs)),
            "validation_failed", "SAML Assertion is not valid")
    _signed_in_nobody(site)


def test_sp_initiated_response_to_another_request(site, browser):
    site.create_provider()
    action, fields = _started(site, browser)
    other = site.idp.response(in_response_to="id-" + "1" * 40)
    refused(browser.go("POST", action, data={**fields, "SAMLResponse": other}),
            "validation_failed")
    _signed_in_nobody(site)


@pytest.mark.parametrize("shift", [timedelta(minutes=5), timedelta(minutes=-5)],
                         ids=["too-old", "from-the-future"])
def test_responses_outside_the_time_window(site, browser, shift):
    site.create_provider()
    encoded = site.idp.response()
    freeze_clock(site.app).advance(seconds=shift.total_seconds())
    refused(_post(browser, site, SAMLResponse=encoded), "validation_failed")
    _signed_in_nobody(site)


def test_an_unknown_issuer(site, browser):
    site.create_provider()
    refused(_post(browser, site, SAMLResponse=site.idp.response(issuer="https://nobody/idp")),
            "saml_idp_not_found")


def test_a_transient_name_id_identifies_nobody(site, browser):
    site.create_provider()
    site.idp.name_id = NameID(format=NAMEID_FORMAT_TRANSIENT, text="one-time-7")
    refused(_post(browser, site, SAMLResponse=site.idp.response()),
            "saml_assertion_no_user_id")
    _signed_in_nobody(site)


def test_an_assertion_without_an_email(site, browser):
    site.create_provider()
    site.idp.identity = {"givenName": ["Alice"]}
    refused(_post(browser, site, SAMLResponse=site.idp.response()), "saml_assertion_no_email",
            "SAML Assertion does not contain an email address")
    _signed_in_nobody(site)


def test_an_email_name_id_is_user_id_and_email(site, browser):
    site.create_provider()
    site.idp.identity = {"givenName": ["Alice"]}
    site.idp.name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=" Bob@Example.COM ")
    answer = _post(browser, site, SAMLResponse=site.idp.response())
    assert answer.status_code == 302, answer.headers["Location"]
    [user] = rows(site.app, User)
    assert user.email == "bob@example.com"


@pytest.mark.parametrize("form, code, description", [
    ({"RelayState": "not a url"}, "validation_failed",
     "SAML RelayState is not a valid UUID or URL"),
    ({"SAMLart": "AAQAA"}, "validation_failed",
     "SAML Artifact response can only be used with SP initiated flow"),
    ({}, "validation_failed", "SAMLResponse is missing"),
    ({"SAMLResponse": "@@@"}, "validation_failed", None),
    ({"SAMLResponse": base64.b64encode(b"<not xml").decode()}, "validation_failed",
     "SAMLResponse is not a valid XML SAML assertion"),
    ({"SAMLResponse": base64.b64encode(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;'
        b'</samlp:Response>').decode()}, "validation_failed",
     "SAMLResponse is not a valid XML SAML assertion"),
])
def test_malformed_posts(site, browser, form, code, description):
    site.create_provider()
    values = refused(_post(browser, site, **form), code, description)
    assert values["error"] == "invalid_request"
    _signed_in_nobody(site)


def test_encrypted_assertions_only_when_allowed(make_saml_site, browser):
    closed = make_saml_site()
    closed.create_provider()
    encrypted = closed.idp.response(encrypt_with=closed.sp_certificate(), sign_response=True)
    refused(_post(browser, closed, SAMLResponse=encrypted), "validation_failed")
    _signed_in_nobody(closed)

    open_site = make_saml_site(**{"saml.allow_encrypted_assertions": True})
    open_site.create_provider(domains=[])
    encrypted = open_site.idp.response(encrypt_with=open_site.sp_certificate(),
                                       sign_response=True)
    assert "EncryptedAssertion" in base64.b64decode(encrypted).decode()
    answer = _post(browser, open_site, SAMLResponse=encrypted)
    assert answer.status_code == 302, answer.headers["Location"]
    assert "access_token" in fragment(answer.headers["Location"])
