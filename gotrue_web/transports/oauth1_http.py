"""Outbound OAuth 1.0a (RFC 5849, HMAC-SHA1) to Twitter: authlib's OAuth1Session (requests).

Wire formats only: the request token (temporary credentials), the access token exchange and
signed GETs. Every call is signed in the Authorization header and has a deadline; what a reply
means for a user is decided in services/oauth.
"""

from __future__ import annotations


import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Session

from .oauth_http import ProviderHTTPError, json_reply

# The provider could not be reached, timed out, refused, or answered garbage: the same failure
# as for OAuth 2.0 providers.
OAuth1HTTPError = ProviderHTTPError


def _token_reply(session: OAuth1Session, url: str, fetch, timeout: float) -> dict:
    try:
        with session:
            # A signature is for one URL: a redirect is a failure, not something to follow.
            reply = fetch(url, timeout=timeout, allow_redirects=False)
    except (requests.RequestException, OAuthError, ValueError) as exc:
        # OAuthError: a non-2xx answer; ValueError: a body that is not a token reply. Both
        # messages carry the provider's words, never our secrets.
        raise OAuth1HTTPError(f"{url}: {exc}") from exc
    token = reply.get("oauth_token") if isinstance(reply, dict) else None
    if not isinstance(token, str) or not token:
        raise OAuth1HTTPError(f"{url}: the reply has no oauth_token")
    return dict(reply)


def request_token(url: str, *, client_id: str, secret: str, callback: str,
                  timeout: float) -> dict:
    """POST for temporary credentials with ``oauth_callback=callback``; the reply (it has a
    non-empty oauth_token)."""
    session = OAuth1Session(client_id, secret, redirect_uri=callback)
    return _token_reply(session, url, session.fetch_request_token, timeout)


def access_token(url: str, *, client_id: str, secret: str, token: str, verifier: str,
                 timeout: float) -> dict:
    """Exchange the request token and its verifier for token credentials. The request token's
    secret is not kept between /authorize and /callback, so the exchange is signed with an
    empty token secret (as GoTrue does; Twitter accepts it)."""
    session = OAuth1Session(client_id, secret, token=token, token_secret="", verifier=verifier)
    return _token_reply(session, url, session.fetch_access_token, timeout)


def get_json(url: str, *, client_id: str, secret: str, token: str, token_secret: str,
             timeout: float) -> object:
    """A GET of ``url`` (its query is signed too) with the token credentials; parsed JSON."""
    with OAuth1Session(client_id, secret, token=token, token_secret=token_secret) as session:
        return json_reply(url, lambda: session.get(
            url, headers={"Accept": "application/json"}, timeout=timeout, stream=True,
            allow_redirects=False))
