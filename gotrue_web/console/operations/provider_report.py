"""The console's providers page: every OAuth provider this server implements with its client
registration, what keeps it from working, and a test that builds its authorize URL; and the
custom providers stored in the database.

No secret is part of the output: a provider's secret shows only as set or not set. The
reasons a provider cannot be used are services.oauth.missing's, the ones GET /authorize
answers with. Reading only; the test creates no flow_state row (it says so).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ...extensions import db
from ...models.oauth_provider import CustomOAuthProvider
from ...runtime import Runtime
from ...services import oauth
from ...services.oauth import base, flow
from ...settings.external import OAuthProviderSettings

KINDS = {base.OAUTH2: "OAuth 2.0", base.OIDC: "OpenID Connect",
         base.OIDC_USERINFO: "OpenID Connect (userinfo)", base.OAUTH1: "OAuth 1.0a"}


@dataclass(frozen=True)
class ProviderRow:
    name: str
    kind: str
    enabled: bool
    client_id: str
    # More client ids: the id_token grant accepts them as audiences.
    other_client_ids: tuple[str, ...]
    secret_set: bool
    redirect_uri: str
    callback_url: str
    default_scopes: tuple[str, ...]
    fixed_scopes: bool
    url: str
    url_required: bool
    email_optional: bool
    uses_pkce: bool
    missing: tuple[str, ...]
    variable_prefix: str

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def redirect_differs(self) -> bool:
        """REDIRECT_URI is set but is not this server's callback (fine behind a proxy that
        serves the API under another path; worth a look otherwise)."""
        return bool(self.redirect_uri) and self.redirect_uri.rstrip("/") != self.callback_url


@dataclass(frozen=True)
class CustomRow:
    identifier: str
    name: str
    provider_type: str
    enabled: bool
    client_id: str
    secret_set: bool
    pkce_enabled: bool
    scopes: tuple[str, ...]
    issuer: str
    authorization_url: str


@dataclass(frozen=True)
class TrialURL:
    provider: str
    url: str
    # The state in the URL: random, with no flow_state row behind it.
    state: str
    pkce: bool
    # OAuth 1.0a: the provider handed out a request token for the URL.
    asked_provider: bool = False


def callback_url(rt: Runtime) -> str:
    """Where providers send the browser back: this server's /callback."""
    return rt.settings.api.external_url.rstrip("/") + "/callback"


def providers(rt: Runtime) -> list[ProviderRow]:
    """The implemented providers, by name. REGISTRY is read at call time: providers are added
    to it as they are written."""
    configured = rt.settings.external.oauth
    callback = callback_url(rt)
    rows = []
    for name, provider in sorted(oauth.REGISTRY.items()):
        if name in configured:
            ctx = oauth.context(rt, name)
            config = ctx.config
            missing = oauth.missing(provider, config)
        else:
            # No GOTRUE_EXTERNAL_<P>_* settings are read for it: resolve() does not know it.
            config = OAuthProviderSettings()
            ctx = base.Context(config=config, timeout=0, cache_ttl=0)
            missing = [f"Provider {name} could not be found"]
        rows.append(ProviderRow(
            name=name, kind=KINDS.get(provider.kind, provider.kind), enabled=config.enabled,
            client_id=config.client_id, other_client_ids=tuple(config.client_ids[1:]),
            secret_set=bool(config.secret), redirect_uri=config.redirect_uri,
            callback_url=callback, default_scopes=tuple(provider.default_scopes),
            fixed_scopes=provider.fixed_scopes, url=config.url,
            url_required=provider.requires_url, email_optional=config.email_optional,
            uses_pkce=provider.uses_pkce(ctx),
            missing=tuple(missing),
            variable_prefix=f"GOTRUE_EXTERNAL_{name.upper()}_"))
    return rows


def enabled_but_unimplemented(rt: Runtime) -> list[str]:
    """Providers switched on in the environment that this server cannot serve yet (GET
    /authorize answers "could not be found" for them)."""
    return sorted(name for name, config in rt.settings.external.oauth.items()
                  if config.enabled and name not in oauth.REGISTRY)


def custom_providers() -> list[CustomRow]:
    """The rows of custom_oauth_providers, by identifier (the secret only as set or not)."""
    found = db.session.execute(
        sa.select(CustomOAuthProvider).order_by(CustomOAuthProvider.identifier)).scalars()
    return [CustomRow(
        identifier=row.identifier, name=row.name, provider_type=row.provider_type,
        enabled=bool(row.enabled), client_id=row.client_id,
        secret_set=bool(row.client_secret), pkce_enabled=bool(row.pkce_enabled),
        scopes=tuple(str(scope) for scope in (row.scopes or ())), issuer=row.issuer or "",
        authorization_url=row.authorization_url or "") for row in found]


def trial_url(rt: Runtime, name: str) -> TrialURL:
    """The authorize URL GET /authorize would send a browser to for ``name`` (a built-in
    provider or a custom one, ``custom:<id>``), with the default scopes. The provider is
    resolved as GET /authorize resolves it (an OIDC provider fetches its discovery document,
    an OAuth 1.0a one hands out a request token), so a refusal is the one a client would get.

    Nothing is written: the state is a random value with no flow_state row, and a provider
    that wants PKCE gets the challenge of a verifier that is not kept."""
    resolved = oauth.resolve(rt, name)
    state = str(uuid.uuid4())
    extra: dict[str, str] = {}
    pkce = resolved.provider.uses_pkce(resolved.ctx)
    if pkce:
        extra = {"code_challenge": create_s256_code_challenge(generate_token(64)),
                 "code_challenge_method": "S256"}
    return TrialURL(provider=name, url=flow.authorize_url(resolved, "", state, extra),
                   state=state, pkce=pkce, asked_provider=resolved.provider.kind == base.OAUTH1)
