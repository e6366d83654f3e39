"""GET /authorize and the first half of /callback: the flow_state row that is the OAuth state.

The state sent to the provider is the flow_state id, a random UUID: unsigned, single use, and
worth nothing once the row is gone (spec oauth-sso.md 1.1, 1.2, 1.3 phase A).
"""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ...errors import ErrorCode, bad_request, internal, not_found, unprocessable
from ...extensions import db
from ...models import (CodeChallengeMethod, FlowState, OAuthClientState, OneTimeToken,
                       OneTimeTokenType, User)
from ...runtime import Runtime
from ...security import codes
from .. import pkce
from . import ResolvedProvider, resolve
from .base import ProviderFailure

log = logging.getLogger(__name__)

# Query keys never forwarded to the provider (compared lower-cased): the OAuth parameters are
# ours to set.
RESERVED = frozenset({"client_id", "client_secret", "redirect_uri", "response_type", "state",
                      "code_challenge", "code_challenge_method", "code_verifier"})
OAUTH_METHOD = "oauth"


def passthrough(query: list[tuple[str, str]]) -> dict[str, str]:
    """The client's extra query parameters for the provider (first value of each key)."""
    kept: dict[str, str] = {}
    for key, value in query:
        if key in ("scopes", "provider") or key.lower() in RESERVED or key in kept:
            continue
        kept["provider" if key == "workos_provider" else key] = value
    return kept


def invited_user(token: str) -> User | None:
    """The user whose outstanding invite (or signup) link carries ``token``.

    Links are stored hashed in one_time_tokens (security/codes.py), so the token is matched in
    its stored forms; the users column is cleared when the link is used up."""
    if not token:
        return None
    user_id = db.session.execute(
        sa.select(OneTimeToken.user_id)
        .where(OneTimeToken.token_hash.in_(list(codes.stored_link_forms(token))),
               OneTimeToken.token_type == OneTimeTokenType.confirmation_token).limit(1)
    ).scalar_one_or_none()
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if user is not None and user.confirmation_token else None


def start(rt: Runtime, *, provider_query: str, scopes: str, pkce_params: pkce.PKCEParams | None,
          invite_token: str, referrer: str, query: list[tuple[str, str]],
          linking_target_id: uuid.UUID | None = None) -> str:
    """Create the flow_state and return the provider's authorize URL. With
    ``linking_target_id`` the callback links the identity to that user (spec section 4)."""
    resolved = resolve(rt, provider_query.lower())
    if invite_token and invited_user(invite_token) is None:
        raise not_found(ErrorCode.USER_NOT_FOUND, "User identified by token not found")
    now = rt.now()
    flow = FlowState(
        id=uuid.uuid4(), auth_code=str(uuid.uuid4()),
        # Without PKCE the columns stay empty: an empty challenge never matches a verifier.
        code_challenge_method=pkce_params.method if pkce_params else CodeChallengeMethod.s256,
        code_challenge=pkce_params.challenge if pkce_params else "",
        # As typed (GoTrue keeps the client's casing here, and identities inherit it).
        provider_type=provider_query, authentication_method=OAUTH_METHOD,
        invite_token=invite_token or None, referrer=referrer, linking_target_id=linking_target_id,
        email_optional=resolved.ctx.config.email_optional, created_at=now, updated_at=now,
    )
    extra = passthrough(query) if resolved.provider.forwards_passthrough else {}
    if resolved.provider.uses_pkce(resolved.ctx):
        # We are the provider's PKCE client: the verifier waits in oauth_client_states.
        client_state = OAuthClientState(id=uuid.uuid4(), provider_type=resolved.name,
                                        code_verifier=generate_token(64), created_at=now)
        db.session.add(client_state)
        flow.oauth_client_state_id = client_state.id
        extra.update(code_challenge=create_s256_code_challenge(client_state.code_verifier),
                     code_challenge_method="S256")
    db.session.add(flow)
    return authorize_url(resolved, scopes, str(flow.id), extra)


def authorize_url(resolved: ResolvedProvider, scopes: str, state: str,
                  extra: dict[str, str]) -> str:
    config = resolved.ctx.config
    params = {"client_id": config.client_id, "redirect_uri": config.redirect_uri,
              "response_type": "code", "state": state}
    scope = " ".join(resolved.provider.scopes(scopes))
    if scope:
        params["scope"] = scope
    params.update(resolved.provider.authorize_extras())
    params.update(extra)
    # Last: a custom provider's authorization_params override the client's passthrough.
    params.update(resolved.provider.authorize_overrides())
    try:
        return resolved.provider.authorize_redirect(resolved.ctx, resolved.endpoints, state,
                                                    params)
    except ProviderFailure as exc:
        # Twitter's request token: GoTrue would redirect to "", a 500 says what happened.
        log.warning("oauth %s: authorize redirect failed: %s", resolved.name, exc)
        raise internal("Unable to start the sign-in with the external provider",
                       cause=exc) from exc


def load_state(rt: Runtime, state: str) -> FlowState:
    """Phase A: the flow named by ``state``, still valid; GoTrueError otherwise."""
    if not state:
        raise bad_request(ErrorCode.BAD_OAUTH_CALLBACK, "OAuth state parameter missing")
    try:
        flow_id = uuid.UUID(state)
    except ValueError:
        raise bad_request(ErrorCode.BAD_OAUTH_STATE, "OAuth state parameter is invalid") from None
    flow = db.session.get(FlowState, flow_id)
    if flow is None or flow.authentication_method != OAUTH_METHOD:
        raise bad_request(ErrorCode.BAD_OAUTH_STATE, "OAuth state not found or expired")
    expiry = rt.settings.external.flow_state_expiry
    if flow.created_at is None or rt.now() > flow.created_at + expiry:
        raise bad_request(ErrorCode.BAD_OAUTH_STATE, "OAuth state has expired")
    if flow.code_challenge and flow.user_id is not None:
        raise bad_request(ErrorCode.FLOW_STATE_ALREADY_USED, "State has already been used")
    if flow.linking_target_id is not None and db.session.get(User, flow.linking_target_id) is None:
        raise unprocessable(ErrorCode.USER_NOT_FOUND, "Linking target user not found")
    return flow


def is_pkce(flow: FlowState) -> bool:
    return bool(flow.code_challenge)


__all__ = ["OAUTH_METHOD", "authorize_url", "invited_user", "is_pkce",
           "load_state", "passthrough", "start"]
