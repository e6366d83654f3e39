"""/admin/custom-providers: the rules behind the admin API for custom OAuth/OIDC providers
(spec oauth-sso.md section 6). Views call these and commit once; nothing here commits.

OIDC providers are checked against their discovery document when created and whenever the
issuer or discovery_url changes; the useful part of it is cached on the row
(``discovery_document`` in the API).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ....errors import ErrorCode, bad_request, not_found
from ....extensions import db
from ....models import CustomOAuthProvider
from ....runtime import Runtime
from ....transports import oauth_http
from . import checks, secret_box
from .checks import invalid

WELL_KNOWN = "/.well-known/openid-configuration"
_DISCOVERY_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
_CACHED_ENDPOINTS = (*_DISCOVERY_ENDPOINTS, "userinfo_endpoint", "end_session_endpoint",
                     "revocation_endpoint")


def require_enabled(rt: Runtime) -> None:
    if not rt.settings.external.custom_oauth_enabled:
        raise not_found(ErrorCode.FEATURE_DISABLED, "Custom OAuth providers are disabled")


def list_providers(kind: str) -> list[CustomOAuthProvider]:
    if kind and kind not in checks.PROVIDER_TYPES:
        raise invalid('type must be "oauth2" or "oidc"')
    statement = sa.select(CustomOAuthProvider).order_by(CustomOAuthProvider.created_at,
                                                        CustomOAuthProvider.identifier)
    if kind:
        statement = statement.where(CustomOAuthProvider.provider_type == kind)
    return list(db.session.execute(statement).scalars())


def find(identifier: str) -> CustomOAuthProvider | None:
    return db.session.execute(sa.select(CustomOAuthProvider).where(
        CustomOAuthProvider.identifier == identifier)).scalar_one_or_none()


def load(identifier: str) -> CustomOAuthProvider:
    """The provider ``identifier`` names (400 without the prefix, 404 when there is none)."""
    if not identifier.startswith(checks.PREFIX):
        raise invalid('identifier must start with "custom:"')
    row = find(identifier)
    if row is None:
        raise not_found(ErrorCode.CUSTOM_PROVIDER_NOT_FOUND, "Custom provider not found")
    return row


@dataclass
class _Fields:
    """The body's values, checked; None = not given (keep, on update)."""

    values: dict
    secret: str | None


def _fields(data: dict, *, creating: bool) -> _Fields:
    required = creating
    values: dict = {
        "name": checks.text(data, "name", required=required, limit=checks.MAX_NAME),
        "client_id": checks.text(data, "client_id", required=required,
                                 limit=checks.MAX_CLIENT_ID),
        "acceptable_client_ids": checks.strings(data, "acceptable_client_ids"),
        "scopes": checks.strings(data, "scopes"),
        "custom_claims_allowlist": checks.strings(data, "custom_claims_allowlist",
                                                  allow_empty_items=False),
        "issuer": checks.text(data, "issuer", limit=checks.MAX_URL),
        "discovery_url": checks.text(data, "discovery_url", limit=checks.MAX_URL),
        "authorization_url": checks.text(data, "authorization_url", limit=checks.MAX_URL),
        "token_url": checks.text(data, "token_url", limit=checks.MAX_URL),
        "userinfo_url": checks.text(data, "userinfo_url", limit=checks.MAX_URL),
        "jwks_uri": checks.text(data, "jwks_uri", limit=checks.MAX_URL),
    }
    for key in ("pkce_enabled", "enabled", "email_optional", "skip_nonce_check"):
        values[key] = checks.flag(data, key)
    params = checks.mapping(data, "authorization_params")
    values["authorization_params"] = None if params is None else \
        checks.authorization_params(params)
    attributes = checks.mapping(data, "attribute_mapping")
    values["attribute_mapping"] = None if attributes is None else \
        checks.attribute_mapping(attributes)
    secret = checks.text(data, "client_secret", required=required)
    return _Fields(values=values, secret=secret)


def create(rt: Runtime, data: dict) -> CustomOAuthProvider:
    kind = data.get("provider_type")
    if kind not in checks.PROVIDER_TYPES:
        raise invalid('provider_type must be "oauth2" or "oidc"')
    identifier = checks.identifier(data.get("identifier"))
    fields = _fields(data, creating=True)
    now = rt.now()
    row = CustomOAuthProvider(
        provider_type=kind, identifier=identifier, acceptable_client_ids=[], scopes=[],
        pkce_enabled=True, attribute_mapping={}, authorization_params={},
        custom_claims_allowlist=[], enabled=True, email_optional=False, skip_nonce_check=False,
        created_at=now, updated_at=now)
    _apply(row, fields.values)
    _check_endpoints(rt, row)
    limit = rt.settings.external.custom_oauth_max_providers
    if limit and db.session.execute(
            sa.select(sa.func.count()).select_from(CustomOAuthProvider)).scalar_one() >= limit:
        raise bad_request(ErrorCode.OVER_CUSTOM_PROVIDER_QUOTA,
                          f"Maximum number of custom providers reached ({limit})")
    if find(identifier) is not None:
        raise _duplicate(identifier)
    if kind == "oidc":
        _discover(rt, row)
    row.client_secret = secret_box.seal(rt.settings.jwt.secret, fields.secret or "")
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Another request created the same identifier meanwhile.
        db.session.rollback()
        raise _duplicate(identifier) from exc
    return row


def update(rt: Runtime, row: CustomOAuthProvider, data: dict) -> CustomOAuthProvider:
    """PUT: a partial update. Empty or missing strings keep their value; arrays and maps
    given replace the stored ones."""
    kind = data.get("provider_type")
    if kind not in (None, "", row.provider_type):
        raise invalid("provider_type cannot be changed")
    fields = _fields(data, creating=False)
    before = (row.issuer, row.discovery_url)
    _apply(row, fields.values)
    _check_endpoints(rt, row)
    if row.provider_type == "oidc" and (row.issuer, row.discovery_url) != before:
        _discover(rt, row)
    if fields.secret is not None:
        row.client_secret = secret_box.seal(rt.settings.jwt.secret, fields.secret)
    row.updated_at = rt.now()
    return row


def delete(row: CustomOAuthProvider) -> None:
    db.session.delete(row)


def _duplicate(identifier: str):
    return bad_request(ErrorCode.CONFLICT,
                       f'A custom provider with identifier "{identifier}" already exists')


# Fields of the other provider type are ignored rather than stored unused.
_IGNORED_FOR = {"oidc": ("authorization_url", "token_url", "userinfo_url", "jwks_uri"),
             "oauth2": ("issuer", "discovery_url", "skip_nonce_check")}


def _apply(row: CustomOAuthProvider, values: dict) -> None:
    for key, value in values.items():
        if value is not None and key not in _IGNORED_FOR[row.provider_type]:
            setattr(row, key, list(value) if isinstance(value, list) else value)
    if row.provider_type == "oidc" and "openid" not in row.scopes:
        row.scopes = ["openid", *row.scopes]


def _check_endpoints(rt: Runtime, row: CustomOAuthProvider) -> None:
    """The URLs a provider needs are there, and each one we would call is allowed."""
    if row.provider_type == "oidc":
        needed, optional = ("issuer",), ("discovery_url",)
    else:
        needed, optional = ("authorization_url", "token_url", "userinfo_url"), ("jwks_uri",)
    allow = rt.settings.external.custom_oauth_allow_private_urls
    for key in needed + optional:
        value = getattr(row, key)
        if not value:
            if key in needed:
                raise invalid(f"{key} is required for {row.provider_type} providers")
            continue
        checks.outbound_url(key, value, allow_private=allow)


def discovery_url(row: CustomOAuthProvider) -> str:
    return row.discovery_url or (row.issuer or "").rstrip("/") + WELL_KNOWN


def _discover(rt: Runtime, row: CustomOAuthProvider) -> None:
    """Fetch and check the provider's discovery document; keep its useful part on the row."""
    url = discovery_url(row)
    try:
        document = oauth_http.get_json(
            url, timeout=rt.settings.external.http_timeout.total_seconds())
    except oauth_http.ProviderHTTPError as exc:
        raise invalid(f"Unable to fetch the OIDC discovery document from {url}") from exc
    if not isinstance(document, dict):
        raise invalid(f"The OIDC discovery document at {url} is not a JSON object")
    if document.get("issuer") != row.issuer:
        raise invalid(f'The OIDC discovery document names the issuer '
                      f'"{str(document.get("issuer"))[:200]}", not "{row.issuer}"')
    allow = rt.settings.external.custom_oauth_allow_private_urls
    for key in _DISCOVERY_ENDPOINTS:
        if not isinstance(document.get(key), str) or not document[key]:
            raise invalid(f"The OIDC discovery document has no {key}")
    for key in _CACHED_ENDPOINTS:
        if isinstance(document.get(key), str) and document[key]:
            checks.outbound_url(f"discovery {key}", document[key], allow_private=allow)
    cached = {"issuer": row.issuer}
    cached.update({key: document[key] for key in _CACHED_ENDPOINTS
                   if isinstance(document.get(key), str) and document[key]})
    cached.update({key: value for key, value in document.items()
                   if key.endswith("_supported") and isinstance(value, list)
                   and all(isinstance(item, str) for item in value)})
    row.cached_discovery = cached
    row.discovery_cached_at = rt.now()
