"""POST /oauth/token's grants (spec idp-passkeys-web3.md section 1.7; GoTrue's
oauthserver/handlers.go): the authorization_code exchange, which turns an approved
authorization into a session of its client, and the refresh_token grant of such a session.

Errors are in the OAuth shape (OAuthError: ``{"error", "error_description"}``, 400), except the
refresh grant's own (contract section 6) and the client authentication's (client_auth).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...errors import OAuthError, internal
from ...extensions import db
from ...models import AuthorizationStatus, OAuthAuthorization, OAuthClient, User
from ...runtime import RequestInfo, Runtime
from ...security.codes import pkce_verifier_matches
from .. import audit, sessions
from ..hot_paths import refresh as refresh_grant
from . import AUTHORIZATION_CODE_METHOD, id_tokens

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
# What a client registered without grant_types may use (GoTrue's default).
DEFAULT_GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN)
# The audit entry's provider_type of a code exchange.
AUDIT_PROVIDER_TYPE = "oauth_provider_authorization_code"
# Codes are UUIDs; anything that could not be one is not looked up (a NUL byte or an odd
# string would otherwise reach the database).
_MAX_CODE_LENGTH = 255


@dataclass(frozen=True)
class TokenRequest:
    """The body's parameters (JSON, or form then query); resource is read from JSON only."""

    grant_type: str = ""
    code: str = ""
    refresh_token: str = ""
    redirect_uri: str = ""
    code_verifier: str = ""
    resource: str = ""


@dataclass
class Tokens:
    """What /oauth/token answers: the session's tokens, and an ID token for openid."""

    issued: sessions.IssuedSession
    id_token: str | None = None

    def json(self) -> dict:
        body = {"access_token": self.issued.access_token, "token_type": "bearer",
                "expires_in": self.issued.expires_in,
                "refresh_token": self.issued.refresh_token}
        if self.id_token:
            body["id_token"] = self.id_token
        return body


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def grant(rt: Runtime, client: OAuthClient, params: TokenRequest, info: RequestInfo) -> Tokens:
    """Run the requested grant for the authenticated ``client``. The caller commits."""
    grant_type = params.grant_type
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type not in (client.grant_type_list or DEFAULT_GRANT_TYPES):
        raise OAuthError("unsupported_grant_type",
                         f"Client is not allowed to use grant type: {grant_type}")
    if grant_type == AUTHORIZATION_CODE:
        return exchange_code(rt, client, params, info)
    if grant_type == REFRESH_TOKEN:
        return refresh(rt, client, params, info)
    raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant_type}")


def _approved_authorization(code: str) -> OAuthAuthorization | None:
    if not code.isascii() or not code.isprintable() or len(code) > _MAX_CODE_LENGTH:
        return None
    return db.session.execute(
        sa.select(OAuthAuthorization).where(
            OAuthAuthorization.authorization_code == code,
            OAuthAuthorization.status == AuthorizationStatus.approved)
    ).scalar_one_or_none()


def _check_code(rt: Runtime, client: OAuthClient, params: TokenRequest
                ) -> tuple[OAuthAuthorization, User]:
    """GoTrue's checks, in its order: the approved authorization of this client, unexpired,
    for the same resource and redirect_uri when they are given, the PKCE verifier, and a user
    who may sign in."""
    if not params.code:
        raise OAuthError("invalid_request", "code is required for authorization_code grant")
    authorization = _approved_authorization(params.code)
    if authorization is None:
        raise _invalid_grant("Invalid authorization code")
    if rt.now() > authorization.expires_at:
        raise _invalid_grant("Authorization code has expired")
    if authorization.client_id != client.id:
        raise _invalid_grant("Authorization code was not issued for this client")
    if params.resource and params.resource != (authorization.resource or ""):
        raise _invalid_grant("Authorization code resource does not match the resource parameter")
    if params.redirect_uri and params.redirect_uri != authorization.redirect_uri:
        raise _invalid_grant("Invalid redirect_uri")
    if authorization.code_challenge:
        if not params.code_verifier:
            raise _invalid_grant("PKCE verification failed: code_verifier is required when "
                                 "PKCE challenge is present")
        method = (authorization.code_challenge_method or "plain").lower()
        if not pkce_verifier_matches(method, authorization.code_challenge,
                                     params.code_verifier):
            raise _invalid_grant("PKCE verification failed: code challenge does not match "
                                 "previously saved code verifier")
    user = db.session.get(User, authorization.user_id) if authorization.user_id else None
    if user is None:
        raise _invalid_grant("User not found for authorization code")
    if user.is_banned(rt.now()):
        raise OAuthError("access_denied", "User is banned")
    return authorization, user


def exchange_code(rt: Runtime, client: OAuthClient, params: TokenRequest,
                  info: RequestInfo) -> Tokens:
    """The authorization_code grant: a new session of ``client`` for the authorization's user
    (oauth_client_id, scopes; amr oauth_provider/authorization_code), with an ID token when the
    scope has openid. The code is spent in the same transaction: of concurrent redemptions
    exactly one deletes the row and wins. The caller commits."""
    authorization, user = _check_code(rt, client, params)
    scope, nonce, authorization_id = (authorization.scope, authorization.nonce,
                                      authorization.id)
    openid = id_tokens.wants_id_token(scope)
    if openid and not id_tokens.can_sign(rt.keyring):
        # /oauth/authorize refuses openid without a private key; a code from before a key
        # change is refused here, before it is spent (GoTrue spends it, then fails).
        raise internal("Error generating ID token")
    # The conditional delete is the re-lock: a concurrent exchange that deleted the row first
    # (committed) leaves nothing to delete here. On SQLite it takes the write lock.
    spent = db.session.execute(
        sa.delete(OAuthAuthorization).where(
            OAuthAuthorization.id == authorization_id,
            OAuthAuthorization.status == AuthorizationStatus.approved,
            OAuthAuthorization.authorization_code == params.code),
        execution_options={"synchronize_session": False})
    if spent.rowcount != 1:
        raise _invalid_grant("Invalid authorization code")
    now = rt.now()
    audit.record("login", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"provider_type": AUDIT_PROVIDER_TYPE, "client_id": str(client.id)})
    issued = sessions.start_session(rt, user, AUTHORIZATION_CODE_METHOD, info,
                                    oauth_client_id=client.id, scopes=scope)
    token = (id_tokens.id_token(rt, user, str(client.id), scope, nonce, now)
             if openid else None)
    return Tokens(issued, token)


def refresh(rt: Runtime, client: OAuthClient, params: TokenRequest,
            info: RequestInfo) -> Tokens:
    """The refresh_token grant of a session of ``client`` (contract section 6 rotation; the
    session must be this client's). Answers the same four keys, without an ID token."""
    if not params.refresh_token:
        raise OAuthError("invalid_request", "refresh_token is required for refresh_token grant")
    client_id = client.id
    # The client was read in the session's transaction; the grant's locked way must begin its
    # own (begin_write_locked), and nothing has been written yet.
    db.session.rollback()
    return Tokens(refresh_grant.refresh(rt, params.refresh_token, info,
                                        oauth_client_id=client_id))
