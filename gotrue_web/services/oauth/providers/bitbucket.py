"""Bitbucket Cloud: the account from /2.0/user, every address from /2.0/user/emails."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text


class Bitbucket(Provider):
    name = "bitbucket"
    default_scopes = ("account", "email")
    fixed_scopes = True

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        return Endpoints(authorize=rebase("https://bitbucket.org/site/oauth2/authorize", url),
                         token=rebase("https://bitbucket.org/site/oauth2/access_token", url),
                         profile=rebase("https://api.bitbucket.org/2.0", url))

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/user", token, ctx.timeout)
        listed = self.get_object(f"{api}/user/emails", token, ctx.timeout).get("values")
        if not isinstance(listed, list):
            raise ProviderFailure("bitbucket: /user/emails has no values list")
        emails = [ProviderEmail(str(item["email"]), item.get("is_confirmed") is True,
                                item.get("is_primary") is True)
                  for item in listed if isinstance(item, dict) and item.get("email")]
        name = text(user.get("display_name"))
        avatar = user.get("avatar")
        avatar = text(avatar.get("href")) if isinstance(avatar, dict) else ""
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("uuid")), "name": name, "full_name": name,
            "picture": avatar, "avatar_url": avatar,
        })
