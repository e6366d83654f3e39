"""pysaml2 as this server's SAML service provider: the signed AuthnRequest of POST /sso, and the
checks of a response posted to the ACS (spec oauth-sso.md section 5).

pysaml2 verifies signatures with the xmlsec1 program against the certificates of the identity
provider's stored metadata only (never a certificate the response carries), requires the
Response or its Assertion to be signed, checks the audience, the conditions and the subject
confirmation's times, and decrypts with our keys. This module adds the checks GoTrue makes that
pysaml2 leaves to its caller, on the server's clock (``rt.now()``): the issuer, Destination and
Recipient, InResponseTo, an IssueInstant at most 90 seconds old, and the conditions within
180 seconds of clock skew.
"""

from __future__ import annotations

import functools
import logging
import secrets
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ...errors import ErrorCode, bad_request, internal
from .attributes import AssertionFacts, Attribute
from .service_provider import NAMEID_PERSISTENT, ServiceProvider

if TYPE_CHECKING:
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

log = logging.getLogger(__name__)


@functools.cache
def _pysaml2() -> SimpleNamespace:
    """pysaml2, imported on the first SAML request: it costs each worker about 25 MB, which a
    server without SAML should not pay."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.config import SPConfig
    from saml2.saml import SCM_BEARER
    from saml2.xmldsig import SIG_RSA_SHA1
    return SimpleNamespace(BINDING_HTTP_POST=BINDING_HTTP_POST,
                           BINDING_HTTP_REDIRECT=BINDING_HTTP_REDIRECT, Saml2Client=Saml2Client,
                           SPConfig=SPConfig, SCM_BEARER=SCM_BEARER, SIG_RSA_SHA1=SIG_RSA_SHA1)

XMLSEC_BINARY = "/usr/bin/xmlsec1"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MAX_ISSUE_DELAY = timedelta(seconds=90)
MAX_CLOCK_SKEW = timedelta(seconds=180)


def new_request_id() -> str:
    """An AuthnRequest ID as GoTrue makes them: ``id-`` and 40 hex digits."""
    return "id-" + secrets.token_hex(20)


@functools.lru_cache(maxsize=32)
def _config(sp: ServiceProvider, metadata_xml: str) -> SPConfig:
    """pysaml2's configuration for one identity provider (its metadata inline)."""
    files = sp.signing_files
    return _pysaml2().SPConfig().load({
        "entityid": sp.entity_id,
        "key_file": files.key,
        "cert_file": files.certificate,
        "encryption_keypairs": [{"key_file": f.key, "cert_file": f.certificate}
                                for f in sp.decryption_files],
        "xmlsec_binary": XMLSEC_BINARY,
        "metadata": {"inline": [metadata_xml]},
        "accepted_time_diff": int(MAX_CLOCK_SKEW.total_seconds()),
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [
                (sp.acs_url, _pysaml2().BINDING_HTTP_POST)]},
            # InResponseTo is checked here against the relay state's request (or its absence).
            "allow_unsolicited": True,
            "want_response_signed": False,
            "want_assertions_signed": False,
            "want_assertions_or_response_signed": True,
            "authn_requests_signed": True,
            "name_id_format_allow_create": True,
        }},
    })


def _client(sp: ServiceProvider, metadata_xml: str) -> Saml2Client:
    # A client per request: it keeps the people it saw, which a shared one would accumulate.
    return _pysaml2().Saml2Client(config=_config(sp, metadata_xml))


def authn_request_url(sp: ServiceProvider, *, entity_id: str, metadata_xml: str,
                      request_id: str, relay_state: str, name_id_format: str) -> str:
    """The IdP's HTTP-Redirect sign-in URL carrying our AuthnRequest, signed RSA-SHA1 in the
    query (SAMLRequest, RelayState, SigAlg, Signature)."""
    try:
        _, info = _client(sp, metadata_xml).prepare_for_authenticate(
            entityid=entity_id, relay_state=relay_state, binding=_pysaml2().BINDING_HTTP_REDIRECT,
            nameid_format=name_id_format or NAMEID_PERSISTENT, sign=True,
            sigalg=_pysaml2().SIG_RSA_SHA1, message_id=request_id)
    except Exception as exc:  # pysaml2 raises plain Exceptions for metadata it cannot use
        log.warning("saml: no AuthnRequest for %s: %s", entity_id, exc)
        raise internal("Unable to create the SAML AuthnRequest for this identity provider",
                       cause=exc) from exc
    return dict(info["headers"])["Location"]


def _not_valid(reason: str, cause: object = None):
    log.info("saml: assertion refused: %s", reason)
    return bad_request(ErrorCode.VALIDATION_FAILED, "SAML Assertion is not valid",
                       cause=cause or reason)


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _not_valid(f"unreadable time {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_response(sp: ServiceProvider, *, entity_id: str, metadata_xml: str,
                  encoded_response: str, document: ET.Element, request_id: str,
                  now: datetime) -> AssertionFacts:
    """Validate a base64 SAMLResponse from ``entity_id``; ``request_id`` is the AuthnRequest
    it must answer ("" for an IdP-initiated one, which must answer none). ``document`` is the
    response as defusedxml parsed it. Any failure is 400 validation_failed."""
    if document.tag != f"{{{SAMLP}}}Response":
        raise _not_valid("not a samlp:Response")
    if (document.find(f"{{{SAML}}}EncryptedAssertion") is not None
            and not sp.allow_encrypted_assertions):
        raise _not_valid("encrypted assertions are not allowed")
    try:
        response = _client(sp, metadata_xml).parse_authn_request_response(
            encoded_response, _pysaml2().BINDING_HTTP_POST,
            outstanding={request_id: "/"} if request_id else {})
    except Exception as exc:  # pysaml2 signals every refusal with its own exception types
        raise _not_valid(f"{type(exc).__name__}: {exc}", exc) from exc
    if response is None or response.assertion is None:
        raise _not_valid("no valid assertion")
    _check_addressing(sp, response, entity_id=entity_id, request_id=request_id)
    _check_times(response, now)
    return _facts(response.assertion)


def _check_addressing(sp: ServiceProvider, response, *, entity_id: str, request_id: str) -> None:
    message, assertion = response.response, response.assertion
    if message.issuer is not None and (message.issuer.text or "").strip() != entity_id:
        raise _not_valid("the response's Issuer is not the identity provider")
    if assertion.issuer is None or (assertion.issuer.text or "").strip() != entity_id:
        raise _not_valid("the assertion's Issuer is not the identity provider")
    if message.destination and message.destination != sp.acs_url:
        raise _not_valid("Destination is not this ACS")
    if (message.in_response_to or "") != request_id:
        raise _not_valid("InResponseTo does not match the request")
    audiences = [audience.text.strip()
                 for restriction in (assertion.conditions.audience_restriction
                                     if assertion.conditions else [])
                 for audience in restriction.audience if audience.text]
    if sp.entity_id not in audiences:
        raise _not_valid("the audience is not this service provider")
    confirmations = [c for c in (assertion.subject.subject_confirmation
                                 if assertion.subject else []) if c.method == _pysaml2().SCM_BEARER]
    if not confirmations:
        raise _not_valid("no bearer subject confirmation")
    for confirmation in confirmations:
        data = confirmation.subject_confirmation_data
        if data is None or data.recipient != sp.acs_url:
            raise _not_valid("the subject confirmation's Recipient is not this ACS")
        if (data.in_response_to or request_id) != request_id:
            raise _not_valid("the subject confirmation answers another request")


def _check_times(response, now: datetime) -> None:
    for label, value in (("response", response.response.issue_instant),
                         ("assertion", response.assertion.issue_instant)):
        issued = _instant(value)
        if issued is None or issued + MAX_ISSUE_DELAY < now or issued > now + MAX_CLOCK_SKEW:
            raise _not_valid(f"the {label}'s IssueInstant is outside the accepted window")
    conditions = response.assertion.conditions
    if conditions is not None:
        not_before = _instant(conditions.not_before)
        not_on_or_after = _instant(conditions.not_on_or_after)
        if not_before is not None and now + MAX_CLOCK_SKEW < not_before:
            raise _not_valid("the assertion is not valid yet")
        if not_on_or_after is not None and not_on_or_after + MAX_CLOCK_SKEW <= now:
            raise _not_valid("the assertion has expired")


def _facts(assertion) -> AssertionFacts:
    name_id = assertion.subject.name_id if assertion.subject else None
    attributes = tuple(
        Attribute(name=attribute.name or "", friendly_name=attribute.friendly_name or "",
                  values=tuple((value.text or "").strip() if value.text else ""
                               for value in attribute.attribute_value))
        for statement in assertion.attribute_statement
        for attribute in statement.attribute)
    session_end = next((_instant(statement.session_not_on_or_after)
                        for statement in assertion.authn_statement
                        if statement.session_not_on_or_after), None)
    return AssertionFacts(
        name_id=(name_id.text or "").strip() if name_id is not None and name_id.text else "",
        name_id_format=(name_id.format or "") if name_id is not None else "",
        attributes=attributes, session_not_on_or_after=session_end)
