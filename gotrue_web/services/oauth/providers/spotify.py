"""Spotify: /v1/me. Spotify does not say whether the address is verified, so it never is."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text


def _largest_image(images: object) -> str:
    candidates = [image for image in images if isinstance(image, dict)] \
        if isinstance(images, list) else []
    if not candidates:
        return ""
    best = max(candidates, key=lambda image: (image.get("height") or 0) * (image.get("width") or 0))
    return text(best.get("url"))


class Spotify(Provider):
    name = "spotify"
    default_scopes = ("user-read-email",)

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url.rstrip("/")
        # With URL set the API lives at URL itself (URL/me), not URL/v1.
        api = url or "https://api.spotify.com/v1"
        return Endpoints(authorize=rebase("https://accounts.spotify.com/authorize", url),
                         token=rebase("https://accounts.spotify.com/api/token", url),
                         profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/me", token, ctx.timeout)
        emails = []
        if user.get("email"):
            emails.append(ProviderEmail(str(user["email"]), False, True))
        name, picture = text(user.get("display_name")), _largest_image(user.get("images"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": name, "full_name": name,
            "picture": picture, "avatar_url": picture,
        })
