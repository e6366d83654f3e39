"""/admin/sso/providers: the SAML identity providers (GoTrue internal/api/ssoadmin.go; spec
oauth-sso.md section 5). ``{idp_id}`` is a provider's id or ``resource_<resource_id>``.

Admin routes (api/__init__.py adds the admin and SAML guards). The rules are in
services/sso/providers.py.
"""

from __future__ import annotations

from flask import request

from ...extensions import db
from ...models import SSOProvider
from ...runtime import current_runtime
from ...serializers import timestamp
from ...services.sso import providers
from ..errors import json_response
from ..params import json_body, refuse_nul


def provider_json(provider: SSOProvider, *, with_metadata_xml: bool = True) -> dict:
    """GoTrue's SSOProvider JSON (the SAML part's empty fields left out, as Go's omitempty)."""
    saml = provider.saml
    saml_body: dict = {"entity_id": saml.entity_id}
    if with_metadata_xml and saml.metadata_xml:
        saml_body["metadata_xml"] = saml.metadata_xml
    if saml.metadata_url:
        saml_body["metadata_url"] = saml.metadata_url
    saml_body["attribute_mapping"] = (
        {"keys": saml.attribute_mapping["keys"]}
        if (saml.attribute_mapping or {}).get("keys") else {})
    if saml.name_id_format:
        saml_body["name_id_format"] = saml.name_id_format
    body: dict = {"id": str(provider.id)}
    if provider.resource_id is not None:
        body["resource_id"] = provider.resource_id
    body.update({
        "disabled": provider.disabled,
        "saml": saml_body,
        "domains": [{"domain": row.domain} for row in provider.domains],
        "created_at": timestamp(provider.created_at),
        "updated_at": timestamp(provider.updated_at),
    })
    return body


def list_providers():
    resource_id = request.args.get("resource_id", "")
    prefix = request.args.get("resource_id_prefix", "")
    refuse_nul(resource_id, "resource_id")
    refuse_nul(prefix, "resource_id_prefix")
    rows = providers.list_providers(resource_id=resource_id, resource_id_prefix=prefix)
    return json_response({"items": [provider_json(row, with_metadata_xml=False)
                                    for row in rows]})


def create_provider():
    row = providers.create(current_runtime(), json_body().data)
    db.session.commit()
    return json_response(provider_json(row), status=201)


def get_provider(idp_id: str):
    return json_response(provider_json(providers.load(idp_id)))


def update_provider(idp_id: str):
    row = providers.load(idp_id)
    providers.update(current_runtime(), row, json_body().data)
    db.session.commit()
    return json_response(provider_json(row))


def delete_provider(idp_id: str):
    row = providers.load(idp_id)
    body = provider_json(row)
    providers.delete(row)
    db.session.commit()
    return json_response(body)
