"""GET /settings: which sign-in methods this server offers.

Parity: GoTrue internal/api/settings.go. Wire format: exact key set of contract section 10.
"""

from __future__ import annotations

from ..runtime import current_runtime
from ..services import oauth
from .errors import json_response

_EXTERNAL_KEYS = (
    "anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma",
    "fly", "github", "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc",
    "notion", "spotify", "slack", "slack_oidc", "workos", "twitch", "twitter", "email", "phone",
    "zoom",
)


def public_settings(settings) -> dict:
    # A provider is reported only when a client can really use it: enabled and implemented.
    # Providers of GoTrue's list this server does not implement yet stay false even when their
    # ENABLED variable is set, so clients never show a button that cannot work.
    enabled = {name: on and oauth.is_implemented(name)
               for name, on in settings.external.providers.items()}
    enabled.update(anonymous_users=settings.external.anonymous_users_enabled,
                   email=settings.external.email.enabled, phone=settings.external.phone_enabled)
    return {
        "external": {name: bool(enabled.get(name)) for name in _EXTERNAL_KEYS},
        "disable_signup": settings.disable_signup,
        "mailer_autoconfirm": settings.mailer.autoconfirm,
        "phone_autoconfirm": settings.sms.autoconfirm,
        "sms_provider": settings.sms.provider,
        "saml_enabled": False,
        "saml_private_key_next_configured": False,
        "passkeys_enabled": False,
    }


def settings_view():
    return json_response(public_settings(current_runtime().settings))
