"""This server as an OAuth 2.1 / OpenID Connect authorization server for third-party apps
(spec idp-passkeys-web3.md section 1): registered clients, authorization requests and the
user's consent, the code and refresh exchanges, ID tokens, userinfo, grants and discovery.

Shared by the JSON API (api/oauth_server) and the console's apps page.
"""

from __future__ import annotations

import re
import uuid

from ...errors import ErrorCode, not_found
from ...runtime import Runtime

# The amr method of a session made by a code exchange, and its audit provider_type.
AUTHORIZATION_CODE_METHOD = "oauth_provider/authorization_code"


# The forms Go's uuid.FromString accepts: canonical, 32 hex digits, in braces, or as a URN
# (Python's uuid.UUID would also take stray hyphens anywhere).
_UUID_FORM = re.compile(
    r"(?:urn:uuid:)?(\{)?(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|[0-9a-fA-F]{32})(?(1)\})")


def parse_client_id(text) -> uuid.UUID | None:
    """A client_id (or another id GoTrue parses as a UUID) as Go reads it; None when it is
    not one."""
    if not isinstance(text, str) or not _UUID_FORM.fullmatch(text):
        return None
    return uuid.UUID(text)


def require_enabled(rt: Runtime) -> None:
    """404 feature_disabled unless GOTRUE_OAUTH_SERVER_ENABLED (after any auth check)."""
    if not rt.settings.oauth_server.enabled:
        raise not_found(ErrorCode.FEATURE_DISABLED, "OAuth server is disabled")
