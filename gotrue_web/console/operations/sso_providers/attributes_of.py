"""A provider's editable facts, for telling what an edit changed (the audit's "changed")."""

from __future__ import annotations

import hashlib

from ....models import SSOProvider


def snapshot(provider: SSOProvider) -> dict:
    saml = provider.saml
    return {
        "domains": sorted(row.domain for row in provider.domains),
        "attribute_mapping": (saml.attribute_mapping or {}).get("keys") or {},
        "name_id_format": saml.name_id_format or "",
        "resource_id": provider.resource_id or "",
        "disabled": provider.is_disabled,
        # The document itself is large: its digest tells whether new metadata was stored.
        "metadata": (saml.metadata_url or "",
                     hashlib.sha256((saml.metadata_xml or "").encode()).hexdigest()),
    }
