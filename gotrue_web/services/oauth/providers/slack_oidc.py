"""Slack "Sign in with Slack" (OpenID Connect), used through its userinfo endpoint; Slack's
user and team ids are namespaced claims."""

from __future__ import annotations

from ..base import OIDC_USERINFO, Endpoints, Profile, Provider, ProviderEmail, rebase, text

USER_ID_CLAIM = "https://slack.com/user_id"
TEAM_ID_CLAIM = "https://slack.com/team_id"


class SlackOIDC(Provider):
    name = "slack_oidc"
    kind = OIDC_USERINFO
    default_scopes = ("profile", "email", "openid")

    def endpoints(self, ctx) -> Endpoints:
        site = rebase("https://slack.com", ctx.config.url)
        return Endpoints(authorize=f"{site}/openid/connect/authorize",
                         token=f"{site}/api/openid.connect.token",
                         profile=f"{site}/api/openid.connect.userInfo")

    def profile(self, ctx, token) -> Profile:
        endpoints = self.endpoints(ctx)
        claims = self.get_object(endpoints.profile, token, ctx.timeout)
        emails = []
        if claims.get("email"):
            emails.append(ProviderEmail(str(claims["email"]), claims.get("email_verified") is True,
                                        True))
        name, picture = text(claims.get("name")), text(claims.get("picture"))
        result = {"iss": rebase("https://slack.com", ctx.config.url),
                  "sub": text(claims.get(USER_ID_CLAIM)), "name": name, "full_name": name,
                  "picture": picture, "avatar_url": picture}
        if claims.get(TEAM_ID_CLAIM):
            result["custom_claims"] = {TEAM_ID_CLAIM: claims[TEAM_ID_CLAIM]}
        return Profile(emails=emails, claims=result)
