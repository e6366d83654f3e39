"""Google: OIDC through discovery; the ID token is the profile, else the v2 userinfo API."""

from __future__ import annotations

from .base import (OIDC, Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase,
                   text)
from .oidc import discover, validate_id_token

ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
_USERINFO = "https://www.googleapis.com/userinfo/v2/me"


class Google(Provider):
    name = "google"
    kind = OIDC
    default_scopes = ("email", "profile")

    def endpoints(self, ctx) -> Endpoints:
        discovery = self._discovery(ctx)
        authorize, token = (discovery.endpoint("authorization_endpoint"),
                            discovery.endpoint("token_endpoint"))
        if not authorize or not token:
            raise ProviderFailure("the discovery document names no authorization or token "
                                  "endpoint")
        return Endpoints(authorize=authorize, token=token,
                         profile=rebase(_USERINFO, ctx.config.url),
                         discovery=rebase(_DISCOVERY, ctx.config.url))

    def _discovery(self, ctx):
        return discover(rebase(_DISCOVERY, ctx.config.url), base=ctx.config.url,
                        timeout=ctx.timeout, ttl=ctx.cache_ttl)

    def profile(self, ctx, token) -> Profile:
        id_token = token.get("id_token")
        if isinstance(id_token, str) and id_token:
            claims = validate_id_token(self._discovery(ctx), id_token,
                                       audience=ctx.config.client_id, issuers=ISSUERS,
                                       access_token=token["access_token"])
            subject, issuer = text(claims.get("sub")), text(claims.get("iss"))
        else:
            userinfo = rebase(_USERINFO, ctx.config.url)
            claims = self.get_object(userinfo, token, ctx.timeout)
            subject, issuer = text(claims.get("id")), userinfo
        emails = []
        if claims.get("email"):
            verified = claims.get("email_verified") is True or claims.get("verified_email") is True
            emails.append(ProviderEmail(str(claims["email"]), verified, True))
        name, picture = text(claims.get("name")), text(claims.get("picture"))
        result = {"iss": issuer, "sub": subject, "name": name, "full_name": name,
                  "picture": picture, "avatar_url": picture}
        if claims.get("hd"):
            result["custom_claims"] = {"hd": claims["hd"]}
        return Profile(emails=emails, claims=result)
