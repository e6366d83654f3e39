"""This server as an OAuth 2.1 / OpenID Connect authorization server for third-party apps
(spec idp-passkeys-web3.md section 1): registered clients, authorization requests and the
user's consent, the code and refresh exchanges, ID tokens, userinfo, grants and discovery.

Shared by the JSON API (api/oauth_server) and the console's apps page.
"""

from __future__ import annotations

from ...errors import ErrorCode, not_found
from ...runtime import Runtime
from ..validation import parse_go_uuid

# The amr method of a session made by a code exchange, and its audit provider_type.
AUTHORIZATION_CODE_METHOD = "oauth_provider/authorization_code"


# A client_id (or another id GoTrue parses as a UUID) as Go reads it; None when not one.
parse_client_id = parse_go_uuid


def require_enabled(rt: Runtime) -> None:
    """404 feature_disabled unless GOTRUE_OAUTH_SERVER_ENABLED (after any auth check)."""
    if not rt.settings.oauth_server.enabled:
        raise not_found(ErrorCode.FEATURE_DISABLED, "OAuth server is disabled")
