"""SAML 2.0 single sign-on (GoTrue internal/api/{sso,ssoadmin,saml,samlacs}.go; spec
oauth-sso.md section 5), shared by the API and, later, the console.

- ``service_provider``: this server as a SAML service provider: its keys and certificates,
  EntityID and ACS URL, and its metadata document.
- ``idp_metadata``: an identity provider's metadata read (safely) and fetched.
- ``providers``: the admin rules of /admin/sso/providers.
- ``saml_client``: pysaml2 doing the protocol work (the signed AuthnRequest, a response's
  signature and conditions), with the xmlsec1 program.
- ``attributes``: who an assertion names: user id, email, the attribute mapping.
- ``sign_in``: POST /sso. ``acs``: POST /sso/saml/acs.
"""

from __future__ import annotations

from ...errors import ErrorCode, not_found
from ...runtime import Runtime

# The amr method and flow_state authentication_method of a SAML sign-in.
SSO_METHOD = "sso/saml"


def require_enabled(rt: Runtime) -> None:
    """404 saml_provider_disabled unless GOTRUE_SAML_ENABLED (every /sso and /admin/sso route)."""
    if not rt.settings.saml.enabled:
        raise not_found(ErrorCode.SAML_PROVIDER_DISABLED, "SAML 2.0 is disabled")


def identity_provider_name(sso_provider_id) -> str:
    """The identities.provider of users signed in through an SSO provider."""
    return f"sso:{sso_provider_id}"
