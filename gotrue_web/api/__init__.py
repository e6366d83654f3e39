"""The JSON API blueprint: GoTrue's routes, served under /auth/v1 and at the root.

The whole URL table is here, with the guard each route needs.
"""

from __future__ import annotations

from flask import Blueprint

from . import (
    admin_users,
    health,
    invite,
    logout,
    otp,
    reauthenticate,
    recover,
    resend,
    settings,
    signup,
    token,
    user,
    verify,
    well_known,
)
from .guards import requires_admin, requires_user

api = Blueprint("api", __name__)


def _route(rule: str, view, methods: tuple[str, ...], endpoint: str | None = None) -> None:
    api.add_url_rule(rule, endpoint or view.__name__, view, methods=list(methods))


_route("/health", health.health, ("GET",))
_route("/ready", health.ready, ("GET",))
_route("/settings", settings.settings_view, ("GET",), "settings")
_route("/.well-known/jwks.json", well_known.jwks, ("GET",))

_route("/signup", signup.signup, ("POST",))
_route("/token", token.token, ("POST",))
_route("/verify", verify.verify_get, ("GET",))
_route("/verify", verify.verify_post, ("POST",))
_route("/otp", otp.otp, ("POST",))
_route("/magiclink", otp.magic_link, ("POST",))
_route("/recover", recover.recover, ("POST",))
_route("/resend", resend.resend, ("POST",))
_route("/logout", requires_user(logout.logout), ("POST",), "logout")
_route("/reauthenticate", requires_user(reauthenticate.reauthenticate), ("GET",),
       "reauthenticate")
_route("/user", requires_user(user.get_user, read_only=True), ("GET",), "get_user")
_route("/user", requires_user(user.update_user), ("PUT",), "update_user")

_route("/invite", requires_admin(invite.invite), ("POST",), "invite")
_route("/admin/generate_link", requires_admin(invite.generate_link), ("POST",),
       "admin_generate_link")
_route("/admin/users", requires_admin(admin_users.list_users), ("GET",), "admin_list_users")
_route("/admin/users", requires_admin(admin_users.create_user), ("POST",), "admin_create_user")
_route("/admin/users/<user_id>", requires_admin(admin_users.get_user), ("GET",),
       "admin_get_user")
_route("/admin/users/<user_id>", requires_admin(admin_users.update_user), ("PUT",),
       "admin_update_user")
_route("/admin/users/<user_id>", requires_admin(admin_users.delete_user), ("DELETE",),
       "admin_delete_user")
_route("/admin/users/<user_id>/factors", requires_admin(admin_users.list_factors), ("GET",),
       "admin_list_factors")
_route("/admin/users/<user_id>/factors/<factor_id>", requires_admin(admin_users.delete_factor),
       ("DELETE",), "admin_delete_factor")
