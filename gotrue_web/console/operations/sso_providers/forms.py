"""The SSO page's forms as the body POST and PUT /admin/sso/providers receive, so that the
services check them exactly as they check the API's (same refusals, same words).

The console adds only what a form needs: domains typed one per line or comma separated, and
the attribute mapping typed as JSON (checked to be ``{"keys": {...}}`` before the services
check its keys)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ....errors import ErrorCode, bad_request

_DOMAIN_SEPARATORS = re.compile(r"[,\s]+")


def _invalid(message: str):
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


def domains(text: str) -> list[str]:
    return [domain for domain in _DOMAIN_SEPARATORS.split(text or "") if domain]


def mapping(text: str) -> dict | None:
    """The mapping typed in the form; None when the field is empty."""
    if not (text or "").strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise _invalid(f"Attribute mapping is not valid JSON: {error}") from None
    # A mapping without "keys" would be taken as no mapping at all: say so instead.
    if not isinstance(value, dict) or set(value) != {"keys"}:
        raise _invalid('Attribute mapping must be a JSON object of the form {"keys": {...}}')
    return value


def _metadata(fields: Mapping[str, str], body: dict) -> None:
    xml = (fields.get("metadata_xml") or "").strip()
    url = (fields.get("metadata_url") or "").strip()
    if xml:
        body["metadata_xml"] = xml
    if url:
        body["metadata_url"] = url


def create_body(fields: Mapping[str, str]) -> dict:
    """POST /admin/sso/providers' body from the add form."""
    body: dict = {"type": "saml", "domains": domains(fields.get("domains", "")),
                  "name_id_format": fields.get("name_id_format", "")}
    _metadata(fields, body)
    typed = mapping(fields.get("attribute_mapping", ""))
    if typed is not None:
        body["attribute_mapping"] = typed
    resource_id = (fields.get("resource_id") or "").strip()
    if resource_id:
        body["resource_id"] = resource_id
    return body


def update_body(fields: Mapping[str, str]) -> dict:
    """PUT /admin/sso/providers/{id}'s body from the edit form: the form shows every field, so
    every field is sent (an emptied mapping clears it, an emptied resource id clears it);
    new metadata only when some was given."""
    typed = mapping(fields.get("attribute_mapping", ""))
    body: dict = {"domains": domains(fields.get("domains", "")),
                  "attribute_mapping": typed if typed is not None else {"keys": {}},
                  "name_id_format": fields.get("name_id_format", ""),
                  "resource_id": (fields.get("resource_id") or "").strip()}
    _metadata(fields, body)
    return body


def switch_body(disabled: bool, name_id_format: str) -> dict:
    """Disable or enable. A PUT always takes name_id_format from its body (GoTrue's rule), so
    the current one goes along to stay as it is."""
    return {"disabled": disabled, "name_id_format": name_id_format}
