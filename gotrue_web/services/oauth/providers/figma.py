"""Figma: /v1/me (the handle is the name, img_url the avatar)."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text


class Figma(Provider):
    name = "figma"
    default_scopes = ("current_user:read",)

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        api = rebase("https://api.figma.com", url)
        return Endpoints(authorize=rebase("https://www.figma.com/oauth", url),
                         token=f"{api}/v1/oauth/token", profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/v1/me", token, ctx.timeout)
        emails = []
        if user.get("email"):
            emails.append(ProviderEmail(str(user["email"]), True, True))
        handle = text(user.get("handle"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": handle, "full_name": handle,
            "avatar_url": text(user.get("img_url")),
        })
