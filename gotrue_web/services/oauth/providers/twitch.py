"""Twitch: the Helix users API, which wants the app's Client-Id next to the bearer token."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text

_CUSTOM = ("broadcaster_type", "description", "type", "offline_image_url", "view_count")


class Twitch(Provider):
    name = "twitch"
    default_scopes = ("user:read:email",)

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        site = rebase("https://id.twitch.tv/oauth2", url)
        return Endpoints(authorize=f"{site}/authorize", token=f"{site}/token",
                         profile=rebase("https://api.twitch.tv", url))

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        reply = self.get_object(f"{api}/helix/users", token, ctx.timeout,
                                **{"Client-Id": ctx.config.client_id})
        data = reply.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ProviderFailure("twitch: the users reply has no data")
        user = data[0]
        emails = []
        if user.get("email"):
            emails.append(ProviderEmail(str(user["email"]), True, True))
        login, display = text(user.get("login")), text(user.get("display_name"))
        picture = text(user.get("profile_image_url"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": login, "full_name": login,
            "nickname": display, "slug": display, "picture": picture, "avatar_url": picture,
            "custom_claims": {key: user[key] for key in _CUSTOM if key in user},
        })
