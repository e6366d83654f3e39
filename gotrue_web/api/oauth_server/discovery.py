"""The OAuth 2.0 authorization server metadata and the OpenID Connect discovery document: one
body at both URLs (spec idp-passkeys-web3.md section 1.8). The OpenID one is served even while
the OAuth server is off (api/__init__.py gates only the other)."""

from __future__ import annotations

from ...runtime import current_runtime
from ...services.oauth_server import discovery
from ..errors import json_response


def _document():
    return json_response(discovery.metadata(current_runtime().settings),
                         headers={"Cache-Control": discovery.CACHE_CONTROL})


def authorization_server_metadata():
    return _document()


def openid_configuration():
    return _document()
