"""The ``custom:<id>`` row of the id_token grant's provider table (spec oauth-sso.md section 3):
an enabled OIDC custom provider, its discovery at ``issuer`` + the standard well-known path
(discovery_url is not used here, as in GoTrue), and client_id plus acceptable_client_ids as
the audiences. services/oauth/id_token.py calls ``select_custom`` and passes its own Selected
type and claims mapping, so this module does not import it."""

from __future__ import annotations

from typing import Callable, TypeVar

from ....errors import ErrorCode, bad_request
from ....runtime import Runtime
from .admin import WELL_KNOWN, find

T = TypeVar("T")


def select_custom(rt: Runtime, request, make: Callable[..., T], profile: Callable) -> T:
    name = request.provider
    if not rt.settings.external.custom_oauth_enabled:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Custom OAuth providers are disabled")
    row = find(name)
    if row is None:
        raise bad_request(ErrorCode.VALIDATION_FAILED, f'Custom provider "{name}" not found')
    if not row.enabled:
        raise bad_request(ErrorCode.PROVIDER_DISABLED, f'Custom provider "{name}" is disabled')
    if row.provider_type != "oidc" or not row.issuer:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f'Custom provider "{name}" is not an OIDC provider')
    return make(
        provider=row.identifier, issuer=row.issuer,
        discovery_url=row.issuer.rstrip("/") + WELL_KNOWN, base_url="",
        audiences=(row.client_id, *(row.acceptable_client_ids or ())),
        accepted_issuers=(row.issuer,), skip_nonce_check=bool(row.skip_nonce_check),
        email_optional=bool(row.email_optional), profile=profile)
