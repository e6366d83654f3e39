"""Console pages about how users sign in: OAuth providers (``providers``) and SAML single
sign-on's identity providers (``sso``)."""
