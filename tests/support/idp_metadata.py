"""A minimal SAML identity provider's metadata document (an EntityID and one IDPSSODescriptor
with an HTTP-Redirect sign-in URL): enough to register a provider where no identity provider
needs to answer, as the console's pages and their accessibility checks do."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr


def idp_metadata_xml(entity_id: str, sign_in_url: str = "https://idp.example.com/sso") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'entityID={quoteattr(entity_id)}>'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location={quoteattr(sign_in_url)}/>'
        '</md:IDPSSODescriptor></md:EntityDescriptor>')
