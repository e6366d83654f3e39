"""/admin/custom-providers: operator-defined OAuth2/OIDC providers (spec oauth-sso.md section 6).

Admin routes (api/__init__.py adds the admin guard); all of them answer 404 feature_disabled
when GOTRUE_CUSTOM_OAUTH_ENABLED is false. The rules are in services/oauth/custom/admin.py. The
client secret is write-only: no answer carries it.
"""

from __future__ import annotations

from flask import Response, request

from ...extensions import db
from ...models import CustomOAuthProvider
from ...runtime import current_runtime
from ...serializers import timestamp
from ...services.oauth.custom import admin
from ..errors import json_response
from ..params import json_body, refuse_nul

_COMMON = ("provider_type", "identifier", "name", "client_id", "acceptable_client_ids",
           "scopes", "pkce_enabled", "attribute_mapping", "custom_claims_allowlist",
           "authorization_params", "enabled", "email_optional")
_OIDC = ("issuer", "discovery_url", "skip_nonce_check")
_OAUTH2 = ("authorization_url", "token_url", "userinfo_url", "jwks_uri")


def provider_json(row: CustomOAuthProvider) -> dict:
    body: dict = {"id": str(row.id)}
    body.update({key: getattr(row, key) for key in _COMMON})
    if row.provider_type == "oidc":
        body.update({key: getattr(row, key) for key in _OIDC})
        body["discovery_document"] = row.cached_discovery
    else:
        body.update({key: getattr(row, key) for key in _OAUTH2})
    body["created_at"] = timestamp(row.created_at)
    body["updated_at"] = timestamp(row.updated_at)
    return body


def _enabled():
    rt = current_runtime()
    admin.require_enabled(rt)
    return rt


def list_providers():
    _enabled()
    kind = request.args.get("type", "")
    refuse_nul(kind, "type")
    return json_response({"providers": [provider_json(row)
                                        for row in admin.list_providers(kind)]})


def create_provider():
    rt = _enabled()
    row = admin.create(rt, json_body().data)
    db.session.commit()
    return json_response(provider_json(row), status=201)


def get_provider(identifier: str):
    _enabled()
    return json_response(provider_json(admin.load(identifier)))


def update_provider(identifier: str):
    rt = _enabled()
    row = admin.load(identifier)
    admin.update(rt, row, json_body().data)
    db.session.commit()
    return json_response(provider_json(row))


def delete_provider(identifier: str):
    _enabled()
    admin.delete(admin.load(identifier))
    db.session.commit()
    return Response(status=204)
