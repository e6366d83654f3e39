"""The JSON API blueprint: GoTrue's routes, served under /auth/v1 and at the root.

The whole URL table is here, with the guards each route needs: ``auth`` ("user" or "admin",
api.guards) and ``limit``, the per-client rate-limit bucket (ratelimit.RateLimiter) that GoTrue
applies to the route.
"""

from __future__ import annotations

from flask import Blueprint

from . import (admin_users, health, invite, logout, otp, reauthenticate, recover, resend,
               settings, signup, token, user, verify, well_known)
from .guards import rate_limited, requires_admin, requires_user

api = Blueprint("api", __name__)


def _route(rule: str, view, methods: tuple[str, ...], endpoint: str | None = None, *,
           auth: str | None = None, limit: str | None = None, read_only: bool = False) -> None:
    guarded = rate_limited(view, limit) if limit else view
    if auth == "user":
        guarded = requires_user(guarded, read_only=read_only)
    elif auth == "admin":
        guarded = requires_admin(guarded)
    api.add_url_rule(rule, endpoint or view.__name__, guarded, methods=list(methods))


_route("/health", health.health, ("GET",))
_route("/ready", health.ready, ("GET",))
_route("/settings", settings.settings_view, ("GET",), "settings")
_route("/.well-known/jwks.json", well_known.jwks, ("GET",))

_route("/signup", signup.signup, ("POST",), limit="otp")
_route("/token", token.token, ("POST",), limit="token")
_route("/verify", verify.verify_get, ("GET",), limit="verify")
_route("/verify", verify.verify_post, ("POST",), limit="verify")
_route("/otp", otp.otp, ("POST",), limit="otp")
_route("/magiclink", otp.magic_link, ("POST",), limit="otp")
_route("/recover", recover.recover, ("POST",), limit="otp")
_route("/resend", resend.resend, ("POST",), limit="otp")
_route("/logout", logout.logout, ("POST",), auth="user")
_route("/reauthenticate", reauthenticate.reauthenticate, ("GET",), auth="user")
_route("/user", user.get_user, ("GET",), "get_user", auth="user", read_only=True)
_route("/user", user.update_user, ("PUT",), "update_user", auth="user", limit="otp")

_route("/invite", invite.invite, ("POST",), auth="admin")
_route("/admin/generate_link", invite.generate_link, ("POST",), "admin_generate_link",
       auth="admin")
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
