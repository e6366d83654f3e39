"""Authentication guards for user and admin routes.

Parity: GoTrue internal/api/auth.go (requireAuthentication, requireAdmin, maybeLoadUserOrSession).
The user route guard loads the user, its identities and factors, and the session in one query.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import g, request

from .. import ratelimit
from ..db import NIL_UUID
from ..errors import ErrorCode, GoTrueError, forbidden, too_many_requests, unauthorized
from ..models import Session, User
from ..ratelimit import retry_after_seconds
from ..runtime import RequestInfo, current_runtime
from ..security.access_tokens import claim_session_id, claim_user_id, verify_bearer
from ..services import oauth_server, sessions, sso, users
from ..services.audit import Actor
from ..services.hot_paths import reads as hot_reads
from .params import request_info


@dataclass
class Caller:
    """The authenticated caller of a user route."""

    claims: dict
    user: User
    session: Session | None
    info: RequestInfo


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized(ErrorCode.NO_AUTHORIZATION,
                           "This endpoint requires a valid Bearer token")
    return token


def authenticate_user(*, read_only: bool = False) -> Caller:
    """The caller of a user route: a valid JWT whose user and session still exist, not banned.

    ``read_only`` routes get detached objects read in one query outside the ORM session (and
    no Session object): the cheap path for GET /user.
    """
    rt = current_runtime()
    # Admin routes skip the iss check: Supabase's service_role keys carry iss "supabase".
    claims = verify_bearer(rt.keyring, bearer_token(), issuer=rt.settings.jwt.issuer)
    user_id = claim_user_id(claims)
    session_id = claim_session_id(claims)
    if read_only:
        user, session_found = hot_reads.read_profile(user_id, session_id)
        session = None
    else:
        user, session = users.load_with_session(user_id, session_id)
        session_found = session is not None
    if user is None:
        raise forbidden(ErrorCode.USER_NOT_FOUND, "User from sub claim in JWT does not exist")
    if session_id is not None and not session_found:
        raise forbidden(ErrorCode.SESSION_NOT_FOUND,
                        "Session from session_id claim in JWT does not exist")
    if user.is_banned(rt.now()):
        raise forbidden(ErrorCode.USER_BANNED, "User is banned")
    return Caller(claims=claims, user=user, session=session, info=request_info(claims))


def requires_user(view, *, read_only: bool = False):
    """Route decorator: ``g.caller`` is the authenticated Caller."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.caller = authenticate_user(read_only=read_only)
        return view(*args, **kwargs)

    return wrapper


def authenticate_admin() -> dict:
    """Claims of an admin bearer: its role is in GOTRUE_JWT_ADMIN_ROLES."""
    rt = current_runtime()
    claims = verify_bearer(rt.keyring, bearer_token())
    role = claims.get("role")
    if not isinstance(role, str) or role not in rt.settings.jwt.admin_roles:
        raise forbidden(ErrorCode.NOT_ADMIN, "User not allowed")
    session_id = claim_session_id(claims)
    if session_id is not None:
        session = sessions.get(session_id)
        if session is None:
            raise forbidden(ErrorCode.SESSION_NOT_FOUND,
                            "Session from session_id claim in JWT does not exist")
        if sessions.validity_error(rt, session, rt.now()):
            raise forbidden(ErrorCode.SESSION_EXPIRED, "Session has expired")
    return claims


def requires_admin(view):
    """Route decorator: ``g.admin_claims`` holds the admin's claims; aud ignores the JWT."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.admin_claims = authenticate_admin()
        return view(*args, **kwargs)

    return wrapper


def requires_saml(view):
    """Route decorator: 404 saml_provider_disabled unless GOTRUE_SAML_ENABLED (every /sso and
    /admin/sso route; after the admin check and before the rate limit, as in GoTrue)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        sso.require_enabled(current_runtime())
        return view(*args, **kwargs)

    return wrapper


def requires_oauth_server(view):
    """Route decorator: 404 feature_disabled unless GOTRUE_OAUTH_SERVER_ENABLED (the /oauth
    routes, /user/oauth/grants and /admin/oauth/clients; after the auth check, as in GoTrue)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        oauth_server.require_enabled(current_runtime())
        return view(*args, **kwargs)

    return wrapper


def admin_actor() -> Actor:
    """The audit actor of an admin route: the token's sub and email (or role)."""
    claims = g.admin_claims
    return Actor(id=str(claims.get("sub") or NIL_UUID),
                 username=str(claims.get("email") or claims.get("role") or ""))


def rate_limit_key() -> str:
    """Who a per-client limit counts: the first value of the GOTRUE_RATE_LIMIT_HEADER header
    (set by the proxy in front) as in GoTrue, else the client's address (behind trusted
    proxies, see proxies.py). Unlike GoTrue, limits apply without the header too."""
    header = current_runtime().settings.rate_limit.header
    if header:
        value = request.headers.get(header, "").split(",")[0].strip()
        if value:
            return value
    return request.remote_addr or ""


def identify_client() -> None:
    """before_request of the API: the client every per-client budget of this request counts,
    worked out only if one is counted."""
    ratelimit.identify_requesting_client(rate_limit_key)


def forget_client(_exception=None) -> None:
    ratelimit.identify_requesting_client(None)


def _over_limit(wait: float) -> GoTrueError:
    return too_many_requests(ErrorCode.OVER_REQUEST_RATE_LIMIT, "Request rate limit reached",
                             retry_after=retry_after_seconds(wait))


def rate_limited(view, bucket: str | Callable[[], str]):
    """Route decorator: 429 over_request_rate_limit with Retry-After once the client has used
    up its ``bucket`` (ratelimit.RateLimiter), or the bucket a callable picks per request."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        name = bucket() if callable(bucket) else bucket
        wait = current_runtime().limiter.hit(name, ratelimit.requesting_client())
        if wait is not None:
            raise _over_limit(wait)
        return view(*args, **kwargs)

    return wrapper


def signup_bucket() -> str:
    """Anonymous sign-ins (neither email nor phone) have their own hourly bucket, as in GoTrue."""
    body = request.get_json(silent=True, force=True)
    if isinstance(body, dict) and not body.get("email") and not body.get("phone"):
        return "anonymous"
    return "otp"


def token_bucket() -> str:
    """POST /token: the web3 grant has its own bucket (GOTRUE_RATE_LIMIT_WEB3, spec
    api-contract.md section 1: R:WEB3), every other grant counts against "token"."""
    return "web3" if request.args.get("grant_type", "") == "web3" else "token"


def optional_admin() -> dict | None:
    """Claims of the bearer when it is a valid admin token, else None (no error)."""
    try:
        return authenticate_admin()
    except GoTrueError:
        return None
