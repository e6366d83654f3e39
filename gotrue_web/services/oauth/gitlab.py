"""GitLab (gitlab.com, or a self-hosted instance with URL=https://gitlab.example.com)."""

from __future__ import annotations

from .base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, text


class GitLab(Provider):
    name = "gitlab"
    default_scopes = ("read_user",)

    def endpoints(self, ctx) -> Endpoints:
        site = ctx.config.url.rstrip("/") or "https://gitlab.com"
        return Endpoints(authorize=f"{site}/oauth/authorize", token=f"{site}/oauth/token",
                         profile=f"{site}/api/v4")

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/user", token, ctx.timeout)
        listed = self.get_json(f"{api}/user/emails", token, ctx.timeout)
        if not isinstance(listed, list):
            raise ProviderFailure("gitlab: /user/emails is not a list")
        # The listed addresses count as unverified secondaries; the account's own address is
        # the primary, verified once GitLab confirmed it.
        emails = [ProviderEmail(str(item["email"]), False, False)
                  for item in listed if isinstance(item, dict) and item.get("email")]
        if user.get("email"):
            emails.append(ProviderEmail(str(user["email"]), bool(user.get("confirmed_at")),
                                        True))
        name = text(user.get("name"))
        picture = text(user.get("avatar_url"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": name, "full_name": name,
            "avatar_url": picture, "picture": picture,
        })
