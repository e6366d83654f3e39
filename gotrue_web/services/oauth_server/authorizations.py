"""GET /oauth/authorize: a third-party app's authorization request (spec idp-passkeys-web3.md
section 1.5). No user is needed: the request is checked and stored as a pending
oauth_authorizations row, and the browser is sent to the consent page on SITE_URL, which names
it by authorization_id and decides it through the consent API (services/oauth_server/consent.py).

Until the client and redirect_uri are known good, errors are JSON; after that they travel to the
app's redirect_uri as OAuth error parameters, in GoTrue's order and words.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus, unquote_to_bytes, urlsplit

import sqlalchemy as sa

from ...errors import ErrorCode, bad_request
from ...extensions import db
from ...models import AuthorizationStatus, OAuthAuthorization, OAuthClient
from ...runtime import Runtime
from ...settings.oauth_server import SUPPORTED_SCOPES
from . import parse_client_id
from .clients import find_usable_client
from .id_tokens import can_sign

AUTHORIZATION_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
AUTHORIZATION_ID_LENGTH = 32
PKCE_METHODS = ("s256", "plain")
MIN_CHALLENGE_LENGTH, MAX_CHALLENGE_LENGTH = 43, 128
# What the oauth_authorizations columns hold (models/oauth_server.py). Checked here because
# SQLite does not enforce VARCHAR lengths: a longer value is GoTrue's failed insert everywhere.
COLUMN_LIMITS = {"redirect_uri": 2048, "scope": 4096, "state": 4096, "resource": 2048,
                 "code_challenge": 128, "nonce": 255}

INVALID_REQUEST, SERVER_ERROR, ACCESS_DENIED = "invalid_request", "server_error", "access_denied"
OPENID_NEEDS_ASYMMETRIC_KEY = (
    "openid scope requires an asymmetric JWT signing key (GOTRUE_JWT_KEYS)")


@dataclass(frozen=True)
class AuthorizeRequest:
    """The query of GET /oauth/authorize (first value of each; absent = "")."""

    client_id: str = ""
    redirect_uri: str = ""
    response_type: str = ""
    scope: str = ""
    state: str = ""
    resource: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""
    nonce: str = ""


# --- Go's url.Values.Encode ----------------------------------------------------------------------


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _go_unescape(text: bytes) -> bytes | None:
    """Go's QueryUnescape ('+' is a space); None for a malformed %-escape."""
    if _BAD_ESCAPE.search(text):
        return None
    return unquote_to_bytes(text.replace(b"+", b" "))


def _go_parse_query(query: str) -> dict[bytes, list[bytes]]:
    """Go's url.ParseQuery as URL.Query() uses it: pairs it cannot read (a bad escape, a ';')
    are dropped, the others kept in order."""
    values: dict[bytes, list[bytes]] = {}
    for piece in query.encode("utf-8", "surrogateescape").split(b"&"):
        if not piece or b";" in piece:
            continue
        raw_key, _, raw_value = piece.partition(b"=")
        key, value = _go_unescape(raw_key), _go_unescape(raw_value)
        if key is not None and value is not None:
            values.setdefault(key, []).append(value)
    return values


def with_query(uri: str, **params: str) -> str:
    """``uri`` with ``params`` set in its query (empty values left out), encoded as Go's
    url.Values.Encode does: keys sorted, space as '+', everything but [A-Za-z0-9-_.~] escaped.
    The URI's own parameters stay, except those ``params`` replace."""
    base, _, fragment = uri.partition("#")
    prefix, _, query = base.partition("?")
    values = _go_parse_query(query)
    for name, value in params.items():
        if value:
            values[name.encode()] = [value.encode("utf-8", "surrogateescape")]
    encoded = "&".join(f"{quote_plus(key, safe='')}={quote_plus(value, safe='')}"
                       for key in sorted(values) for value in values[key])
    return f"{prefix}?{encoded}" + (f"#{fragment}" if fragment else "")


def error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> str:
    return with_query(redirect_uri, error=error, error_description=description,
                      state=state or "")


def code_redirect(authorization: OAuthAuthorization) -> str:
    """Where an approved authorization sends the browser: the app's redirect_uri with the code
    (and the app's state)."""
    return with_query(authorization.redirect_uri, code=authorization.authorization_code or "",
                      state=authorization.state or "")


# --- checks ---------------------------------------------------------------------------------------


def parse_scope(scope: str) -> list[str]:
    """A scope string split on single spaces, empty parts dropped."""
    return [part for part in scope.split(" ") if part]


def _scope_problem(scopes: list[str]) -> str | None:
    if not scopes:
        return "scope parameter cannot be empty"
    for scope in scopes:
        if scope not in SUPPORTED_SCOPES:
            return f"unsupported scope: {scope}"
    return None


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_BAD_TEXT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# userinfo@, a host (or [IPv6]), and a port of digits only (Go checks no range).
_AUTHORITY = re.compile(r"(?:[^@]*@)?(?:\[[^\]]*\]|[^:@\[\]]*)(?::[0-9]*)?")


def _resource_problem(resource: str) -> str | None:
    """RFC 8707: an absolute URI without fragment or query (Go's url.Parse decides "valid")."""
    if not resource:
        return None
    scheme = _SCHEME.match(resource)
    rest, _, fragment = resource.partition("#")
    before_query = rest.partition("?")[0]
    invalid = (_CONTROL.search(resource) is not None
               or _BAD_TEXT_ESCAPE.search(before_query) is not None
               or _BAD_TEXT_ESCAPE.search(fragment) is not None
               # Without a scheme, a colon in the first segment makes it unparseable.
               or (scheme is None and ":" in resource.split("/", 1)[0]))
    if not invalid:
        try:
            invalid = not _AUTHORITY.fullmatch(urlsplit(resource).netloc)
        except ValueError:  # unbalanced IPv6 brackets
            invalid = True
    if invalid:
        return "resource must be a valid URI"
    if scheme is None:
        return "resource must be an absolute URI"
    if fragment:
        return "resource must not include a fragment component"
    if rest.partition("?")[2]:
        return "resource must not include a query component"
    return None


def _pkce_problem(challenge: str, method: str) -> str | None:
    if not challenge or not method:
        return "PKCE flow requires both code_challenge and code_challenge_method"
    if method.lower() not in PKCE_METHODS:
        return "code_challenge_method must be 'S256' or 'plain'"
    if not MIN_CHALLENGE_LENGTH <= len(challenge.encode()) <= MAX_CHALLENGE_LENGTH:
        return "code_challenge must be between 43 and 128 characters"
    return None


def _redirect_problem(rt: Runtime, params: AuthorizeRequest) -> str | None:
    """The first redirect error of the request, in GoTrue's order; None when it is good."""
    if (params.response_type or "code") != "code":
        return "only response_type=code is supported"
    scopes = parse_scope(params.scope or rt.settings.oauth_server.default_scope)
    problem = (_scope_problem(scopes) or _resource_problem(params.resource)
               or _pkce_problem(params.code_challenge, params.code_challenge_method))
    if problem:
        return problem
    # Ours (spec section 6): an ID token is never signed with a shared secret, so without an
    # asymmetric key the request is refused here rather than after its code is spent.
    if "openid" in scopes and not can_sign(rt.keyring):
        return OPENID_NEEDS_ASYMMETRIC_KEY
    return None


def _known_client(params: AuthorizeRequest) -> OAuthClient:
    """The JSON errors: the client (not deleted, not disabled) and its exact redirect_uri."""
    if not params.client_id:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "client_id is required")
    if not params.redirect_uri:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "redirect_uri is required")
    client_id = parse_client_id(params.client_id)
    if client_id is None:
        raise bad_request(ErrorCode.OAUTH_CLIENT_NOT_FOUND, "invalid client_id format")
    client = find_usable_client(client_id)
    if client is None:
        raise bad_request(ErrorCode.OAUTH_CLIENT_NOT_FOUND, "invalid client_id")
    if params.redirect_uri not in client.redirect_uri_list:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "invalid redirect_uri")
    return client


# --- the request ----------------------------------------------------------------------------------


def new_authorization_id() -> str:
    return "".join(secrets.choice(AUTHORIZATION_ID_ALPHABET)
                   for _ in range(AUTHORIZATION_ID_LENGTH))


def _storable(values: dict) -> bool:
    """Whether the row fits its columns on every database (no NUL: PostgreSQL refuses it)."""
    for name, limit in COLUMN_LIMITS.items():
        value = values.get(name)
        if value is not None and (len(value) > limit or "\x00" in value):
            return False
    return True


def _insert(rt: Runtime, client: OAuthClient, params: AuthorizeRequest,
            now: datetime) -> OAuthAuthorization | None:
    """The pending row, or None when it cannot be stored (GoTrue's failed insert)."""
    values = {
        "redirect_uri": params.redirect_uri,
        "scope": " ".join(parse_scope(params.scope or rt.settings.oauth_server.default_scope)),
        "state": params.state or None, "resource": params.resource or None,
        "code_challenge": params.code_challenge,
        "code_challenge_method": params.code_challenge_method.lower(),
        "nonce": params.nonce or None,
    }
    if not _storable(values):
        return None
    authorization = OAuthAuthorization(
        id=uuid.uuid4(), authorization_id=new_authorization_id(), client_id=client.id,
        response_type="code", status=AuthorizationStatus.pending, created_at=now,
        expires_at=now + rt.settings.oauth_server.authorization_ttl, **values)
    try:
        with db.session.begin_nested():
            db.session.add(authorization)
    except (sa.exc.DataError, sa.exc.IntegrityError):
        return None
    return authorization


def consent_page_url(rt: Runtime, authorization_id: str) -> str | None:
    """SITE_URL + the "/"-prefixed GOTRUE_OAUTH_SERVER_AUTHORIZATION_PATH + the id; None while
    the path is not configured. As in GoTrue, a path holding '?' gets a second one."""
    path = rt.settings.oauth_server.authorization_path
    if not path:
        return None
    if not path.startswith("/"):
        path = "/" + path
    return f"{rt.settings.site_url.rstrip('/')}{path}?authorization_id={authorization_id}"


def start(rt: Runtime, params: AuthorizeRequest) -> str:
    """GET /oauth/authorize: where to send the browser (the consent page, or the app with an
    error). Raises the JSON errors; the caller commits (a stored row stays even when the
    consent page is not configured)."""
    client = _known_client(params)
    problem = _redirect_problem(rt, params)
    if problem:
        return error_redirect(params.redirect_uri, INVALID_REQUEST, problem, params.state)
    authorization = _insert(rt, client, params, rt.now())
    if authorization is None:
        return error_redirect(params.redirect_uri, SERVER_ERROR, "error creating authorization",
                              params.state)
    location = consent_page_url(rt, authorization.authorization_id)
    if location is None:
        return error_redirect(params.redirect_uri, SERVER_ERROR,
                              "oauth authorization path not configured", params.state)
    return location
