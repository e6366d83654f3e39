"""Adding, editing, disabling and deleting SSO identity providers from the console: through
services/sso/providers.py (the admin API's rules, refusals and words), each change audited as
``sso_provider_changed`` with who, which provider and what changed. Nothing is committed here.
"""

from __future__ import annotations

from ....models import SSOProvider
from ....runtime import Runtime
from ....services import audit, sso
from ....services.sso import providers
from .attributes_of import snapshot
from .forms import switch_body

ACTION = "sso_provider_changed"


def _record(rt: Runtime, provider: SSOProvider, entity_id: str, change: str, actor: audit.Actor,
            ip: str, **traits) -> None:
    audit.record(ACTION, actor, now=rt.now(), ip=ip, traits={
        "sso_provider_id": str(provider.id), "entity_id": entity_id, "change": change,
        **traits})


def create(rt: Runtime, body: dict, actor: audit.Actor, ip: str) -> SSOProvider:
    sso.require_enabled(rt)
    provider = providers.create(rt, body)
    _record(rt, provider, provider.saml.entity_id, "created", actor, ip,
            domains=[row.domain for row in provider.domains],
            metadata_source="url" if provider.saml.metadata_url else "xml")
    return provider


def update(rt: Runtime, provider: SSOProvider, body: dict, actor: audit.Actor,
           ip: str) -> list[str]:
    """The names of what changed (none: nothing is audited)."""
    sso.require_enabled(rt)
    before = snapshot(provider)
    providers.update(rt, provider, body)
    after = snapshot(provider)
    changed = [name for name in after if after[name] != before[name]]
    if changed:
        traits = {"changed": changed}
        if "domains" in changed:
            traits["domains"] = after["domains"]
        _record(rt, provider, provider.saml.entity_id, "updated", actor, ip, **traits)
    return changed


def set_disabled(rt: Runtime, provider: SSOProvider, disabled: bool, actor: audit.Actor,
                 ip: str) -> bool:
    """Whether anything changed (disabling a disabled provider does not)."""
    sso.require_enabled(rt)
    if provider.is_disabled == disabled:
        return False
    providers.update(rt, provider, switch_body(disabled, provider.saml.name_id_format or ""))
    _record(rt, provider, provider.saml.entity_id, "disabled" if disabled else "enabled",
            actor, ip)
    return True


def delete(rt: Runtime, provider: SSOProvider, actor: audit.Actor, ip: str) -> str:
    """The deleted provider's EntityID. Its users and their identities stay."""
    sso.require_enabled(rt)
    entity_id = provider.saml.entity_id
    domains = [row.domain for row in provider.domains]
    _record(rt, provider, entity_id, "deleted", actor, ip, domains=domains)
    providers.delete(provider)
    return entity_id
