"""The JSON API blueprint: GoTrue's routes, served under /auth/v1 and at the root.

The whole URL table is here, with the guards each route needs: ``auth`` ("user" or "admin",
api.guards) and ``limit``, the per-client rate-limit bucket (ratelimit.RateLimiter) that GoTrue
applies to the route, and ``captcha`` (api.captcha: GoTrue's captcha on sign-up and sign-in,
checked after the rate limit as in GoTrue).
"""

from __future__ import annotations

from flask import Blueprint, request

from ..errors import GoTrueError
from ..runtime import current_runtime
from ..services.hooks import user_created

from . import (admin_audit, admin_users, health, invite, logout, otp, reauthenticate, recover,
               resend, settings, signup, token, user, verify, well_known)
from .captcha import TOKEN_GRANTS, captcha_required
from .errors import render_error
from .mfa import factors as mfa_factors
from .oauth import authorize as oauth_authorize
from .oauth import callback as oauth_callback
from .oauth import custom_providers as oauth_custom_providers
from .oauth import identities as oauth_identities
from .oauth_server import authorize as oauth_server_authorize
from .oauth_server import clients as oauth_server_clients
from .oauth_server import consent as oauth_server_consent
from .oauth_server import discovery as oauth_server_discovery
from .oauth_server import grants as oauth_server_grants
from .oauth_server import token as oauth_server_token
from .oauth_server import userinfo as oauth_server_userinfo
from .openapi import document as openapi_document
from .passkeys import admin as passkeys_admin
from .passkeys import authentication as passkeys_authentication
from .passkeys import manage as passkeys_manage
from .passkeys import registration as passkeys_registration
from .passkeys import requires_passkeys
from .sso import admin as sso_admin
from .sso import saml as sso_saml
from .sso import sign_in as sso_sign_in
from .guards import (forget_client, identify_client, rate_limited, requires_admin,
                     requires_oauth_server, requires_saml, requires_user, signup_bucket,
                     token_bucket)

api = Blueprint("api", __name__)
api.before_request(identify_client)
api.teardown_request(forget_client)


def _after_user_created(response):
    """after_user_created for the users this request created and committed (on every app
    request: the console creates users too). Its error replaces a JSON API success; redirects
    (the OAuth callback) and console pages keep their answer, the error stays in the log."""
    if not user_created.pending():
        return response
    try:
        user_created.run_after(current_runtime())
    except GoTrueError as error:
        if request.blueprint in ("api", "api_v1") and response.status_code < 300:
            return render_error(error)
    return response


api.record_once(lambda state: (state.app.after_request(_after_user_created),
                               state.app.teardown_request(user_created.forget)))


def _route(rule: str, view, methods: tuple[str, ...], endpoint: str | None = None, *,
           auth: str | None = None, limit=None, read_only: bool = False,
           captcha: bool | tuple[str, ...] = False, gate=None) -> None:
    # captcha: True, or the grant_type values it applies to (api.captcha.captcha_required).
    # gate: a feature switch's guard (guards.requires_saml), checked after auth and before
    # the rate limit.
    guarded = view
    if captcha:
        guarded = captcha_required(guarded, None if captcha is True else captcha)
    guarded = rate_limited(guarded, limit) if limit else guarded
    guarded = gate(guarded) if gate else guarded
    if auth == "user":
        guarded = requires_user(guarded, read_only=read_only)
    elif auth == "admin":
        guarded = requires_admin(guarded)
    api.add_url_rule(rule, endpoint or view.__name__, guarded, methods=list(methods))


_route("/health", health.health, ("GET",))
_route("/ready", health.ready, ("GET",))
_route("/settings", settings.settings_view, ("GET",), "settings")
_route("/.well-known/jwks.json", well_known.jwks, ("GET",))
_route("/openapi.json", openapi_document, ("GET",), "openapi")

_route("/signup", signup.signup, ("POST",), limit=signup_bucket, captcha=True)
_route("/token", token.token, ("POST",), limit=token_bucket, captcha=TOKEN_GRANTS)
_route("/verify", verify.verify_get, ("GET",), limit="verify")
_route("/verify", verify.verify_post, ("POST",), limit="verify")
_route("/otp", otp.otp, ("POST",), limit="otp", captcha=True)
_route("/magiclink", otp.magic_link, ("POST",), limit="otp", captcha=True)
_route("/recover", recover.recover, ("POST",), limit="otp", captcha=True)
_route("/resend", resend.resend, ("POST",), limit="otp", captcha=True)
_route("/logout", logout.logout, ("POST",), auth="user")
# External OAuth: no limiter and no captcha, as in GoTrue.
_route("/authorize", oauth_authorize.authorize, ("GET",), "oauth_authorize")
_route("/callback", oauth_callback.callback, ("GET", "POST"), "oauth_callback")
_route("/reauthenticate", reauthenticate.reauthenticate, ("GET",), auth="user")
_route("/user", user.get_user, ("GET",), "get_user", auth="user", read_only=True)
_route("/user", user.update_user, ("PUT",), "update_user", auth="user", limit="otp")
_route("/user/identities/authorize", oauth_identities.link_identity, ("GET",),
       "link_identity", auth="user")
_route("/user/identities/<identity_id>", oauth_identities.unlink_identity, ("DELETE",),
       "unlink_identity", auth="user")
# MFA: challenge and verify share GoTrue's per-client MFA limiter.
_route("/factors", mfa_factors.enroll, ("POST",), "mfa_enroll", auth="user")
_route("/factors/<factor_id>/challenge", mfa_factors.challenge, ("POST",), "mfa_challenge",
       auth="user", limit="mfa")
_route("/factors/<factor_id>/verify", mfa_factors.verify, ("POST",), "mfa_verify", auth="user",
       limit="mfa")
_route("/factors/<factor_id>", mfa_factors.unenroll, ("DELETE",), "mfa_unenroll", auth="user")

_route("/invite", invite.invite, ("POST",), auth="admin")
_route("/admin/generate_link", invite.generate_link, ("POST",), "admin_generate_link",
       auth="admin")
_route("/admin/audit", admin_audit.list_entries, ("GET",), "admin_audit", auth="admin")
_route("/admin/users", admin_users.list_users, ("GET",), "admin_list_users", auth="admin")
_route("/admin/users", admin_users.create_user, ("POST",), "admin_create_user", auth="admin")
_route("/admin/users/<user_id>", admin_users.get_user, ("GET",), "admin_get_user",
       auth="admin")
_route("/admin/users/<user_id>", admin_users.update_user, ("PUT",), "admin_update_user",
       auth="admin")
_route("/admin/users/<user_id>", admin_users.delete_user, ("DELETE",), "admin_delete_user",
       auth="admin")
_route("/admin/users/<user_id>/factors", admin_users.list_factors, ("GET",),
       "admin_list_factors", auth="admin")
_route("/admin/users/<user_id>/factors/<factor_id>", admin_users.delete_factor, ("DELETE",),
       "admin_delete_factor", auth="admin")
_route("/admin/users/<user_id>/factors/<factor_id>", admin_users.update_factor, ("PUT",),
       "admin_update_factor", auth="admin")
# Custom OAuth/OIDC providers (spec oauth-sso.md section 6).
_route("/admin/custom-providers", oauth_custom_providers.list_providers, ("GET",),
       "admin_list_custom_providers", auth="admin")
_route("/admin/custom-providers", oauth_custom_providers.create_provider, ("POST",),
       "admin_create_custom_provider", auth="admin")
_route("/admin/custom-providers/<identifier>", oauth_custom_providers.get_provider, ("GET",),
       "admin_get_custom_provider", auth="admin")
_route("/admin/custom-providers/<identifier>", oauth_custom_providers.update_provider, ("PUT",),
       "admin_update_custom_provider", auth="admin")
_route("/admin/custom-providers/<identifier>", oauth_custom_providers.delete_provider,
       ("DELETE",), "admin_delete_custom_provider", auth="admin")
# SAML 2.0 SSO (spec oauth-sso.md section 5): 404 saml_provider_disabled while it is off.
_route("/sso", sso_sign_in.single_sign_on, ("POST",), "sso", limit="sso", captcha=True,
       gate=requires_saml)
_route("/sso/saml/metadata", sso_saml.metadata, ("GET",), "saml_metadata", gate=requires_saml)
_route("/sso/saml/acs", sso_saml.assertion_consumer_service, ("POST",), "saml_acs",
       limit="saml_assertion", gate=requires_saml)
_route("/admin/sso/providers", sso_admin.list_providers, ("GET",), "admin_list_sso_providers",
       auth="admin", gate=requires_saml)
_route("/admin/sso/providers", sso_admin.create_provider, ("POST",),
       "admin_create_sso_provider", auth="admin", gate=requires_saml)
_route("/admin/sso/providers/<idp_id>", sso_admin.get_provider, ("GET",),
       "admin_get_sso_provider", auth="admin", gate=requires_saml)
_route("/admin/sso/providers/<idp_id>", sso_admin.update_provider, ("PUT",),
       "admin_update_sso_provider", auth="admin", gate=requires_saml)
_route("/admin/sso/providers/<idp_id>", sso_admin.delete_provider, ("DELETE",),
       "admin_delete_sso_provider", auth="admin", gate=requires_saml)

# This server as an OAuth 2.1 / OIDC authorization server (spec idp-passkeys-web3.md section 1):
# 404 feature_disabled while GOTRUE_OAUTH_SERVER_ENABLED is off, checked after the user or
# admin check. The OpenID configuration is served either way, as GoTrue does.
_route("/.well-known/openid-configuration", oauth_server_discovery.openid_configuration,
       ("GET",), "openid_configuration")
_route("/.well-known/oauth-authorization-server",
       oauth_server_discovery.authorization_server_metadata, ("GET",),
       "oauth_authorization_server_metadata", gate=requires_oauth_server)
_route("/oauth/clients/register", oauth_server_clients.register_client, ("POST",),
       "oauth_register_client", limit="oauth_client_register", gate=requires_oauth_server)
_route("/oauth/authorize", oauth_server_authorize.authorize, ("GET",), "oauth_server_authorize",
       gate=requires_oauth_server)
_route("/oauth/authorizations/<authorization_id>", oauth_server_consent.get_authorization,
       ("GET",), "oauth_get_authorization", auth="user", gate=requires_oauth_server)
_route("/oauth/authorizations/<authorization_id>/consent", oauth_server_consent.decide,
       ("POST",), "oauth_consent", auth="user", gate=requires_oauth_server)
_route("/oauth/token", oauth_server_token.token, ("POST",), "oauth_server_token",
       limit="token", gate=requires_oauth_server)
_route("/oauth/userinfo", oauth_server_userinfo.userinfo, ("GET",), "oauth_userinfo",
       auth="user", gate=requires_oauth_server)
_route("/user/oauth/grants", oauth_server_grants.list_grants, ("GET",), "oauth_list_grants",
       auth="user", gate=requires_oauth_server)
_route("/user/oauth/grants", oauth_server_grants.revoke_grant, ("DELETE",),
       "oauth_revoke_grant", auth="user", gate=requires_oauth_server)
_route("/admin/oauth/clients", oauth_server_clients.admin_list_clients, ("GET",),
       "admin_list_oauth_clients", auth="admin", gate=requires_oauth_server)
_route("/admin/oauth/clients", oauth_server_clients.admin_create_client, ("POST",),
       "admin_create_oauth_client", auth="admin", gate=requires_oauth_server)
_route("/admin/oauth/clients/<client_id>", oauth_server_clients.admin_get_client, ("GET",),
       "admin_get_oauth_client", auth="admin", gate=requires_oauth_server)
_route("/admin/oauth/clients/<client_id>", oauth_server_clients.admin_update_client, ("PUT",),
       "admin_update_oauth_client", auth="admin", gate=requires_oauth_server)
_route("/admin/oauth/clients/<client_id>", oauth_server_clients.admin_delete_client,
       ("DELETE",), "admin_delete_oauth_client", auth="admin", gate=requires_oauth_server)
_route("/admin/oauth/clients/<client_id>/regenerate_secret",
       oauth_server_clients.admin_regenerate_secret, ("POST",),
       "admin_regenerate_oauth_client_secret", auth="admin", gate=requires_oauth_server)

# Passkeys (spec idp-passkeys-web3.md sections 0 and 2.2): 404 passkey_disabled while
# GOTRUE_PASSKEY_ENABLED is off, checked after the user check; the admin routes have no gate.
# The sign-in options count in the "passkey" bucket, then the captcha.
_route("/passkeys/registration/options", passkeys_registration.options, ("POST",),
       "passkey_registration_options", auth="user", gate=requires_passkeys)
_route("/passkeys/registration/verify", passkeys_registration.verify, ("POST",),
       "passkey_registration_verify", auth="user", gate=requires_passkeys)
_route("/passkeys/authentication/options", passkeys_authentication.options, ("POST",),
       "passkey_authentication_options", limit="passkey", captcha=True, gate=requires_passkeys)
_route("/passkeys/authentication/verify", passkeys_authentication.verify, ("POST",),
       "passkey_authentication_verify", gate=requires_passkeys)
_route("/passkeys", passkeys_manage.list_passkeys, ("GET",), "passkey_list", auth="user",
       gate=requires_passkeys)
_route("/passkeys/", passkeys_manage.list_passkeys, ("GET",), "passkey_list_slash",
       auth="user", gate=requires_passkeys)
_route("/passkeys/<passkey_id>", passkeys_manage.update_passkey, ("PATCH",), "passkey_update",
       auth="user", gate=requires_passkeys)
_route("/passkeys/<passkey_id>", passkeys_manage.delete_passkey, ("DELETE",), "passkey_delete",
       auth="user", gate=requires_passkeys)
_route("/admin/users/<user_id>/passkeys", passkeys_admin.list_passkeys, ("GET",),
       "admin_list_passkeys", auth="admin")
_route("/admin/users/<user_id>/passkeys/<passkey_id>", passkeys_admin.delete_passkey,
       ("DELETE",), "admin_delete_passkey", auth="admin")
