"""The operator console blueprint (htmx, rendered on the server), mounted at /console.

The whole URL table is here. Every page needs a signed-in operator (auth.load_operator) and
every POST a CSRF token (Flask-WTF; htmx sends it in the X-CSRFToken header).
"""

from __future__ import annotations

from flask import Blueprint, redirect, url_for

from ..extensions import csrf
from . import (auth, bulk_actions, configuration, email_templates, hooks, invites,
               operators_page, overview, palette, rate_limits, roles, sessions_page,
               settings_page, user_detail, users)
from .apps import apps_page
from .logs import audit_log, mail_log, sms
from .sign_in_methods import providers, sso

console = Blueprint("console", __name__, url_prefix="/console")


def check_csrf():
    """Every POST of the console carries the CSRF token (checked before the operator is)."""
    csrf.protect()


console.before_request(check_csrf)
console.before_request(auth.load_operator)
# After the operator is known: what their role may do (console/roles.py).
console.before_request(roles.enforce)
console.add_app_template_global(roles.can, "can")


def _route(rule: str, view, methods: tuple[str, ...] = ("GET",), endpoint: str | None = None):
    console.add_url_rule(rule, endpoint or view.__name__, view, methods=list(methods))


def index():
    return redirect(url_for("console.overview"), 303)


_route("/", index)
_route("/overview", overview.overview)
_route("/login", auth.login)
_route("/login", auth.login_submit, ("POST",), "login_submit")
_route("/logout", auth.logout, ("POST",))
_route("/profile", auth.profile)
_route("/palette", palette.palette)  # Go to: the command palette's user search
_route("/profile/totp", auth.totp_start, ("POST",))
_route("/profile/totp/confirm", auth.totp_confirm, ("POST",))
_route("/profile/totp/disable", auth.totp_disable, ("POST",))
_route("/profile/password", auth.password_change, ("POST",))

# Users
_route("/users", users.users)
_route("/users/export.<fmt>", users.export, ("POST",))
# Bulk actions: the confirmation changes nothing (GET, or POST with the ticked rows).
_route("/users/bulk", bulk_actions.bulk_confirm, ("GET", "POST"))
_route("/users/bulk/start", bulk_actions.bulk_start, ("POST",))
_route("/users/bulk/run", bulk_actions.bulk_run, ("POST",))
_route("/users/new", user_detail.new_user)
_route("/users/new", user_detail.create_user, ("POST",))
_route("/users/<user_id>", user_detail.detail)
_route("/users/<user_id>/recovery", user_detail.send_recovery, ("POST",))
_route("/users/<user_id>/magic-link", user_detail.send_magic_link, ("POST",))
_route("/users/<user_id>/confirmation", user_detail.resend_confirmation, ("POST",))
_route("/users/<user_id>/confirm", user_detail.confirm_email, ("POST",))
_route("/users/<user_id>/confirm-phone", user_detail.confirm_phone, ("POST",))
_route("/users/<user_id>/password", user_detail.set_password, ("POST",))
_route("/users/<user_id>/ban", user_detail.ban, ("POST",))
_route("/users/<user_id>/unban", user_detail.unban, ("POST",))
_route("/users/<user_id>/factors/<factor_id>/delete", user_detail.remove_factor, ("POST",))
_route("/users/<user_id>/factors/delete", user_detail.remove_factors, ("POST",))
_route("/users/<user_id>/passkeys/<passkey_id>/delete", user_detail.remove_passkey,
       ("POST",))
_route("/users/<user_id>/metadata", user_detail.edit_metadata, ("POST",))
_route("/users/<user_id>/delete", user_detail.delete_user, ("POST",))
_route("/users/<user_id>/soft-delete", user_detail.soft_delete_user, ("POST",))
_route("/users/<user_id>/sessions/<session_id>/revoke", user_detail.revoke_session, ("POST",))
_route("/users/<user_id>/sessions/revoke", user_detail.revoke_sessions, ("POST",))
_route("/users/<user_id>/unlock", user_detail.unlock, ("POST",))
_route("/users/<user_id>/oauth-grants/<client_id>/revoke", user_detail.revoke_oauth_grant,
       ("POST",))
_route("/users/<user_id>/identities/<identity_id>/unlink", user_detail.confirm_unlink)
_route("/users/<user_id>/identities/<identity_id>/unlink", user_detail.unlink_identity,
       ("POST",))

# Sessions of the whole realm
_route("/sessions", sessions_page.sessions)
_route("/sessions/sign-out", sessions_page.confirm_sign_out, endpoint="sessions_sign_out")
_route("/sessions/sign-out", sessions_page.sign_out_matching, ("POST",))
_route("/sessions/<session_id>/revoke", sessions_page.revoke, ("POST",), "sessions_revoke")

# Invitations
_route("/invites", invites.invites)
_route("/invites", invites.send_invites, ("POST",))
_route("/invites/<user_id>/resend", invites.resend_invite, ("POST",))
_route("/invites/<user_id>/revoke", invites.revoke_invite, ("POST",))

# Email templates
_route("/templates", email_templates.templates)
_route("/templates/<kind>", email_templates.edit)
_route("/templates/<kind>", email_templates.save, ("POST",))
_route("/templates/<kind>/preview", email_templates.preview, ("POST",))
_route("/templates/<kind>/test", email_templates.send_test, ("POST",))
_route("/templates/<kind>/reset", email_templates.reset, ("POST",))

# Logs and settings
_route("/mail", mail_log.mail_log)
_route("/mail/test", mail_log.smtp_test, ("POST",))
_route("/sms", sms.sms_log)
_route("/sms/template", sms.sms_template)
_route("/sms/test", sms.send_test, ("POST",), "sms_test")
_route("/audit", audit_log.audit_log)
_route("/settings", settings_page.settings)

# Sign-in providers
_route("/providers", providers.providers)
_route("/providers/<name>/test", providers.try_provider, ("POST",))

# SAML single sign-on's identity providers
_route("/sso", sso.sso)
_route("/sso", sso.sso_create, ("POST",))
_route("/sso/<provider_id>", sso.sso_provider)
_route("/sso/<provider_id>", sso.sso_update, ("POST",))
_route("/sso/<provider_id>/disable", sso.sso_disable, ("POST",))
_route("/sso/<provider_id>/enable", sso.sso_enable, ("POST",))
_route("/sso/<provider_id>/delete", sso.sso_confirm_delete)
_route("/sso/<provider_id>/delete", sso.sso_delete, ("POST",))

# OAuth apps: the clients of this server as an authorization server
_route("/apps", apps_page.apps)
_route("/apps", apps_page.apps_register, ("POST",))
_route("/apps/<client_id>/secret", apps_page.apps_regenerate_secret, ("POST",))
_route("/apps/<client_id>/disable", apps_page.apps_disable, ("POST",))
_route("/apps/<client_id>/enable", apps_page.apps_enable, ("POST",))
_route("/apps/<client_id>/delete", apps_page.apps_delete, ("POST",))

# Auth hooks
_route("/hooks", hooks.hooks)
_route("/hooks/<name>/test", hooks.send_test, ("POST",), "hook_test")

# Rate limits
_route("/rate-limits", rate_limits.rate_limits)
_route("/rate-limits/reset", rate_limits.reset_key, ("POST",))
_route("/rate-limits/unlock", rate_limits.unlock_account, ("POST",))

# Live configuration (owners change it: console/roles.py keys on "configuration_")
_route("/configuration", configuration.configuration)
_route("/configuration/redirect-test", configuration.redirect_test,
       endpoint="configuration_redirect_test")
_route("/configuration/<path>", configuration.change, ("POST",), "configuration_change")
_route("/configuration/<path>/revert", configuration.revert, ("POST",), "configuration_revert")

# Operators (owners act, everyone reads) and the invitation link's page (no session)
_route("/operators", operators_page.operators)
_route("/operators/invite", operators_page.invite, ("POST",), "operators_invite")
_route("/operators/<operator_id>/role", operators_page.change_role, ("POST",), "operators_role")
_route("/operators/<operator_id>/disable", operators_page.disable, ("POST",), "operators_disable")
_route("/operators/<operator_id>/enable", operators_page.enable, ("POST",), "operators_enable")
_route("/operators/<operator_id>/totp-reset", operators_page.reset_totp, ("POST",),
       "operators_reset_totp")
_route("/operators/<operator_id>/invitation", operators_page.renew_invite, ("POST",),
       "operators_renew_invite")
_route("/operators/<operator_id>/delete", operators_page.delete, ("POST",), "operators_delete")
_route("/join", operators_page.join, endpoint="operator_join")
_route("/join", operators_page.join_submit, ("POST",), "operator_join_submit")
