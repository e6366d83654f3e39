"""What every external provider is made of: endpoints, scopes, kind, and the profile it gives.

A provider module subclasses Provider, sets its name, kind and default endpoints, and maps the
provider's profile to a Profile (spec oauth-sso.md section 2, table B). The registry in
services/oauth/__init__.py lists the modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from ...transports import oauth_http

if TYPE_CHECKING:
    from ...settings.external import OAuthProviderSettings

OAUTH2, OIDC, OIDC_USERINFO = "oauth2", "oidc", "oidc_userinfo"
OAUTH1 = "oauth1"


class ProviderFailure(Exception):
    """The provider's reply could not be turned into a profile (the message is for the log)."""


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    profile: str = ""
    # OIDC providers: where discovery lives.
    discovery: str = ""


@dataclass(frozen=True)
class ProviderEmail:
    email: str
    verified: bool
    primary: bool


@dataclass
class Profile:
    """A provider's answer about the user: the emails and the identity_data claims (sub,
    name, picture, custom_claims, ...)."""

    emails: list[ProviderEmail] = field(default_factory=list)
    claims: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """What the provider sent the browser back to /callback with: OAuth2's code, or OAuth1's
    request token and verifier (Twitter)."""

    code: str = ""
    oauth_token: str = ""
    oauth_verifier: str = ""


@dataclass(frozen=True)
class Context:
    """A provider's settings and the HTTP limits for one request."""

    config: "OAuthProviderSettings"
    timeout: float
    cache_ttl: float


def rebase(url: str, base: str) -> str:
    """``url`` with the scheme and host (and any path prefix) of ``base``, for a provider whose
    URL setting points its endpoints at another server."""
    if not base:
        return url
    target, original = urlsplit(base.rstrip("/")), urlsplit(url)
    return urlunsplit(original._replace(scheme=target.scheme, netloc=target.netloc,
                                        path=target.path + original.path))


def text(value: object) -> str:
    """A profile value as identity_data stores it (numbers become their decimal string)."""
    if value is None or isinstance(value, bool):
        return ""
    return str(value)


class Provider:
    """One external provider; instances are stateless and shared."""

    name: ClassVar[str]
    kind: ClassVar[str] = OAUTH2
    default_scopes: ClassVar[tuple[str, ...]] = ()
    # A fixed provider ignores the client's `scopes`.
    fixed_scopes: ClassVar[bool] = False
    requires_url: ClassVar[bool] = False
    missing_url_reason: ClassVar[str] = ""
    # Credentials go in the token request's body only (no Basic attempt).
    credentials_in_body: ClassVar[bool] = False
    # The provider requires PKCE from its clients (we are its client): flow.start stores a
    # verifier in oauth_client_states and the code exchange sends it.
    requires_pkce: ClassVar[bool] = False

    def endpoints(self, ctx: Context) -> Endpoints:
        raise NotImplementedError

    def scopes(self, requested: str) -> list[str]:
        scopes = list(self.default_scopes)
        if requested and not self.fixed_scopes:
            scopes += requested.split(",")
        return scopes

    def uses_pkce(self, ctx: Context) -> bool:
        """Whether flows with this provider carry a provider-side PKCE verifier."""
        return self.requires_pkce

    def authorize_extras(self) -> dict[str, str]:
        """Parameters this provider adds to the authorize URL."""
        return {}

    def authorize_overrides(self) -> dict[str, str]:
        """Parameters set after the client's passthrough (custom authorization_params)."""
        return {}

    # The client's extra /authorize parameters go on to the provider (Apple: never).
    forwards_passthrough: ClassVar[bool] = True

    def token_params(self, ctx: Context) -> dict[str, str]:
        """Form fields this provider adds to the code exchange."""
        return {}

    def with_form_user(self, profile: Profile, user: str) -> Profile:
        """The profile completed by the callback's `user` form field (Apple only sends it)."""
        return profile

    def authorize_redirect(self, ctx: Context, endpoints: Endpoints, state: str,
                           params: dict[str, str]) -> str:
        """Where GET /authorize sends the browser: the authorize URL with ``params`` (the
        OAuth2 parameters, state included). ProviderFailure when the provider cannot be
        reached (OAuth1 asks it for a request token first)."""
        base = endpoints.authorize
        return base + ("&" if "?" in base else "?") + urlencode(sorted(params.items()))

    def grant_code(self, grant: Grant) -> str:
        """The callback's grant as one value (OAuth2: the code); empty when it is missing."""
        return grant.code

    def exchange(self, ctx: Context, endpoints: Endpoints, grant: Grant,
                 code_verifier: str) -> dict:
        """The token reply for the callback's grant, with a non-empty access_token (OAuth2:
        the code exchange); ProviderFailure otherwise."""
        config = ctx.config
        try:
            return oauth_http.exchange_code(
                endpoints.token, client_id=config.client_id, secret=config.secret,
                redirect_uri=config.redirect_uri, code=grant.code, timeout=ctx.timeout,
                code_verifier=code_verifier, body_only=self.credentials_in_body,
                extra_params=self.token_params(ctx))
        except oauth_http.ProviderHTTPError as exc:
            raise ProviderFailure(str(exc)) from exc

    def profile(self, ctx: Context, token: dict) -> Profile:
        """The user's profile, given the token reply of the code exchange."""
        raise NotImplementedError

    @staticmethod
    def get_json(url: str, token: dict, timeout: float, **headers: str) -> object:
        try:
            return oauth_http.get_json(url, timeout=timeout, access_token=token["access_token"],
                                       headers=headers)
        except oauth_http.ProviderHTTPError as exc:
            raise ProviderFailure(str(exc)) from exc

    @staticmethod
    def get_object(url: str, token: dict, timeout: float, **headers: str) -> dict:
        value = Provider.get_json(url, token, timeout, **headers)
        if not isinstance(value, dict):
            raise ProviderFailure(f"{url}: expected a JSON object")
        return value
