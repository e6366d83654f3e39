"""This server as an OAuth 2.1 / OpenID Connect authorization server: GoTrue's
GOTRUE_OAUTH_SERVER_* variables (spec idp-passkeys-web3.md section 1.1).

The dynamic-registration rate limit is read with the other request limits
(settings/rate_limit.py). ID tokens need an asymmetric key in GOTRUE_JWT_KEYS: without one the
openid scope is refused at /oauth/authorize (spec section 6), and start-up warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..env import EnvReader, SettingsError

DEFAULT_AUTHORIZATION_TTL = timedelta(minutes=10)
SUPPORTED_SCOPES = ("openid", "profile", "email", "phone", "offline_access")


@dataclass(frozen=True)
class OAuthServerSettings:
    enabled: bool = False
    allow_dynamic_registration: bool = False
    # The consent page's path on SITE_URL (/oauth/authorize redirects there).
    authorization_path: str = ""
    # From /oauth/authorize; it also bounds the code's life.
    authorization_ttl: timedelta = DEFAULT_AUTHORIZATION_TTL
    default_scope: str = "email"


def read(env: EnvReader) -> OAuthServerSettings:
    return OAuthServerSettings(
        enabled=env.bool("OAUTH_SERVER_ENABLED", False),
        allow_dynamic_registration=env.bool("OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION", False),
        authorization_path=env.str("OAUTH_SERVER_AUTHORIZATION_PATH"),
        authorization_ttl=env.duration("OAUTH_SERVER_AUTHORIZATION_TTL",
                                       DEFAULT_AUTHORIZATION_TTL, zero_is_default=True),
        default_scope=env.str("OAUTH_SERVER_DEFAULT_SCOPE", "email") or "email",
    )


def check(settings: OAuthServerSettings) -> None:
    unknown = [scope for scope in settings.default_scope.split(" ")
               if scope and scope not in SUPPORTED_SCOPES]
    if unknown:
        raise SettingsError(f"GOTRUE_OAUTH_SERVER_DEFAULT_SCOPE: unsupported scope "
                            f"{unknown[0]!r} (supported: {', '.join(SUPPORTED_SCOPES)})")
