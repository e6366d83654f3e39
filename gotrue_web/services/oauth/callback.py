"""/callback after the state is loaded: code exchange, profile, user, and the flow's finish.

Spec oauth-sso.md 1.3 phase B. Every failure is a GoTrueError; the view turns it into the
redirect the spec gives, so a provider that fails, times out or answers garbage never gives a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from ...db import begin_write_locked
from ...errors import ErrorCode, bad_request, internal
from ...extensions import db
from ...models import FlowState
from ...runtime import RequestInfo, Runtime
from ...transports import oauth_http
from .. import sessions
from . import ResolvedProvider, resolve
from .base import Profile, ProviderEmail, ProviderFailure
from .flow import is_pkce
from .identities import link_to_target
from .linking import SignIn, accept_invite, sign_in_user

log = logging.getLogger(__name__)

# identity_data keeps these profile claims when they are not empty (GoTrue's provider.Claims).
IDENTITY_KEYS = ("iss", "sub", "aud", "iat", "exp", "name", "family_name", "given_name",
                 "middle_name", "nickname", "preferred_username", "profile", "picture",
                 "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "email",
                 "phone", "custom_claims", "full_name", "avatar_url", "slug", "provider_id",
                 "user_name")


@dataclass
class Finished:
    """Either the PKCE auth code or the implicit flow's session, with the provider's tokens."""

    auth_code: str = ""
    session: sessions.IssuedSession | None = None
    provider_token: str = ""
    provider_refresh_token: str = ""


def exchange_and_profile(resolved: ResolvedProvider, code: str) -> tuple[dict, Profile]:
    config = resolved.ctx.config
    try:
        token = oauth_http.exchange_code(
            resolved.endpoints.token, client_id=config.client_id, secret=config.secret,
            redirect_uri=config.redirect_uri, code=code, timeout=resolved.ctx.timeout,
            body_only=resolved.provider.credentials_in_body)
    except oauth_http.ProviderHTTPError as exc:
        log.warning("oauth %s: code exchange failed: %s", resolved.name, exc)
        raise internal(f"Unable to exchange external code: {code[:4]}", cause=exc) from exc
    try:
        profile = resolved.provider.profile(resolved.ctx, token)
    except (ProviderFailure, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("oauth %s: profile failed: %s", resolved.name, exc)
        raise internal("Error getting user profile from external provider", cause=exc) from exc
    return token, profile


def identity_data(profile: Profile) -> dict:
    """Spec 1.3 steps 6 and 7: the metadata email, then the non-empty claims."""
    chosen: ProviderEmail | None = None
    for email in profile.emails:
        chosen = email
        if email.primary:
            break
    claims = dict(profile.claims)
    if chosen is not None:
        claims["email"] = chosen.email.lower()
    data = {key: claims[key] for key in IDENTITY_KEYS if claims.get(key) not in (None, "", {})}
    data["provider_id"] = data.get("sub", "")
    data["email_verified"] = bool(chosen.verified) if chosen else False
    data["phone_verified"] = bool(claims.get("phone_verified"))
    return data


def finish(rt: Runtime, flow: FlowState, code: str, info: RequestInfo) -> Finished:
    """Phase B steps 1-11 for a loaded flow."""
    if not code:
        raise bad_request(ErrorCode.BAD_OAUTH_CALLBACK,
                          "OAuth callback with missing authorization code missing")
    provider_type = flow.provider_type
    resolved = resolve(rt, provider_type.lower(), code=ErrorCode.OAUTH_PROVIDER_NOT_SUPPORTED)
    # Provider-side PKCE (flow.oauth_client_state_id, x and custom providers) is checked here
    # once a provider uses it; none of the implemented ones do.
    token, profile = exchange_and_profile(resolved, code)
    if not profile.emails and not flow.email_optional:
        raise internal("Error getting user email from external provider")
    data = identity_data(profile)
    if not data.get("sub"):
        raise internal("error missing provider id")
    sign_in = SignIn(provider=provider_type, subject=data["sub"], identity_data=data,
                     emails=profile.emails, aud=info.aud, email_optional=flow.email_optional,
                     referrer=flow.referrer or rt.settings.site_url, pkce=is_pkce(flow))
    flow = _relock(flow.id)
    if flow.linking_target_id is not None:
        # GET /user/identities/authorize started this flow (spec section 4).
        user = link_to_target(rt, sign_in, flow.linking_target_id, info)
    elif flow.invite_token:
        user = accept_invite(rt, sign_in, flow.invite_token, info)
    else:
        user = sign_in_user(rt, sign_in, info)
    provider_token = str(token.get("access_token") or "")
    provider_refresh = str(token.get("refresh_token") or "")
    now = rt.now()
    if is_pkce(flow):
        flow.provider_access_token = provider_token
        flow.provider_refresh_token = provider_refresh
        flow.user_id = user.id
        flow.auth_code_issued_at = now
        flow.updated_at = now
        return Finished(auth_code=flow.auth_code, provider_token=provider_token,
                        provider_refresh_token=provider_refresh)
    issued = sessions.start_session(rt, user, "oauth", info)
    db.session.delete(flow)
    return Finished(session=issued, provider_token=provider_token,
                    provider_refresh_token=provider_refresh)


def _relock(flow_id) -> FlowState:
    """The flow again, locked, after the calls to the provider: the read transaction ends here
    so no lock is held while waiting on the network, and a concurrent callback that finished
    the flow meanwhile is caught."""
    db.session.rollback()
    # One writer at a time from here: the linking decision reads before it inserts.
    begin_write_locked(db.session)
    flow = db.session.execute(
        sa.select(FlowState).where(FlowState.id == flow_id)
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if flow is None or (is_pkce(flow) and flow.user_id is not None):
        raise bad_request(ErrorCode.FLOW_STATE_ALREADY_USED, "State has already been used")
    return flow
