"""SSO identity providers: the rules of /admin/sso/providers (GoTrue api/ssoadmin.go; spec
oauth-sso.md section 5), for the admin API and the console alike.

A provider is an sso_providers row with its domains and its saml_providers row (the IdP's
EntityID and metadata, the attribute mapping, the NameID format). Deleting one cascades to its
domains, SAML row and relay states; its users and their ``sso:<id>`` identities stay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from ...errors import ErrorCode, bad_request, not_found, unprocessable
from ...extensions import db
from ...models import SAMLProvider, SSODomain, SSOProvider
from ...runtime import Runtime
from . import idp_metadata
from .attributes import normalized_mapping
from .service_provider import NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT, NAMEID_UNSPECIFIED

NAME_ID_FORMATS = ("", NAMEID_PERSISTENT, NAMEID_EMAIL, NAMEID_TRANSIENT, NAMEID_UNSPECIFIED)
RESOURCE_PREFIX = "resource_"


def _invalid(message: str):
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


def _bad_json(message: str):
    return bad_request(ErrorCode.BAD_JSON, f"Could not parse request body as JSON: {message}")


@dataclass(frozen=True)
class ProviderParams:
    """The body of POST and PUT /admin/sso/providers, type-checked. ``None`` = not given."""

    type: str
    metadata_url: str
    metadata_xml: str
    domains: list[str] | None
    attribute_mapping: dict | None
    name_id_format: str
    resource_id: str | None
    disabled: bool | None


def _string(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad_json(f"{key} must be a string")
    return value


def parse_params(body: dict) -> ProviderParams:
    domains = body.get("domains")
    if domains is not None and (not isinstance(domains, list)
                                or not all(isinstance(d, str) for d in domains)):
        raise _bad_json("domains must be an array of strings")
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise _bad_json("disabled must be a boolean")
    mapping = body.get("attribute_mapping")
    keys = None
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise _bad_json("attribute_mapping must be an object")
        try:
            keys = normalized_mapping(mapping)
        except ValueError as exc:
            raise _bad_json(f"attribute_mapping: {exc}") from None
    return ProviderParams(
        type=_string(body, "type") or "", metadata_url=_string(body, "metadata_url") or "",
        metadata_xml=_string(body, "metadata_xml") or "", domains=domains,
        attribute_mapping=keys, name_id_format=_string(body, "name_id_format") or "",
        resource_id=_string(body, "resource_id"), disabled=disabled)


def _validate(rt: Runtime, params: ProviderParams, *, for_update: bool) -> None:
    """GoTrue's checks, in its order."""
    if not for_update and params.type != "saml":
        raise _invalid("Only 'saml' supported for SSO type")
    if params.metadata_url and params.metadata_xml:
        raise _invalid("Only one of metadata_xml or metadata_url needs to be set")
    if not for_update and not params.metadata_url and not params.metadata_xml:
        raise _invalid("Either metadata_xml or metadata_url must be set")
    if params.metadata_url:
        parts = urlsplit(params.metadata_url)
        if not parts.scheme or not parts.netloc:
            raise _invalid("metadata_url is not a valid URL")
        # Tests serve metadata from an http loopback port (a setting no variable turns on).
        if parts.scheme != "https" and not (rt.settings.saml.allow_http_metadata_urls
                                            and parts.scheme == "http"):
            raise _invalid("metadata_url is not a HTTPS URL")
    if params.name_id_format not in NAME_ID_FORMATS:
        raise _invalid("name_id_format must be unspecified or one of "
                       + ", ".join(NAME_ID_FORMATS[1:]))
    if params.domains is not None and any(not domain.strip() for domain in params.domains):
        raise _invalid("domains must not contain an empty domain")


def _metadata(rt: Runtime, params: ProviderParams) -> tuple[str, idp_metadata.IdPMetadata]:
    raw: str | bytes = params.metadata_xml
    if params.metadata_url:
        raw = idp_metadata.fetch(rt, params.metadata_url)
    parsed = idp_metadata.parse(raw)
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw, parsed


# --- lookups ---------------------------------------------------------------------------------

def load(idp_id: str) -> SSOProvider:
    """By id, or ``resource_<resource_id>``; 404 sso_provider_not_found otherwise."""
    provider = None
    if idp_id.startswith(RESOURCE_PREFIX):
        provider = by_resource_id(idp_id[len(RESOURCE_PREFIX):])
    else:
        try:
            provider = db.session.get(SSOProvider, uuid.UUID(idp_id))
        except ValueError:
            provider = None
    if provider is None:
        raise not_found(ErrorCode.SSO_PROVIDER_NOT_FOUND, "SSO Identity Provider not found")
    return provider


def by_resource_id(resource_id: str) -> SSOProvider | None:
    return db.session.execute(sa.select(SSOProvider).where(
        sa.func.lower(SSOProvider.resource_id) == resource_id.lower())).scalar_one_or_none()


def by_domain(domain: str) -> SSOProvider | None:
    """The provider a domain is assigned to (the whole domain, any case)."""
    return db.session.execute(
        sa.select(SSOProvider).join(SSODomain, SSODomain.sso_provider_id == SSOProvider.id)
        .where(sa.func.lower(SSODomain.domain) == domain.strip().lower())
    ).scalar_one_or_none()


def by_entity_id(entity_id: str) -> SSOProvider | None:
    return db.session.execute(
        sa.select(SSOProvider).join(SAMLProvider, SAMLProvider.sso_provider_id == SSOProvider.id)
        .where(SAMLProvider.entity_id == entity_id)).scalar_one_or_none()


def list_providers(*, resource_id: str = "", resource_id_prefix: str = "") -> list[SSOProvider]:
    """Every provider, newest first; ``resource_id`` (exact) or ``resource_id_prefix`` filter."""
    query = sa.select(SSOProvider)
    if resource_id:
        query = query.where(SSOProvider.resource_id == resource_id)
    elif resource_id_prefix:
        escaped = (resource_id_prefix.replace("\\", "\\\\").replace("%", "\\%")
                   .replace("_", "\\_"))
        query = query.where(SSOProvider.resource_id.like(escaped + "%", escape="\\"))
    query = query.order_by(SSOProvider.created_at.desc(), SSOProvider.id)
    return list(db.session.execute(query).scalars())


# --- changes ---------------------------------------------------------------------------------

def _unique_domains(domains: list[str]) -> list[str]:
    """Each domain once (in any case), sorted: the order a provider lists them in."""
    seen: dict[str, str] = {}
    for domain in domains:
        seen.setdefault(domain.strip().lower(), domain.strip())
    return sorted(seen.values())


def create(rt: Runtime, body: dict) -> SSOProvider:
    params = parse_params(body)
    _validate(rt, params, for_update=False)
    raw, metadata = _metadata(rt, params)
    if by_entity_id(metadata.entity_id) is not None:
        raise unprocessable(ErrorCode.SAML_IDP_ALREADY_EXISTS,
                            f"SAML Identity Provider with this EntityID ({metadata.entity_id}) "
                            "already exists")
    now = rt.now()
    provider = SSOProvider(id=uuid.uuid4(), resource_id=params.resource_id or None,
                           disabled=params.disabled, created_at=now, updated_at=now)
    provider.saml = SAMLProvider(
        id=uuid.uuid4(), entity_id=metadata.entity_id, metadata_xml=raw,
        metadata_url=params.metadata_url or None,
        attribute_mapping=params.attribute_mapping or {},
        name_id_format=params.name_id_format or None, created_at=now, updated_at=now)
    for domain in _unique_domains(params.domains or []):
        taken = by_domain(domain)
        if taken is not None:
            raise bad_request(ErrorCode.SSO_DOMAIN_ALREADY_EXISTS,
                              f"SSO Domain '{domain}' is already assigned to an SSO identity "
                              f"provider ({taken.id})")
        provider.domains.append(SSODomain(id=uuid.uuid4(), domain=domain, created_at=now,
                                          updated_at=now))
    db.session.add(provider)
    _flush_or_conflict()
    return provider


def update(rt: Runtime, provider: SSOProvider, body: dict) -> SSOProvider:
    """PUT: only what the body gives changes, except name_id_format, which takes the body's
    value even when omitted (so omitting it clears it, as in GoTrue)."""
    params = parse_params(body)
    _validate(rt, params, for_update=True)
    saml = provider.saml
    modified = False
    if params.metadata_xml or params.metadata_url:
        raw, metadata = _metadata(rt, params)
        if metadata.entity_id != saml.entity_id:
            raise bad_request(ErrorCode.SAML_ENTITY_ID_MISMATCH,
                              "SAML Metadata can be updated only if the EntityID matches for "
                              f"the provider; expected '{saml.entity_id}' but got "
                              f"'{metadata.entity_id}'")
        if params.metadata_url:
            saml.metadata_url = params.metadata_url
        saml.metadata_xml = raw
        modified = True
    if params.domains is not None:
        modified = _replace_domains(rt, provider, params.domains) or modified
    if params.attribute_mapping is not None and "keys" in params.attribute_mapping:
        if params.attribute_mapping != normalized_mapping(saml.attribute_mapping or {}):
            saml.attribute_mapping = params.attribute_mapping
            modified = True
    if params.name_id_format != (saml.name_id_format or ""):
        saml.name_id_format = params.name_id_format or None
        modified = True
    if params.resource_id is not None and params.resource_id != (provider.resource_id or ""):
        provider.resource_id = params.resource_id or None
        modified = True
    if params.disabled is not None and params.disabled != bool(provider.disabled):
        provider.disabled = params.disabled
        modified = True
    if modified:
        now = rt.now()
        provider.updated_at = saml.updated_at = now
        _flush_or_conflict()
    return provider


def _replace_domains(rt: Runtime, provider: SSOProvider, domains: list[str]) -> bool:
    wanted = _unique_domains(domains)
    kept = {domain.domain.lower() for domain in provider.domains}
    changed = False
    for domain in wanted:
        taken = by_domain(domain)
        if taken is not None and taken.id != provider.id:
            raise bad_request(ErrorCode.SSO_DOMAIN_ALREADY_EXISTS,
                              f"SSO domain '{domain}' already assigned to another provider "
                              f"({taken.id})")
    wanted_keys = {domain.lower() for domain in wanted}
    for row in list(provider.domains):
        if row.domain.lower() not in wanted_keys:
            provider.domains.remove(row)
            changed = True
    # The removed rows go first: a domain may move between spellings of its case.
    db.session.flush()
    now = rt.now()
    for domain in wanted:
        if domain.lower() not in kept:
            provider.domains.append(SSODomain(id=uuid.uuid4(), domain=domain, created_at=now,
                                              updated_at=now))
            changed = True
    return changed


def _flush_or_conflict() -> None:
    """A unique index refused the change (a resource_id taken, a domain or EntityID added by
    a concurrent request): GoTrue's 422 conflict."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise unprocessable(ErrorCode.CONFLICT,
                            "Updating SSO provider failed, likely due to a conflict. Try again?",
                            cause=exc) from exc


def delete(provider: SSOProvider) -> None:
    db.session.delete(provider)
    db.session.flush()
