"""SAML sign-in end to end over HTTP, as a browser does it: POST /sso, the identity provider
(pysaml2) signing the user in, its form posted to our ACS, and the session or code it leads to;
IdP-initiated sign-in; the AuthnRequest checked bit by bit; accounts and sessions."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from saml2.s_utils import decode_base64_and_inflate

from gotrue_web.models import AuditLogEntry, FlowState, Identity, SAMLRelayState, Session, User

from ..factories import claims, fragment, freeze_clock, query
from .conftest import DOMAIN, SITE, certificate_of_metadata, rows

ACS_PATH = "/sso/saml/acs"


def _user(site, token: str) -> User:
    [user] = rows(site.app, User, id=uuid.UUID(claims(token)["sub"]))
    return user


def test_sp_initiated_sign_in_by_domain(site, browser):
    provider = site.create_provider()
    started = browser.go("POST", site.url + "/sso", json={"domain": "EXAMPLE.com"})
    assert started.status_code == 303
    assert started.headers["Location"].startswith(site.idp.url + "/sso/redirect?SAMLRequest=")
    [relay] = rows(site.app, SAMLRelayState)
    assert relay.flow_state_id is None and relay.redirect_to is None
    finished = browser.follow(started)
    assert finished.status_code == 302
    assert finished.headers["Referrer-Policy"] == "no-referrer"
    sent = site.idp.requests[0]
    assert sent.signature_valid
    assert sent.request_id == relay.request_id
    assert sent.relay_state == str(relay.id)
    landing = finished.headers["Location"]
    assert landing.startswith(SITE + "#")
    values = fragment(landing)
    assert sorted(values) == ["access_token", "expires_at", "expires_in", "refresh_token", "sb",
                              "token_type"]
    assert values["token_type"] == "bearer" and values["sb"] == ""
    token = claims(values["access_token"])
    assert token["amr"] == [{"method": "sso/saml", "timestamp": token["amr"][0]["timestamp"],
                             "provider": provider["id"]}]
    assert token["email"] == "alice@example.com"
    user = _user(site, values["access_token"])
    assert user.is_sso_user and user.email == "alice@example.com"
    assert user.email_confirmed_at is not None
    assert user.app_metadata["provider"] == f"sso:{provider['id']}"
    [identity] = rows(site.app, Identity, user_id=user.id)
    assert identity.provider == f"sso:{provider['id']}"
    assert identity.provider_id == "alice-persistent-1"
    assert identity.identity_data == {
        "iss": site.idp.entity_id, "sub": "alice-persistent-1", "email": "alice@example.com",
        "provider_id": "alice-persistent-1", "email_verified": True, "phone_verified": False}
    assert rows(site.app, SAMLRelayState) == []
    [session] = rows(site.app, Session, user_id=user.id)
    assert session.not_after is None
    # The session refreshes like any other.
    refreshed = site.api.refresh(values["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    actions = [row.payload["action"] for row in rows(site.app, AuditLogEntry)]
    assert "user_signedup" in actions and "login" in actions


def test_the_authn_request_is_signed_and_says_what_gotrue_says(site, browser):
    site.create_provider(name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:"
                                        "emailAddress")
    location = browser.go("POST", site.url + "/sso",
                          json={"domain": DOMAIN}).headers["Location"]
    raw_query = location.split("?", 1)[1]
    assert [part.split("=")[0] for part in raw_query.split("&")] == [
        "SAMLRequest", "RelayState", "SigAlg", "Signature"]
    parts = dict(part.split("=", 1) for part in raw_query.split("&"))
    assert unquote(parts["SigAlg"]) == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    # Verified with the certificate our metadata publishes.
    metadata = site.api.get("/sso/saml/metadata").get_data(as_text=True)
    signed = f"SAMLRequest={parts['SAMLRequest']}&RelayState={parts['RelayState']}" \
             f"&SigAlg={parts['SigAlg']}".encode()
    certificate_of_metadata(metadata).public_key().verify(
        base64.b64decode(unquote(parts["Signature"])), signed, padding.PKCS1v15(),
        hashes.SHA1())
    xml = decode_base64_and_inflate(unquote(parts["SAMLRequest"])).decode()
    assert re.search(r' ID="id-[0-9a-f]{40}"', xml)
    assert 'Version="2.0"' in xml and "IssueInstant=" in xml
    assert f'Destination="{site.idp.url}/sso/redirect"' in xml
    assert 'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"' in xml
    assert f'AssertionConsumerServiceURL="{site.url}{ACS_PATH}"' in xml
    assert re.search(r'<\w+:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">'
                     + re.escape(f"{site.url}/sso/saml/metadata") + "<", xml)
    assert re.search(r'NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:'
                     r'emailAddress" AllowCreate="true"', xml)
    assert unquote(parts["RelayState"]) == str(rows(site.app, SAMLRelayState)[0].id)


def test_by_provider_id_with_skip_http_redirect_and_an_allowed_redirect_to(make_saml_site,
                                                                             browser):
    site = make_saml_site(uri_allow_list=("http://localhost:3000/**",))
    provider = site.create_provider(domains=[])
    answer = browser.go("POST", site.url + "/sso", json={
        "provider_id": provider["id"], "skip_http_redirect": True,
        "redirect_to": "http://localhost:3000/welcome?x=1"})
    assert answer.status_code == 200
    url = answer.json()["url"]
    assert url.startswith(site.idp.url + "/sso/redirect?")
    finished = browser.follow(browser.go("GET", url))
    assert finished.headers["Location"].startswith("http://localhost:3000/welcome?x=1#")
    assert "access_token" in fragment(finished.headers["Location"])


def test_a_redirect_to_off_the_allow_list_lands_on_the_site_url(site, browser):
    site.create_provider()
    started = browser.go("POST", site.url + "/sso", json={
        "domain": DOMAIN, "redirect_to": "https://evil.example/steal"})
    # Kept as given until the ACS, which checks it.
    assert rows(site.app, SAMLRelayState)[0].redirect_to == "https://evil.example/steal"
    landing = browser.follow(started).headers["Location"]
    assert landing.startswith(SITE + "#")


def test_pkce_gives_a_code_the_token_endpoint_exchanges(site, browser):
    site.create_provider()
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .decode().rstrip("=")
    started = browser.go("POST", site.url + "/sso", json={
        "domain": DOMAIN, "code_challenge": challenge, "code_challenge_method": "s256"})
    [flow] = rows(site.app, FlowState)
    assert (flow.provider_type, flow.authentication_method) == ("sso/saml", "sso/saml")
    assert rows(site.app, SAMLRelayState)[0].flow_state_id == flow.id
    landing = browser.follow(started).headers["Location"]
    assert landing.startswith(SITE + "?code=")
    code = query(landing)["code"]
    assert code == flow.auth_code
    [flow] = rows(site.app, FlowState)
    assert flow.user_id is not None and flow.auth_code_issued_at is None
    exchanged = site.api.post("/token?grant_type=pkce",
                              json={"auth_code": code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_json()
    body = exchanged.get_json()
    assert claims(body["access_token"])["amr"][0]["method"] == "sso/saml"
    assert body["user"]["email"] == "alice@example.com"
    assert rows(site.app, FlowState) == []
    # A code is good once.
    again = site.api.post("/token?grant_type=pkce",
                          json={"auth_code": code, "code_verifier": verifier})
    assert again.status_code == 404


@pytest.mark.parametrize("relay_state, landing", [
    ("", SITE + "#"),
    ("http://localhost:3000/after", "http://localhost:3000/after#"),
    ("https://evil.example/", SITE + "#"),
])
def test_idp_initiated_sign_in(site, browser, relay_state, landing):
    site.create_provider()
    answer = browser.go("POST", site.url + ACS_PATH, data={
        "SAMLResponse": site.idp.response(), "RelayState": relay_state})
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(landing)
    user = _user(site, fragment(answer.headers["Location"])["access_token"])
    assert user.is_sso_user


def test_session_not_on_or_after_ends_the_session(site, browser):
    site.create_provider()
    end = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=30)
    site.idp.session_not_on_or_after = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    landing = browser.follow(browser.go("POST", site.url + "/sso", json={"domain": DOMAIN}))
    values = fragment(landing.headers["Location"])
    [session] = rows(site.app, Session)
    assert session.not_after == end
    freeze_clock(site.app, end + timedelta(seconds=1))
    expired = site.api.refresh(values["refresh_token"])
    assert expired.status_code == 400
    assert expired.get_json()["code"] == "session_expired"


def test_signing_in_again_finds_the_same_user(site, browser):
    site.create_provider()
    first = browser.follow(browser.go("POST", site.url + "/sso", json={"domain": DOMAIN}))
    site.idp.identity = {"mail": ["alice@example.com"], "givenName": ["Alicia"]}
    second = browser.follow(browser.go("POST", site.url + "/sso", json={"domain": DOMAIN}))
    tokens = [fragment(r.headers["Location"])["access_token"] for r in (first, second)]
    assert claims(tokens[0])["sub"] == claims(tokens[1])["sub"]
    assert len(rows(site.app, User)) == 1 and len(rows(site.app, Session)) == 2


def test_an_sso_user_may_share_an_email_with_a_password_user(site, browser):
    """The unique email index leaves SSO users out (a partial index; on MariaDB a generated
    column): both accounts exist, each signs in its own way."""
    password_user = site.api.session("alice@example.com")
    provider = site.create_provider()
    landing = browser.follow(browser.go("POST", site.url + "/sso", json={"domain": DOMAIN}))
    sso_user = _user(site, fragment(landing.headers["Location"])["access_token"])
    assert sso_user.id != uuid.UUID(password_user["user"]["id"])
    users = sorted(rows(site.app, User), key=lambda u: u.is_sso_user)
    assert [(u.email, u.is_sso_user) for u in users] == [("alice@example.com", False),
                                                         ("alice@example.com", True)]
    assert site.api.login("alice@example.com").status_code == 200
    # No second password account can take the address.
    assert site.api.signup("alice@example.com").get_json()["code"] == "user_already_exists"
    assert sum(not u.is_sso_user for u in rows(site.app, User)) == 1
    # Another identity provider's user with that email is another account.
    other_idp = site.another_idp()
    second = site.create_provider(metadata_url=other_idp.url + "/metadata", domains=[])
    assert second["id"] != provider["id"]
    answer = browser.go("POST", site.url + ACS_PATH, data={"SAMLResponse": other_idp.response()})
    other_user = _user(site, fragment(answer.headers["Location"])["access_token"])
    assert other_user.id not in (sso_user.id, uuid.UUID(password_user["user"]["id"]))
    assert other_user.is_sso_user and other_user.email == "alice@example.com"


@pytest.mark.parametrize("body, status, code, message", [
    ({}, 400, "validation_failed", "A provider_id or domain needs to be provided"),
    ({"domain": DOMAIN, "provider_id": str(uuid.uuid4())}, 400, "validation_failed",
     "Only one of provider_id or domain supported"),
    ({"domain": "other.example"}, 404, "sso_provider_not_found",
     "No SSO provider assigned for this domain"),
    ({"domain": "sub.example.com"}, 404, "sso_provider_not_found", None),
    ({"provider_id": str(uuid.uuid4())}, 404, "sso_provider_not_found", "No such SSO provider"),
    ({"domain": DOMAIN, "code_challenge": "c" * 43}, 400, "validation_failed", None),
])
def test_sso_refusals(site, body, status, code, message):
    site.create_provider()
    answer = site.api.post("/sso", json=body)
    assert answer.status_code == status
    assert answer.get_json()["code"] == code
    if message:
        assert answer.get_json()["message"] == message
    assert rows(site.app, SAMLRelayState) == [] and rows(site.app, FlowState) == []


def test_a_disabled_provider_signs_nobody_in(site, browser):
    provider = site.create_provider()
    site.api.admin("PUT", f"/admin/sso/providers/{provider['id']}", json={"disabled": True})
    answer = site.api.post("/sso", json={"domain": DOMAIN})
    assert answer.status_code == 404 and answer.get_json()["code"] == "sso_provider_disabled"
    idp_initiated = browser.go("POST", site.url + ACS_PATH,
                               data={"SAMLResponse": site.idp.response()})
    assert query(idp_initiated.headers["Location"])["error_code"] == "sso_provider_disabled"
    assert rows(site.app, User) == []


def test_stale_metadata_is_fetched_again_and_a_failed_fetch_only_logged(site, browser):
    from gotrue_web.extensions import db
    from gotrue_web.models import SAMLProvider

    site.create_provider()
    assert len(site.idp.received) == 1
    day_ago = datetime.now(timezone.utc) - timedelta(hours=25)
    with site.app.app_context():
        db.session.query(SAMLProvider).update({"updated_at": day_ago})
        db.session.commit()
    site.idp.metadata_mode = "error"
    answer = browser.go("POST", site.url + ACS_PATH, data={"SAMLResponse": site.idp.response()})
    assert answer.status_code == 302 and "access_token" in fragment(answer.headers["Location"])
    assert len(site.idp.received) == 2
    assert rows(site.app, SAMLProvider)[0].updated_at == day_ago
    site.idp.metadata_mode = "ok"
    browser.go("POST", site.url + ACS_PATH, data={"SAMLResponse": site.idp.response()})
    assert len(site.idp.received) == 3
    assert rows(site.app, SAMLProvider)[0].updated_at > day_ago
