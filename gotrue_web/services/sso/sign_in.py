"""POST /sso: send the browser to the identity provider (GoTrue api/sso.go SingleSignOn; spec
oauth-sso.md section 5).

The provider is chosen by its id or by one of its domains (the whole domain, any case). With
PKCE a flow_state row (``sso/saml``) is made, whose code the ACS hands back. A
saml_relay_states row remembers the AuthnRequest: its id is the RelayState the identity
provider returns, with the request id the response must answer and where the user goes after
(redirect_to as given; the ACS checks it against the allow-list).
"""

from __future__ import annotations

import uuid

from ...errors import ErrorCode, bad_request, internal, not_found
from ...extensions import db
from ...models import SAMLRelayState, SSOProvider
from ...runtime import Runtime
from .. import pkce
from . import SSO_METHOD, idp_metadata, saml_client, service_provider
from .providers import by_domain


def _provider(provider_id: str, domain: str) -> SSOProvider:
    if provider_id and domain:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only one of provider_id or domain supported")
    if not provider_id and not domain:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "A provider_id or domain needs to be provided")
    if provider_id:
        try:
            provider = db.session.get(SSOProvider, uuid.UUID(provider_id))
        except ValueError:
            raise bad_request(ErrorCode.BAD_JSON, "Could not parse request body as JSON: "
                              "provider_id is not a UUID") from None
        if provider is None:
            raise not_found(ErrorCode.SSO_PROVIDER_NOT_FOUND, "No such SSO provider")
    else:
        provider = by_domain(domain)
        if provider is None:
            raise not_found(ErrorCode.SSO_PROVIDER_NOT_FOUND,
                            "No SSO provider assigned for this domain")
    if provider.is_disabled:
        raise not_found(ErrorCode.SSO_PROVIDER_DISABLED, "SSO Provider is disabled")
    return provider


def start(rt: Runtime, *, provider_id: str, domain: str, redirect_to: str,
          pkce_params: pkce.PKCEParams | None) -> str:
    """The identity provider's sign-in URL with our signed AuthnRequest."""
    provider = _provider(provider_id, domain)
    saml = provider.saml
    if not idp_metadata.parse(saml.metadata_xml).redirect_sign_in_url:
        raise internal("The SAML identity provider offers no HTTP-Redirect sign-in service")
    # Relay states nobody came back with go after a day: the database cleanup's job.
    now = rt.now()
    flow = None
    if pkce_params is not None:
        flow = pkce.create_flow(rt, pkce_params, user_id=None,
                                authentication_method=SSO_METHOD, provider_type=SSO_METHOD)
        flow.referrer = redirect_to
    request_id = saml_client.new_request_id()
    relay = SAMLRelayState(id=uuid.uuid4(), sso_provider_id=provider.id, request_id=request_id,
                           redirect_to=redirect_to or None,
                           flow_state_id=flow.id if flow is not None else None,
                           created_at=now, updated_at=now)
    db.session.add(relay)
    url = saml_client.authn_request_url(
        service_provider.of(rt.settings), entity_id=saml.entity_id,
        metadata_xml=saml.metadata_xml, request_id=request_id, relay_state=str(relay.id),
        name_id_format=saml.name_id_format or "")
    db.session.flush()
    return url
