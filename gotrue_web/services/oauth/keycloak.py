"""Keycloak: an OIDC server used through its userinfo endpoint; URL is the realm
(https://kc.example.com/realms/myrealm) and is required."""

from __future__ import annotations

from .base import OIDC_USERINFO, Endpoints, Profile, Provider, ProviderEmail, text

# userinfo claims that identity_data carries under their own names, not in custom_claims.
_OWN_CLAIMS = {"name", "sub", "email", "email_verified"}


class Keycloak(Provider):
    name = "keycloak"
    kind = OIDC_USERINFO
    default_scopes = ("profile", "email")
    requires_url = True
    missing_url_reason = "unable to find URL for the Keycloak provider"

    def endpoints(self, ctx) -> Endpoints:
        realm = ctx.config.url.rstrip("/")
        base = f"{realm}/protocol/openid-connect"
        return Endpoints(authorize=f"{base}/auth", token=f"{base}/token",
                         profile=f"{base}/userinfo")

    def profile(self, ctx, token) -> Profile:
        claims = self.get_object(self.endpoints(ctx).profile, token, ctx.timeout)
        emails = []
        if claims.get("email"):
            emails.append(ProviderEmail(str(claims["email"]), claims.get("email_verified") is True,
                                        True))
        name = text(claims.get("name"))
        return Profile(emails=emails, claims={
            "iss": ctx.config.url.rstrip("/"), "sub": text(claims.get("sub")), "name": name,
            "full_name": name,
            "custom_claims": {k: v for k, v in claims.items() if k not in _OWN_CLAIMS},
        })
