"""POST /token?grant_type=password|refresh_token|pkce|id_token|web3. Parity: GoTrue
internal/api/token.go, token_oidc.go and web3.go."""

from __future__ import annotations

from flask import request

from ..errors import ErrorCode, OAuthError, bad_request
from ..extensions import db, orm_transaction_open
from ..runtime import current_runtime
from ..serializers import session_json
from ..services import pkce
from ..services.hot_paths import refresh as refresh_grant
from ..services.oauth.id_token import IdTokenRequest, sign_in_with_id_token
from ..services.signin import sign_in_with_password
from ..services.web3 import sign_in as web3
from .errors import json_response
from .guards import authenticate_user
from .params import json_body, request_info


def token():
    grant_type = request.args.get("grant_type", "")
    handler = _GRANTS.get(grant_type)
    if handler is None:
        raise bad_request(ErrorCode.INVALID_CREDENTIALS, "unsupported_grant_type")
    issued = handler()
    # Commit before building the answer: on SQLite the write lock is held until then. The
    # lock-free refresh commits on a connection of its own and never opens the ORM session,
    # which an empty commit would open and close for nothing (about 20 us).
    if orm_transaction_open():
        db.session.commit()
    return json_response(session_json(issued))


def _password_grant():
    body = json_body()
    return sign_in_with_password(
        current_runtime(), email=body.str("email"), phone=body.str("phone"),
        password=body.str("password"), info=request_info(),
    )


def _refresh_token_grant():
    body = json_body()
    presented = body.str("refresh_token")
    if not presented:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "refresh_token required")
    return refresh_grant.refresh(current_runtime(), presented, request_info())


def _pkce_grant():
    body = json_body()
    return pkce.exchange(current_runtime(), body.str("auth_code"), body.str("code_verifier"),
                         request_info())


def _id_token_grant():
    body = json_body()
    if body.bool("link_identity"):
        if not request.headers.get("Authorization", "").strip():
            raise OAuthError("invalid request",
                             "Linking requires a valid user access token in Authorization")
        link_to = authenticate_user().user.id
    else:
        link_to = None
    return sign_in_with_id_token(current_runtime(), IdTokenRequest(
        id_token=body.str("id_token"), access_token=body.str("access_token"),
        nonce=body.str("nonce"), provider=body.str("provider"), client_id=body.str("client_id"),
        issuer=body.str("issuer")), request_info(), link_to=link_to)


def _web3_grant():
    rt = current_runtime()
    # Both chains off is refused before the body is read, as in GoTrue.
    web3.require_enabled(rt)
    body = json_body()
    return web3.sign_in(rt, web3.Web3Request(
        chain=body.str("chain"), message=body.str("message"), signature=body.str("signature")),
        request_info())


_GRANTS = {
    "password": _password_grant,
    "refresh_token": _refresh_token_grant,
    "pkce": _pkce_grant,
    "id_token": _id_token_grant,
    "web3": _web3_grant,
}
