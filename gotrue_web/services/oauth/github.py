"""GitHub (and GitHub Enterprise with URL=https://ghe.example.com, API under URL/api/v3)."""

from __future__ import annotations

from .base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, text


class GitHub(Provider):
    name = "github"
    default_scopes = ("user:email",)

    def endpoints(self, ctx) -> Endpoints:
        site = ctx.config.url.rstrip("/") or "https://github.com"
        base = ctx.config.url.rstrip("/")
        api = f"{base}/api/v3" if base else "https://api.github.com"
        return Endpoints(authorize=f"{site}/login/oauth/authorize",
                         token=f"{site}/login/oauth/access_token", profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/user", token, ctx.timeout)
        listed = self.get_json(f"{api}/user/emails", token, ctx.timeout)
        if not isinstance(listed, list):
            raise ProviderFailure("github: /user/emails is not a list")
        emails = [ProviderEmail(str(item["email"]), bool(item.get("verified")),
                                bool(item.get("primary")))
                  for item in listed if isinstance(item, dict) and item.get("email")]
        name = text(user.get("name"))
        login = text(user.get("login"))
        return Profile(emails=emails, claims={
            "iss": api,
            "sub": text(user.get("id")), "name": name, "full_name": name,
            "avatar_url": text(user.get("avatar_url")), "picture": text(user.get("avatar_url")),
            "preferred_username": login, "user_name": login,
        })
