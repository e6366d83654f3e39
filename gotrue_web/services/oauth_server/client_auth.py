"""Client authentication at POST /oauth/token (spec idp-passkeys-web3.md section 1.7; GoTrue's
oauthserver/client_auth.go and the requireOAuthClientAuth middleware).

A client proves itself one way: an ``Authorization: Basic`` header (client_secret_basic), else
client_id and client_secret in the body (client_secret_post when a secret is sent, none when
not), and that way must be the one it registered. Every failure is GoTrue's 400
invalid_credentials in the normal error shape, not RFC 6749's 401 invalid_client.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Mapping

from ...errors import ErrorCode, GoTrueError, OAuthError, bad_request
from ...models import ClientType, OAuthClient
from ...security.client_secrets import client_secret_matches
from . import parse_client_id
from .clients import find_usable_client

SECRET_BASIC = "client_secret_basic"
SECRET_POST = "client_secret_post"
NONE = "none"

# The scheme is matched case-sensitively, as GoTrue does ("basic ..." is not Basic auth).
_BASIC_PREFIX = "Basic "


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    method: str


def _refused(message: str) -> GoTrueError:
    return bad_request(ErrorCode.INVALID_CREDENTIALS, message)


def credentials(authorization: str, params: Mapping[str, str] | None) -> ClientCredentials:
    """What the request presents. ``params`` holds the body's client_id and client_secret
    (JSON, or form then query); None when a JSON body could not be read, which only a request
    with a Basic header gets past (400 invalid_request "Invalid JSON body")."""
    if authorization.startswith(_BASIC_PREFIX):
        try:
            # Standard base64 with padding; the pair is taken as sent (no URL-decoding).
            decoded = base64.b64decode(authorization[len(_BASIC_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise _refused("Invalid client credentials: invalid basic auth encoding") from None
        pair = decoded.decode("utf-8", errors="replace")
        if ":" not in pair:
            raise _refused("Invalid client credentials: invalid basic auth format")
        client_id, _, secret = pair.partition(":")
        found = ClientCredentials(client_id, secret, SECRET_BASIC)
    elif params is None:
        raise OAuthError("invalid_request", "Invalid JSON body")
    else:
        secret = params.get("client_secret") or ""
        found = ClientCredentials(params.get("client_id") or "", secret,
                                  SECRET_POST if secret else NONE)
    if not found.client_id:
        raise _refused("Invalid client credentials: client_id is required")
    return found


def authenticate(authorization: str, params: Mapping[str, str] | None) -> OAuthClient:
    """The client the request authenticates as, or 400 invalid_credentials with GoTrue's
    message: the method must be the registered one, a public client sends no secret, and a
    confidential one sends its secret (compared with the stored hash in constant time)."""
    presented = credentials(authorization, params)
    client_id = parse_client_id(presented.client_id)
    if client_id is None:
        raise _refused("Invalid client_id format")
    # A deleted or disabled client is as unknown.
    client = find_usable_client(client_id)
    if client is None:
        raise _refused("Invalid client credentials")
    registered = client.token_endpoint_auth_method
    if presented.method != registered:
        raise _refused(f"invalid authentication method: client is registered for "
                       f"'{registered}' but '{presented.method}' was used")
    if client.client_type == ClientType.public:
        if presented.client_secret:
            raise _refused("public clients must not provide client_secret")
    elif not presented.client_secret:
        raise _refused("confidential clients must provide client_secret")
    elif not client_secret_matches(presented.client_secret, client.client_secret_hash):
        raise _refused("invalid credentials")
    return client
