"""This server as an OAuth 2.1 / OpenID Connect authorization server (spec idp-passkeys-web3.md
section 1): the admin client API and dynamic registration (clients), /oauth/authorize
(authorize), the consent page's API (consent), /oauth/token (token), /oauth/userinfo and the
user's grants (userinfo, grants), and the discovery documents (discovery). The rules live in
services/oauth_server; the routes are registered in api/__init__.py."""
