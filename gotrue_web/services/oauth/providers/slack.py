"""Slack's legacy "Sign in with Slack" (OAuth 2.0: slack.com/oauth/authorize, then
api/oauth.access); the profile is the OpenID Connect userInfo, with Slack's user and team ids
as namespaced claims. slack_oidc is the OpenID Connect product."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text
from .slack_oidc import TEAM_ID_CLAIM, USER_ID_CLAIM


class Slack(Provider):
    name = "slack"
    default_scopes = ("profile", "email", "openid")

    def endpoints(self, ctx) -> Endpoints:
        site = rebase("https://slack.com", ctx.config.url)
        return Endpoints(authorize=f"{site}/oauth/authorize", token=f"{site}/api/oauth.access",
                         profile=f"{site}/api/openid.connect.userInfo")

    def profile(self, ctx, token) -> Profile:
        claims = self.get_object(self.endpoints(ctx).profile, token, ctx.timeout)
        # Slack only hands out addresses it has confirmed.
        emails = ([ProviderEmail(str(claims["email"]), True, True)]
                  if claims.get("email") else [])
        name, picture = text(claims.get("name")), text(claims.get("picture"))
        result = {"iss": rebase("https://slack.com", ctx.config.url),
                  "sub": text(claims.get(USER_ID_CLAIM)), "name": name, "full_name": name,
                  "picture": picture, "avatar_url": picture}
        if claims.get(TEAM_ID_CLAIM):
            result["custom_claims"] = {TEAM_ID_CLAIM: claims[TEAM_ID_CLAIM]}
        return Profile(emails=emails, claims=result)
