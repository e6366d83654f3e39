"""Sign-in methods: email, phone, anonymous, and the OAuth providers /settings reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Mapping

from .env import EnvReader

# OAuth providers GoTrue knows; /settings reports each one's `enabled` flag.
EXTERNAL_PROVIDERS = (
    "apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma", "fly", "github",
    "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify",
    "slack", "slack_oidc", "workos", "twitch", "twitter", "zoom",
)
# Every provider GoTrue reads GOTRUE_EXTERNAL_<P>_* for: /settings has no key for the last two.
OAUTH_PROVIDERS = (*EXTERNAL_PROVIDERS, "x", "vercel_marketplace")
DEFAULT_ID_TOKEN_ISSUERS = ("https://appleid.apple.com", "https://accounts.google.com")


@dataclass(frozen=True)
class OAuthProviderSettings:
    """GOTRUE_EXTERNAL_<P>_*: one external OAuth provider's client registration."""

    enabled: bool = False
    # CLIENT_ID is a comma list: the first is the OAuth client, all are accepted id_token audiences.
    client_ids: tuple[str, ...] = ()
    secret: str = ""
    redirect_uri: str = ""
    # Another server for the provider's endpoints (self-hosted GitLab, a Keycloak realm, a proxy).
    url: str = ""
    email_optional: bool = False
    skip_nonce_check: bool = False

    @property
    def client_id(self) -> str:
        return self.client_ids[0] if self.client_ids else ""


@dataclass(frozen=True)
class EmailProviderSettings:
    enabled: bool = True
    magic_link_enabled: bool = True
    authorized_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExternalSettings:
    email: EmailProviderSettings = field(default_factory=EmailProviderSettings)
    phone_enabled: bool = False
    anonymous_users_enabled: bool = False
    # provider name -> enabled; only the names in EXTERNAL_PROVIDERS
    providers: Mapping[str, bool] = field(default_factory=dict)
    redirect_url: str = ""
    flow_state_expiry: timedelta = timedelta(seconds=300)
    # provider name -> its client registration; every name in OAUTH_PROVIDERS.
    oauth: Mapping[str, OAuthProviderSettings] = field(default_factory=dict)
    oidc_provider_cache_ttl: timedelta = timedelta(hours=1)
    # GOTRUE_INTERNAL_HTTP_TIMEOUT: each call to a provider (token, profile, discovery, JWKS).
    http_timeout: timedelta = timedelta(seconds=10)
    # GOTRUE_MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS: an OAuth sign-in with an unverified email
    # gets a session instead of 422 provider_email_needs_verification.
    allow_unverified_email_sign_ins: bool = False
    # GOTRUE_EXPERIMENTAL_PROVIDER_LINKING_DOMAINS ("p=domain,..."): providers whose identities
    # link only among themselves; the deprecated per-provider list maps a provider to itself.
    linking_domains: Mapping[str, str] = field(default_factory=dict)
    # GOTRUE_EXTERNAL_ALLOWED_ID_TOKEN_ISSUERS: issuers POST /token?grant_type=id_token accepts
    # with the request's client_id when no configured provider matches.
    allowed_id_token_issuers: tuple[str, ...] = DEFAULT_ID_TOKEN_ISSUERS
    # GOTRUE_EXTERNAL_IOS_BUNDLE_ID: also an acceptable audience of Apple ID tokens (a native
    # iOS app's tokens are issued to its bundle id, not to the web Services ID).
    ios_bundle_id: str = ""
    # GOTRUE_CUSTOM_OAUTH_*: operator-defined providers (/admin/custom-providers); 0 = no limit;
    # EXTERNAL_URL is the base of their redirect_uri (else API_EXTERNAL_URL).
    custom_oauth_enabled: bool = True
    custom_oauth_max_providers: int = 0
    custom_oauth_external_url: str = ""
    # Tests only, deliberately NOT read from the environment: the app factory's overrides set it
    # (make_app(**{"external.custom_oauth_allow_private_urls": True})) so that custom providers
    # may live on http loopback fakes. Never on in a served app.
    custom_oauth_allow_private_urls: bool = False


def _provider(env: EnvReader, name: str) -> OAuthProviderSettings:
    prefix = f"EXTERNAL_{name.upper()}_"
    return OAuthProviderSettings(
        enabled=env.bool(prefix + "ENABLED", False),
        client_ids=env.list(prefix + "CLIENT_ID"),
        secret=env.str(prefix + "SECRET"),
        redirect_uri=env.str(prefix + "REDIRECT_URI"),
        url=env.str(prefix + "URL"),
        email_optional=env.bool(prefix + "EMAIL_OPTIONAL", False),
        skip_nonce_check=env.bool(prefix + "SKIP_NONCE_CHECK", False),
    )


def _linking_domains(env: EnvReader) -> dict[str, str]:
    domains = {name: name for name in env.list("EXPERIMENTAL_PROVIDERS_WITH_OWN_LINKING_DOMAIN")}
    for item in env.list("EXPERIMENTAL_PROVIDER_LINKING_DOMAINS"):
        provider, _, domain = item.partition("=")
        if provider.strip() and domain.strip():
            domains[provider.strip()] = domain.strip()
    return domains


def read(env: EnvReader) -> ExternalSettings:
    oauth = {name: _provider(env, name) for name in OAUTH_PROVIDERS}
    return ExternalSettings(
        email=EmailProviderSettings(
            enabled=env.bool("EXTERNAL_EMAIL_ENABLED", True),
            magic_link_enabled=env.bool("EXTERNAL_EMAIL_MAGIC_LINK_ENABLED", True),
            authorized_addresses=env.list("EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES"),
        ),
        phone_enabled=env.bool("EXTERNAL_PHONE_ENABLED", False),
        anonymous_users_enabled=env.bool("EXTERNAL_ANONYMOUS_USERS_ENABLED", False),
        providers={name: oauth[name].enabled for name in EXTERNAL_PROVIDERS},
        oauth=oauth,
        redirect_url=env.str("EXTERNAL_REDIRECT_URL", "", "GOTRUE_EXTERNAL_REDIRECTURL"),
        # GoTrue raises shorter expiries to its 300s minimum.
        flow_state_expiry=max(
            env.duration("EXTERNAL_FLOW_STATE_EXPIRY_DURATION", timedelta(seconds=300)),
            timedelta(seconds=300),
        ),
        oidc_provider_cache_ttl=env.duration("EXTERNAL_OIDC_PROVIDER_CACHE_TTL",
                                             timedelta(hours=1), zero_is_default=True),
        http_timeout=env.duration("INTERNAL_HTTP_TIMEOUT", timedelta(seconds=10),
                                  zero_is_default=True),
        allow_unverified_email_sign_ins=env.bool("MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS", False),
        linking_domains=_linking_domains(env),
        allowed_id_token_issuers=(env.list("EXTERNAL_ALLOWED_ID_TOKEN_ISSUERS")
                                  or DEFAULT_ID_TOKEN_ISSUERS),
        ios_bundle_id=env.str("EXTERNAL_IOS_BUNDLE_ID"),
        custom_oauth_enabled=env.bool("CUSTOM_OAUTH_ENABLED", True),
        custom_oauth_max_providers=env.int("CUSTOM_OAUTH_MAX_PROVIDERS", 0, minimum=0),
        custom_oauth_external_url=env.str("CUSTOM_OAUTH_EXTERNAL_URL"),
    )
