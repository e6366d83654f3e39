"""Fly.io: the profile is the access token's own description (/oauth/token/info)."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text

_CUSTOM = ("resource_owner_id", "organizations", "application", "scope", "created_at")


class Fly(Provider):
    name = "fly"
    default_scopes = ("read",)

    def endpoints(self, ctx) -> Endpoints:
        api = rebase("https://api.fly.io", ctx.config.url)
        return Endpoints(authorize=f"{api}/oauth/authorize", token=f"{api}/oauth/token",
                         profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        info = self.get_object(f"{api}/oauth/token/info", token, ctx.timeout)
        emails = []
        if info.get("email"):
            emails.append(ProviderEmail(str(info["email"]), True, True))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(info.get("user_id")),
            "full_name": text(info.get("user_name")),
            "custom_claims": {key: info[key] for key in _CUSTOM if key in info},
        })
