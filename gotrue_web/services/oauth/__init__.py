"""External OAuth providers: the registry and provider resolution (spec oauth-sso.md 1.1, 2).

Adding a provider: a module with a Provider subclass (services/oauth/base.py) and one line in
REGISTRY. /settings reports a provider as enabled only when it is configured and in REGISTRY.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ErrorCode, bad_request
from ...runtime import Runtime
from .base import Context, Endpoints, Provider, ProviderFailure
from .github import GitHub
from .gitlab import GitLab
from .google import Google
from .keycloak import Keycloak
from . import providers as more_providers

REGISTRY: dict[str, Provider] = {provider.name: provider for provider in (
    GitHub(), GitLab(), Google(), Keycloak(), *more_providers.ALL,
)}


@dataclass(frozen=True)
class ResolvedProvider:
    provider: Provider
    ctx: Context
    endpoints: Endpoints

    @property
    def name(self) -> str:
        return self.provider.name


def is_implemented(name: str) -> bool:
    return name in REGISTRY


def context(rt: Runtime, name: str) -> Context:
    external = rt.settings.external
    config = external.oauth.get(name)
    if config is None:
        raise KeyError(name)
    return Context(config=config, timeout=external.http_timeout.total_seconds(),
                   cache_ttl=external.oidc_provider_cache_ttl.total_seconds())


def resolve(rt: Runtime, name: str, *, code: str = ErrorCode.VALIDATION_FAILED
            ) -> ResolvedProvider:
    """The usable provider ``name`` (lower-cased by the caller); 400 "Unsupported provider:
    <reason>" otherwise. A provider GoTrue knows but this server does not implement yet is
    "not found" like an unknown name, so a client never starts a flow that cannot finish."""
    provider = REGISTRY.get(name)
    if provider is None or name not in rt.settings.external.oauth:
        raise _unsupported(code, f"Provider {name} could not be found")
    ctx = context(rt, name)
    config = ctx.config
    if not config.enabled:
        raise _unsupported(code, "provider is not enabled")
    if not config.client_id:
        raise _unsupported(code, "missing OAuth client ID")
    if not config.secret:
        raise _unsupported(code, "missing OAuth secret")
    if not config.redirect_uri:
        raise _unsupported(code, "missing redirect URI")
    if provider.requires_url and not config.url:
        raise _unsupported(code, provider.missing_url_reason)
    try:
        endpoints = provider.endpoints(ctx)
    except ProviderFailure as exc:
        raise _unsupported(code, str(exc)) from exc
    return ResolvedProvider(provider=provider, ctx=ctx, endpoints=endpoints)


def _unsupported(code: str, reason: str):
    return bad_request(code, f"Unsupported provider: {reason}")
