"""SAML 2.0 SSO: /admin/sso/providers (admin.py), POST /sso (sign_in.py), and the service
provider's GET /sso/saml/metadata and POST /sso/saml/acs (saml.py). Every route answers 404
saml_provider_disabled while GOTRUE_SAML_ENABLED is off (guards.requires_saml)."""
