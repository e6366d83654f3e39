"""GET /settings: which sign-in methods this server offers.

Parity: GoTrue internal/api/settings.go. Wire format: exact key set of contract section 10.
"""

from __future__ import annotations

from ..runtime import current_runtime
from ..services import oauth
from ..settings.catalogue.review import UNAVAILABLE, Finding
from ..settings.sms import PROVIDERS as SMS_PROVIDERS
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
        # Only a provider this server can send through (GoTrue echoes any name).
        "sms_provider": settings.sms.provider if settings.sms.provider in SMS_PROVIDERS else "",
        "saml_enabled": settings.saml.enabled,
        "saml_private_key_next_configured": bool(settings.saml.enabled
                                                 and settings.saml.private_key_next),
        "passkeys_enabled": settings.passkeys.enabled,
    }


def settings_view():
    return json_response(public_settings(current_runtime().settings))


def unavailable_features(settings, sms_sender) -> list[Finding]:
    """Sign-in methods and senders that are configured but cannot work here: the start-up
    warnings "configured but not available" (the app factory logs them). ``sms_sender`` is the
    one GOTRUE_SMS_PROVIDER builds (transports.sms.build)."""
    found = []

    def add(variable: str, what: str, why: str) -> None:
        found.append(Finding(variable, UNAVAILABLE,
                             f"{variable}: {what} is configured but not available: {why}"))

    for name, config in settings.external.oauth.items():
        variable = f"GOTRUE_EXTERNAL_{name.upper()}_ENABLED"
        if not config.enabled:
            continue
        if not oauth.is_implemented(name):
            add(variable, f"{name} sign-in", "this server has no such provider, so GET /settings "
                "reports it as disabled")
            continue
        reasons = oauth.missing(oauth.REGISTRY[name], config)
        if reasons:
            add(variable, f"{name} sign-in", "; ".join(reasons))
    provider = settings.sms.provider
    if provider and provider not in SMS_PROVIDERS:
        add("GOTRUE_SMS_PROVIDER", f"the SMS provider {provider!r}", "this server sends through "
            + ", ".join(SMS_PROVIDERS) + ", so GET /settings reports no provider")
    elif provider and not sms_sender.available:
        add("GOTRUE_SMS_PROVIDER", f"the SMS provider {provider}", sms_sender.reason)
    if (settings.external.phone_enabled and not sms_sender.available
            and not settings.hooks.enabled("send_sms") and not settings.sms.test_otp):
        add("GOTRUE_EXTERNAL_PHONE_ENABLED", "phone sign-in", "no SMS provider can send codes "
            "(GOTRUE_SMS_PROVIDER) and the send_sms hook is off")
    webauthn_users = [variable for variable, on in (
        ("GOTRUE_PASSKEY_ENABLED", settings.passkeys.enabled),
        ("GOTRUE_MFA_WEB_AUTHN_ENROLL_ENABLED", settings.mfa.webauthn_enroll_enabled),
        ("GOTRUE_MFA_WEB_AUTHN_VERIFY_ENABLED", settings.mfa.webauthn_verify_enabled)) if on]
    if webauthn_users and not settings.webauthn.configured:
        # GoTrue starts too; every ceremony then answers 500 "Failed to initialize WebAuthn".
        add(webauthn_users[0], "WebAuthn (passkeys or WebAuthn factors)",
            "GOTRUE_WEBAUTHN_RP_ID, GOTRUE_WEBAUTHN_RP_DISPLAY_NAME and "
            "GOTRUE_WEBAUTHN_RP_ORIGINS must all be set; until then every ceremony answers 500")
    return found
