"""Notion: the bot token's owner (/v1/users/me, pinned to API version 2021-08-16)."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text

NOTION_VERSION = "2021-08-16"


class Notion(Provider):
    name = "notion"
    fixed_scopes = True

    def endpoints(self, ctx) -> Endpoints:
        api = rebase("https://api.notion.com/v1", ctx.config.url)
        return Endpoints(authorize=f"{api}/oauth/authorize", token=f"{api}/oauth/token",
                         profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        reply = self.get_object(f"{api}/users/me", token, ctx.timeout,
                                **{"Notion-Version": NOTION_VERSION})
        try:
            user = reply["bot"]["owner"]["user"]
            person = user.get("person") or {}
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderFailure("notion: the reply names no owning user") from exc
        emails = []
        if isinstance(person, dict) and person.get("email"):
            emails.append(ProviderEmail(str(person["email"]), True, True))
        name, picture = text(user.get("name")), text(user.get("avatar_url"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": name, "full_name": name,
            "picture": picture, "avatar_url": picture,
        })
