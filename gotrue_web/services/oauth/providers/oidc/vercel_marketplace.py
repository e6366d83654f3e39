"""Vercel Marketplace: OIDC with the fixed issuer https://marketplace.vercel.com; the ID token
is the profile. URL moves every host (the API's and the issuer's discovery) to that server."""

from __future__ import annotations

from ...base import OIDC, Endpoints, Profile, Provider, ProviderEmail, rebase, text
from ...oidc import token_reply_claims

ISSUER = "https://marketplace.vercel.com"
_DISCOVERY = ISSUER + "/.well-known/openid-configuration"


def claims_profile(claims: dict) -> Profile:
    """Table B's vercel_marketplace row: a user known across installations keeps one id."""
    email = text(claims.get("user_email"))
    subject = text(claims.get("sub"))
    if text(claims.get("global_user_id")):
        subject = f"global_user_id:{claims['global_user_id']}"
    return Profile(emails=[ProviderEmail(email, True, True)] if email else [], claims={
        "iss": text(claims.get("iss")), "sub": subject, "name": text(claims.get("user_name")),
        "picture": text(claims.get("user_avatar_url"))})


class VercelMarketplace(Provider):
    name = "vercel_marketplace"
    kind = OIDC

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        return Endpoints(authorize=rebase("https://api.vercel.com/oauth/v2/authorization", url),
                         token=rebase("https://api.vercel.com/oauth/v2/accessToken", url),
                         discovery=rebase(_DISCOVERY, url))

    def profile(self, ctx, token) -> Profile:
        return claims_profile(token_reply_claims(
            ctx, token, provider=self.name, discovery_url=self.endpoints(ctx).discovery,
            issuers=(ISSUER,)))
