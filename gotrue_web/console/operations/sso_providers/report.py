"""What the SSO page shows: this server's service-provider URLs, and each identity provider
with its domains, metadata source, NameID format and how many users signed in through it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....errors import GoTrueError
from ....extensions import db
from ....models import Identity, SSOProvider
from ....runtime import Runtime
from ....services.sso import identity_provider_name, service_provider
from ....services.sso import providers as sso_providers

# identities.provider has no index of its own: counting stops here, so a big provider costs
# a bounded read.
USER_COUNT_CAP = 1000
NAME_ID_LABELS = {
    "": "Not set (persistent)",
    service_provider.NAMEID_PERSISTENT: "Persistent",
    service_provider.NAMEID_EMAIL: "Email address",
    service_provider.NAMEID_TRANSIENT: "Transient",
    service_provider.NAMEID_UNSPECIFIED: "Unspecified",
}


@dataclass(frozen=True)
class ServiceProviderURLs:
    entity_id: str
    acs_url: str
    metadata_url: str
    download_url: str


def service_provider_urls(rt: Runtime) -> ServiceProviderURLs:
    """What an identity provider is given. Computed from the URLs alone (no key needed), so
    the page can show them while SAML is off."""
    base = service_provider.base_url(rt.settings)
    metadata = f"{base}/sso/saml/metadata"
    return ServiceProviderURLs(entity_id=metadata, acs_url=f"{base}/sso/saml/acs",
                               metadata_url=metadata, download_url=metadata + "?download=true")


def name_id_choices() -> list[tuple[str, str]]:
    """(value, label) of every NameID format the admin API accepts, in its order."""
    return [(value, NAME_ID_LABELS.get(value, value)) for value in sso_providers.NAME_ID_FORMATS]


@dataclass(frozen=True)
class ProviderRow:
    id: uuid.UUID
    entity_id: str
    domains: list[str]
    disabled: bool
    resource_id: str
    metadata_url: str
    name_id_format: str
    attribute_mapping: dict
    created_at: datetime | None
    updated_at: datetime | None
    users: int

    @property
    def users_capped(self) -> bool:
        return self.users >= USER_COUNT_CAP

    @property
    def name_id_label(self) -> str:
        return NAME_ID_LABELS.get(self.name_id_format, self.name_id_format)

    @property
    def mapping_text(self) -> str:
        """The mapping as the edit form shows it ("" when there is none)."""
        if not self.attribute_mapping.get("keys"):
            return ""
        return json.dumps({"keys": self.attribute_mapping["keys"]}, indent=2, sort_keys=True,
                          ensure_ascii=False)


def users_signed_in(provider_id: uuid.UUID) -> int:
    """Identities of ``sso:<id>``, counted up to USER_COUNT_CAP."""
    capped = (sa.select(sa.literal(1)).select_from(Identity)
              .where(Identity.provider == identity_provider_name(provider_id))
              .limit(USER_COUNT_CAP).subquery())
    return db.session.execute(sa.select(sa.func.count()).select_from(capped)).scalar_one()


def row_of(provider: SSOProvider) -> ProviderRow:
    saml = provider.saml
    return ProviderRow(
        id=provider.id, entity_id=saml.entity_id if saml else "",
        domains=[row.domain for row in provider.domains], disabled=provider.is_disabled,
        resource_id=provider.resource_id or "",
        metadata_url=(saml.metadata_url or "") if saml else "",
        name_id_format=(saml.name_id_format or "") if saml else "",
        attribute_mapping=(saml.attribute_mapping or {}) if saml else {},
        created_at=provider.created_at, updated_at=provider.updated_at,
        users=users_signed_in(provider.id))


def rows() -> list[ProviderRow]:
    """Every provider, newest first (the admin API's order)."""
    return [row_of(provider) for provider in sso_providers.list_providers()]


def find(provider_id: str) -> SSOProvider | None:
    """A provider by id (or ``resource_<id>``, as the admin API takes it); None if unknown."""
    try:
        return sso_providers.load(provider_id)
    except GoTrueError as error:
        if error.status == 404:
            return None
        raise
