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
    if name.startswith("custom:"):
        # An operator's provider row (spec 6); imported here: that package imports this one.
        from .custom import provider as custom_provider

        return ResolvedProvider(*custom_provider.resolve(rt, name, code))
    provider = REGISTRY.get(name)
    if provider is None or name not in rt.settings.external.oauth:
        raise _unsupported(code, f"Provider {name} could not be found")
    ctx = context(rt, name)
    problems = missing(provider, ctx.config)
    if problems:
        raise _unsupported(code, problems[0])
    try:
        endpoints = provider.endpoints(ctx)
    except ProviderFailure as exc:
        raise _unsupported(code, str(exc)) from exc
    return ResolvedProvider(provider=provider, ctx=ctx, endpoints=endpoints)


def missing(provider: Provider, config) -> list[str]:
    """Every reason, in resolve()'s order, why ``provider`` cannot be used with ``config``
    (its OAuthProviderSettings); resolve() gives the first, the console lists them all."""
    reasons = []
    if not config.enabled:
        reasons.append("provider is not enabled")
    if not config.client_id:
        reasons.append("missing OAuth client ID")
    if not config.secret:
        reasons.append("missing OAuth secret")
    if not config.redirect_uri:
        reasons.append("missing redirect URI")
    if provider.requires_url and not config.url:
        reasons.append(provider.missing_url_reason)
    return reasons


def _unsupported(code: str, reason: str):
    return bad_request(code, f"Unsupported provider: {reason}")
