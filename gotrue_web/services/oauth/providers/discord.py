"""Discord: /api/users/@me; the picture is the CDN avatar, or the default one for the tag."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text

_CDN = "https://cdn.discordapp.com"


def _picture(user: dict) -> str:
    user_id, avatar = text(user.get("id")), text(user.get("avatar"))
    if not avatar:
        try:
            index = int(text(user.get("discriminator"))) % 5
        except ValueError as exc:
            raise ProviderFailure("discord: the discriminator is not a number") from exc
        return f"{_CDN}/embed/avatars/{index}.png"
    extension = "gif" if avatar.startswith("a_") else "png"
    return f"{_CDN}/avatars/{user_id}/{avatar}.{extension}"


class Discord(Provider):
    name = "discord"
    default_scopes = ("email", "identify")

    def endpoints(self, ctx) -> Endpoints:
        api = rebase("https://discord.com/api", ctx.config.url)
        return Endpoints(authorize=f"{api}/oauth2/authorize", token=f"{api}/oauth2/token",
                         profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/users/@me", token, ctx.timeout)
        emails = []
        if user.get("email"):
            emails.append(ProviderEmail(str(user["email"]), user.get("verified") is True, True))
        username, picture = text(user.get("username")), _picture(user)
        claims = {"iss": api, "sub": text(user.get("id")),
                  "name": f"{username}#{text(user.get('discriminator'))}",
                  "full_name": username, "picture": picture, "avatar_url": picture}
        if user.get("global_name"):
            claims["custom_claims"] = {"global_name": user["global_name"]}
        return Profile(emails=emails, claims=claims)
