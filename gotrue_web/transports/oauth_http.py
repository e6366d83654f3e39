"""Outbound HTTP to OAuth providers: authlib's OAuth2Session (requests) with a deadline.

Wire formats only: the code exchange (RFC 6749 section 4.1.3, HTTP Basic client authentication
with one retry sending the credentials in the body, as GoTrue's Go client does) and JSON GETs
with a bearer token. What a reply means for a user is decided in services/oauth.
"""

from __future__ import annotations

import json
from typing import Callable, Mapping
from urllib.parse import parse_qsl, quote_plus

import requests
from authlib.integrations.requests_client import OAuth2Session
from requests.auth import HTTPBasicAuth

# A profile or discovery document larger than this is refused rather than parsed.
MAX_REPLY_BYTES = 1 << 20


class ProviderHTTPError(Exception):
    """The provider could not be reached, timed out, answered non-2xx, or answered garbage."""


def _form_reply_as_json(response: requests.Response) -> requests.Response:
    """Some providers answer the token request form-encoded (GitHub without Accept)."""
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type and response.ok:
        pairs = dict(parse_qsl(response.text, keep_blank_values=True))
        if pairs:
            response._content = json.dumps(pairs).encode()
    return response


def _session(client_id: str, secret: str, redirect_uri: str, method: str) -> OAuth2Session:
    session = OAuth2Session(client_id, secret, redirect_uri=redirect_uri,
                            token_endpoint_auth_method=method)
    session.register_compliance_hook("access_token_response", _form_reply_as_json)
    return session


def exchange_code(token_url: str, *, client_id: str, secret: str, redirect_uri: str, code: str,
                  timeout: float, code_verifier: str = "", body_only: bool = False,
                  extra_params: Mapping[str, str] | None = None) -> dict:
    """POST grant_type=authorization_code; the token reply (it has a non-empty access_token).
    ``extra_params`` are more form fields (Apple wants client_id and secret in the body)."""
    extra = {"code_verifier": code_verifier} if code_verifier else {}
    extra.update(extra_params or {})
    attempts = ["client_secret_post"] if body_only else ["basic", "client_secret_post"]
    last_error: Exception | None = None
    for method in attempts:
        session = _session(client_id, secret, redirect_uri,
                           "client_secret_basic" if method == "basic" else method)
        # Go's oauth2 escapes the credentials before Basic-encoding them (RFC 6749 2.3.1).
        auth = (HTTPBasicAuth(quote_plus(client_id), quote_plus(secret))
                if method == "basic" else None)
        try:
            with session:
                token = session.fetch_token(token_url, grant_type="authorization_code",
                                            code=code, redirect_uri=redirect_uri, auth=auth,
                                            timeout=timeout, **extra)
        except Exception as exc:  # noqa: BLE001 - any failure means "try the body, then fail"
            last_error = exc
            continue
        if not isinstance(token.get("access_token"), str) or not token["access_token"]:
            last_error = ProviderHTTPError("the token reply has no access_token")
            continue
        return dict(token)
    raise ProviderHTTPError(str(last_error)) from last_error


def get_json(url: str, *, timeout: float, access_token: str = "",
             headers: Mapping[str, str] | None = None) -> object:
    """GET ``url`` (with ``Authorization: Bearer`` when a token is given) and parse its JSON."""
    sent = {"Accept": "application/json", **(headers or {})}
    if access_token:
        sent["Authorization"] = f"Bearer {access_token}"
    return json_reply(url, lambda: requests.get(url, headers=sent, timeout=timeout, stream=True,
                                                allow_redirects=False))


def json_reply(url: str, send: Callable[[], requests.Response]) -> object:
    """The parsed JSON of the streamed response ``send()`` returns: 2xx, at most
    MAX_REPLY_BYTES, valid JSON; ProviderHTTPError otherwise."""
    try:
        with send() as response:
            if not 200 <= response.status_code < 300:
                raise ProviderHTTPError(f"{url} answered {response.status_code}")
            body = response.raw.read(MAX_REPLY_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ProviderHTTPError(f"{url}: {exc}") from exc
    if len(body) > MAX_REPLY_BYTES:
        raise ProviderHTTPError(f"{url}: the reply is too large")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ProviderHTTPError(f"{url}: the reply is not JSON") from exc
