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


def read(env: EnvReader) -> ExternalSettings:
    return ExternalSettings(
        email=EmailProviderSettings(
            enabled=env.bool("EXTERNAL_EMAIL_ENABLED", True),
            magic_link_enabled=env.bool("EXTERNAL_EMAIL_MAGIC_LINK_ENABLED", True),
            authorized_addresses=env.list("EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES"),
        ),
        phone_enabled=env.bool("EXTERNAL_PHONE_ENABLED", False),
        anonymous_users_enabled=env.bool("EXTERNAL_ANONYMOUS_USERS_ENABLED", False),
        providers={name: env.bool(f"EXTERNAL_{name.upper()}_ENABLED", False)
                   for name in EXTERNAL_PROVIDERS},
        redirect_url=env.str("EXTERNAL_REDIRECT_URL", "", "GOTRUE_EXTERNAL_REDIRECTURL"),
        # GoTrue raises shorter expiries to its 300s minimum.
        flow_state_expiry=max(
            env.duration("EXTERNAL_FLOW_STATE_EXPIRY_DURATION", timedelta(seconds=300)),
            timedelta(seconds=300),
        ),
    )
