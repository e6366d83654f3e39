"""Snapchat Login Kit: OAuth2, the profile from the Kit API's GraphQL-like `me` query."""

from __future__ import annotations

from urllib.parse import urlencode

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text

# Identity_data's iss is this fixed value, whatever URL points the endpoints at.
ISSUER = "https://accounts.snapchat.com/accounts/oauth2/token"
ME_QUERY = "{me { externalId displayName bitmoji { avatar id } email } }"


class Snapchat(Provider):
    name = "snapchat"
    default_scopes = ("https://auth.snapchat.com/oauth2/api/user.external_id",
                      "https://auth.snapchat.com/oauth2/api/user.display_name",
                      "https://auth.snapchat.com/oauth2/api/user.bitmoji.avatar")

    def endpoints(self, ctx) -> Endpoints:
        url, accounts = ctx.config.url, "https://accounts.snapchat.com/accounts/oauth2"
        return Endpoints(authorize=rebase(f"{accounts}/auth", url),
                         token=rebase(f"{accounts}/token", url),
                         profile=rebase("https://kit.snapchat.com/v1/me", url))

    def profile(self, ctx, token) -> Profile:
        url = self.endpoints(ctx).profile + "?" + urlencode({"query": ME_QUERY})
        me = self.get_object(url, token, ctx.timeout)["data"]["me"]
        display = text(me.get("displayName"))
        avatar = text((me.get("bitmoji") or {}).get("avatar"))
        email = text(me.get("email"))
        return Profile(emails=[ProviderEmail(email, True, True)] if email else [], claims={
            "iss": ISSUER, "sub": text(me.get("externalId")), "name": display,
            "full_name": display, "slug": display, "picture": avatar, "avatar_url": avatar})
