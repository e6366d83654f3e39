"""LinkedIn "Sign In with LinkedIn using OpenID Connect": the ID token is the profile, issued
by https://www.linkedin.com/oauth whatever URL points the endpoints at."""

from __future__ import annotations

from ..base import OIDC, Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text
from ..oidc import token_reply_claims

ISSUER = "https://www.linkedin.com/oauth"
_DISCOVERY = "https://www.linkedin.com/oauth/.well-known/openid-configuration"
# LinkedIn sends email_verified as a string; these are the spellings Go's ParseBool accepts.
_TRUE, _FALSE = {"1", "t", "T", "TRUE", "true", "True"}, {"0", "f", "F", "FALSE", "false", "False"}


def _verified(value: object) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ProviderFailure(f"linkedin_oidc: email_verified is not a boolean string: {value!r}")


class LinkedInOIDC(Provider):
    name = "linkedin_oidc"
    kind = OIDC
    default_scopes = ("openid", "email", "profile")

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        return Endpoints(authorize=rebase("https://api.linkedin.com/oauth/v2/authorization", url),
                         token=rebase("https://api.linkedin.com/oauth/v2/accessToken", url),
                         discovery=rebase(_DISCOVERY, url))

    def profile(self, ctx, token) -> Profile:
        return claims_profile(token_reply_claims(
            ctx, token, provider=self.name, discovery_url=self.endpoints(ctx).discovery,
            issuers=(ISSUER,)))


def claims_profile(claims: dict) -> Profile:
    """Table B's linkedin_oidc row (the id_token grant maps LinkedIn tokens the same way)."""
    emails = []
    if claims.get("email"):
        emails.append(ProviderEmail(str(claims["email"]),
                                    _verified(claims.get("email_verified")), True))
    given, family = text(claims.get("given_name")), text(claims.get("family_name"))
    return Profile(emails=emails, claims={
        "iss": text(claims.get("iss")), "sub": text(claims.get("sub")),
        "name": f"{given} {family}".strip(), "given_name": given, "family_name": family,
        # LinkedIn may send the locale as an object; identity_data keeps it as sent.
        "locale": claims.get("locale"), "picture": text(claims.get("picture")),
    })
