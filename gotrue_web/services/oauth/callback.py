"""/callback after the state is loaded: code exchange, profile, user, and the flow's finish.

Spec oauth-sso.md 1.3 phase B. Every failure is a GoTrueError; the view turns it into the
redirect the spec gives, so a provider that fails, times out or answers garbage never gives a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from ...db import begin_write_locked
from ...errors import ErrorCode, GoTrueError, bad_request, internal, unprocessable
from ...extensions import db
from ...models import FlowState, OAuthClientState
from ...runtime import RequestInfo, Runtime
from .. import sessions
from . import ResolvedProvider, resolve
from .base import Grant, Profile, ProviderEmail, ProviderFailure
from .flow import is_pkce
from .identities import link_to_target
from .linking import SignIn, accept_invite, sign_in_user

log = logging.getLogger(__name__)

# A provider-side PKCE verifier outlives its flow by nothing: GoTrue's 5 minutes.
CLIENT_STATE_LIFETIME = timedelta(minutes=5)

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


def exchange_and_profile(resolved: ResolvedProvider, grant: Grant,
                         code_verifier: str = "") -> tuple[dict, Profile]:
    code = resolved.provider.grant_code(grant)
    try:
        token = resolved.provider.exchange(resolved.ctx, resolved.endpoints, grant,
                                           code_verifier)
    except ProviderFailure as exc:
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


def finish(rt: Runtime, flow: FlowState, grant: Grant, info: RequestInfo, *,
           form_user: str = "") -> Finished:
    """Phase B steps 1-11 for a loaded flow; ``form_user`` is the callback's `user` field.

    Metrics: any refusal here is a failed OAuth sign-in; an implicit flow's session a
    successful one (a PKCE flow's is counted when its code is exchanged)."""
    # Read before anything can fail: after a failed flush the flow's attributes cannot be.
    provider = (flow.provider_type or "").lower()
    try:
        return _finish(rt, flow, grant, info, form_user=form_user)
    except GoTrueError:
        rt.metrics.sign_in("oauth", provider, "failure")
        raise


def _finish(rt: Runtime, flow: FlowState, grant: Grant, info: RequestInfo, *,
            form_user: str) -> Finished:
    if not (grant.code or grant.oauth_token):
        raise _missing_grant()
    provider_type = flow.provider_type
    resolved = resolve(rt, provider_type.lower(), code=ErrorCode.OAUTH_PROVIDER_NOT_SUPPORTED)
    if not resolved.provider.grant_code(grant):
        # The provider's own kind of grant is missing (OAuth1: token and verifier).
        raise _missing_grant()
    verifier = _client_verifier(rt, flow, resolved)
    token, profile = exchange_and_profile(resolved, grant, verifier)
    if form_user:
        try:
            profile = resolved.provider.with_form_user(profile, form_user)
        except ProviderFailure as exc:
            raise internal("Error getting user profile from external provider",
                           cause=exc) from exc
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
    rt.metrics.sign_in("oauth", provider_type.lower(), "success")
    db.session.delete(flow)
    return Finished(session=issued, provider_token=provider_token,
                    provider_refresh_token=provider_refresh)


def _missing_grant():
    return bad_request(ErrorCode.BAD_OAUTH_CALLBACK,
                       "OAuth callback with missing authorization code missing")


def _client_verifier(rt: Runtime, flow: FlowState, resolved: ResolvedProvider) -> str:
    """Step 2: the provider-side PKCE verifier, taken (deleted) from oauth_client_states."""
    if flow.oauth_client_state_id is None:
        if resolved.provider.uses_pkce(resolved.ctx):
            raise bad_request(ErrorCode.OAUTH_INVALID_STATE, "OAuth PKCE code verifier missing")
        return ""
    client_state = db.session.get(OAuthClientState, flow.oauth_client_state_id)
    if client_state is None:
        raise unprocessable(ErrorCode.OAUTH_CLIENT_STATE_NOT_FOUND,
                            "OAuth client state not found")
    db.session.delete(client_state)
    # Gone from here on, whatever follows: a verifier is good for one exchange.
    db.session.commit()
    if client_state.provider_type != resolved.name:
        raise bad_request(ErrorCode.OAUTH_INVALID_STATE, "OAuth client state provider mismatch")
    if rt.now() > client_state.created_at + CLIENT_STATE_LIFETIME:
        raise unprocessable(ErrorCode.OAUTH_CLIENT_STATE_EXPIRED, "OAuth client state has expired")
    return client_state.code_verifier or ""


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
