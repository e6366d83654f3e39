"""POST /sso/saml/acs: the identity provider's answer (GoTrue api/samlacs.go; spec
oauth-sso.md section 5), in GoTrue's order:

1. RelayState a UUID: the answer to our AuthnRequest (SP-initiated). Its relay state row must
   exist and be younger than GOTRUE_SAML_RELAY_STATE_VALIDITY_PERIOD; it is deleted (and that
   committed) before anything is validated, so a response is accepted once.
   RelayState empty or an absolute URL: the identity provider started the sign-in
   (IdP-initiated); the provider is the one whose EntityID issued the response, and RelayState
   is where the user goes afterwards. Anything else is refused.
2. A provider with a metadata_url gets its metadata fetched again when it is stale.
3. The response is validated (saml_client.read_response), the user id and email found and the
   attribute mapping applied (attributes.py).
4. The user signs in through the identity ``sso:<provider id>`` (its own linking domain, so
   ``is_sso_user``), and the session ends at the assertion's SessionNotOnOrAfter.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ...db import begin_write_locked
from ...errors import ErrorCode, GoTrueError, bad_request, not_found, unprocessable
from ...extensions import db
from ...models import FlowState, SAMLRelayState, SSOProvider
from ...runtime import RequestInfo, Runtime
from ...security import redirects
from .. import sessions
from ..oauth.base import ProviderEmail
from ..oauth.linking import SignIn, sign_in_user
from . import (
    SSO_METHOD,
    attributes,
    identity_provider_name,
    idp_metadata,
    saml_client,
    service_provider,
)
from .providers import by_entity_id

log = logging.getLogger(__name__)

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


@dataclass(frozen=True)
class ACSForm:
    saml_response: str
    relay_state: str
    saml_artifact: str


@dataclass
class Finished:
    """Where the browser goes, with the implicit flow's session or the PKCE flow's code."""

    redirect_to: str
    session: sessions.IssuedSession | None = None
    auth_code: str = ""


@dataclass
class _Origin:
    provider: SSOProvider
    request_id: str = ""
    redirect_to: str = ""
    flow_state_id: uuid.UUID | None = None


def _invalid(message: str):
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


def _decode(form: ACSForm) -> tuple[str, ET.Element]:
    """The SAMLResponse, parsed safely (no DTD, so no entity of any kind)."""
    if not form.saml_response:
        raise _invalid("SAMLResponse is missing")
    try:
        raw = base64.b64decode(form.saml_response, validate=False)
    except (binascii.Error, ValueError):
        raise _invalid("SAMLResponse is not valid Base64") from None
    try:
        return form.saml_response, fromstring(raw, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise _invalid("SAMLResponse is not a valid XML SAML assertion") from None


def _issuer(document: ET.Element) -> str:
    issuer = document.find(f"{{{SAML}}}Issuer")
    if issuer is None:
        issuer = document.find(f"{{{SAML}}}Assertion/{{{SAML}}}Issuer")
    return (issuer.text or "").strip() if issuer is not None else ""


def _is_absolute_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


def _enabled(provider: SSOProvider) -> SSOProvider:
    if provider.is_disabled:
        raise not_found(ErrorCode.SSO_PROVIDER_DISABLED, "SSO Provider is disabled")
    return provider


def _sp_initiated(rt: Runtime, relay_id: uuid.UUID) -> _Origin:
    relay = db.session.get(SAMLRelayState, relay_id)
    if relay is None:
        raise not_found(ErrorCode.SAML_RELAY_STATE_NOT_FOUND,
                        "SAML RelayState does not exist, try logging in again?")
    if rt.now() - relay.created_at >= rt.settings.saml.relay_state_validity_period:
        db.session.delete(relay)
        error = unprocessable(ErrorCode.SAML_RELAY_STATE_EXPIRED,
                              "SAML RelayState has expired. Try logging in again?")
        error.commit_first = True
        raise error
    provider = _enabled(db.session.get(SSOProvider, relay.sso_provider_id))
    origin = _Origin(provider, relay.request_id, relay.redirect_to or "", relay.flow_state_id)
    # Gone before the response is looked at: whatever follows, this request is answered once.
    db.session.delete(relay)
    db.session.commit()
    return origin


def _idp_initiated(form: ACSForm, document: ET.Element) -> _Origin:
    entity_id = _issuer(document)
    provider = by_entity_id(entity_id) if entity_id else None
    if provider is None:
        raise not_found(ErrorCode.SAML_IDP_NOT_FOUND,
                        "A SAML connection has not been established with this Identity Provider")
    return _Origin(_enabled(provider), redirect_to=form.relay_state)


def _refresh_metadata(rt: Runtime, provider: SSOProvider) -> None:
    """A stale metadata_url document is fetched again; failures are only logged."""
    saml = provider.saml
    if not saml.metadata_url:
        return
    try:
        current = idp_metadata.parse(saml.metadata_xml)
        if not idp_metadata.is_stale(current, saml.updated_at, rt.now()):
            return
        raw = idp_metadata.fetch(rt, saml.metadata_url)
        fresh = idp_metadata.parse(raw)
    except GoTrueError as exc:
        log.warning("saml: metadata of %s not refreshed: %s", saml.entity_id, exc.message)
        return
    if fresh.entity_id != saml.entity_id:
        log.warning("saml: metadata at %s now names %s, not %s; kept the stored one",
                    saml.metadata_url, fresh.entity_id, saml.entity_id)
        return
    saml.metadata_xml = raw.decode("utf-8")
    saml.updated_at = rt.now()


def consume(rt: Runtime, form: ACSForm, info: RequestInfo) -> Finished:
    """Steps 1-4 of the module docstring; every refusal is a GoTrueError (the view redirects
    it to SITE_URL)."""
    relay_state = form.relay_state.strip()
    try:
        relay_id = uuid.UUID(relay_state)
    except ValueError:
        relay_id = None
    if relay_id is not None:
        origin = _sp_initiated(rt, relay_id)
        if form.saml_artifact:
            raise _invalid("SAML Artifact binding is not supported")
        encoded, document = _decode(form)
    elif not relay_state or _is_absolute_url(relay_state):
        if form.saml_artifact:
            raise _invalid("SAML Artifact response can only be used with SP initiated flow")
        encoded, document = _decode(form)
        origin = _idp_initiated(form, document)
    else:
        raise _invalid("SAML RelayState is not a valid UUID or URL")
    provider = origin.provider
    _refresh_metadata(rt, provider)
    try:
        return _sign_in(rt, origin, encoded, document, info)
    except GoTrueError:
        rt.metrics.sign_in("sso", "saml", "failure")
        raise


def _sign_in(rt: Runtime, origin: _Origin, encoded: str, document: ET.Element,
             info: RequestInfo) -> Finished:
    provider, saml = origin.provider, origin.provider.saml
    facts = saml_client.read_response(
        service_provider.of(rt.settings), entity_id=saml.entity_id,
        metadata_xml=saml.metadata_xml, encoded_response=encoded, document=document,
        request_id=origin.request_id, now=rt.now())
    user_id = attributes.user_id(facts)
    if not user_id:
        raise bad_request(ErrorCode.SAML_ASSERTION_NO_USER_ID,
                          "SAML Assertion did not contain a persistent Subject Identifier "
                          "attribute or Subject NameID uniquely identifying this user")
    claims = attributes.mapped(facts, saml.attribute_mapping)
    address = attributes.email(facts, claims)
    if not address:
        raise bad_request(ErrorCode.SAML_ASSERTION_NO_EMAIL,
                          "SAML Assertion does not contain an email address")
    data = attributes.identity_data(claims, subject=user_id, issuer=saml.entity_id,
                                    address=address)
    settings = rt.settings
    redirect_to = redirects.resolve(origin.redirect_to, settings.site_url,
                                    settings.uri_allow_list)
    provider_id, flow_state_id = provider.id, origin.flow_state_id
    sign_in = SignIn(provider=identity_provider_name(provider_id), subject=user_id,
                     identity_data=data,
                     emails=[ProviderEmail(address.strip().lower(), True, True)],
                     aud=info.aud, email_optional=False, referrer=redirect_to,
                     pkce=flow_state_id is not None)
    # One writer at a time from here: the linking decision reads before it inserts.
    db.session.commit()
    begin_write_locked(db.session)
    user = sign_in_user(rt, sign_in, info)
    # As GoTrue, a session even for a PKCE flow (whose code later starts the one used).
    issued = sessions.start_session(rt, user, SSO_METHOD, info,
                                    not_after=facts.session_not_on_or_after,
                                    amr_provider=str(provider_id))
    if flow_state_id is None:
        rt.metrics.sign_in("sso", "saml", "success")
        return Finished(redirect_to=redirect_to, session=issued)
    flow = db.session.execute(
        sa.select(FlowState).where(FlowState.id == flow_state_id).with_for_update()
    ).scalar_one_or_none()
    if flow is None or flow.user_id is not None:
        raise bad_request(ErrorCode.FLOW_STATE_ALREADY_USED, "State has already been used")
    # GoTrue sets the user but not auth_code_issued_at here.
    flow.user_id = user.id
    flow.updated_at = rt.now()
    return Finished(redirect_to=redirect_to, auth_code=flow.auth_code)
