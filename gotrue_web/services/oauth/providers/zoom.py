"""Zoom: /v2/users/me. A work-email login (login_type 100) counts only once Zoom verified it."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, text

_WORK_EMAIL_LOGIN = "100"


class Zoom(Provider):
    name = "zoom"
    fixed_scopes = True

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url.rstrip("/")
        site = f"{url}/oauth" if url else "https://zoom.us/oauth"
        api = f"{url}/v2" if url else "https://api.zoom.us/v2"
        return Endpoints(authorize=f"{site}/authorize", token=f"{site}/token", profile=api)

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/users/me", token, ctx.timeout)
        emails = []
        if user.get("email"):
            verified = (text(user.get("login_type")) != _WORK_EMAIL_LOGIN
                        or user.get("verified") not in (None, 0, False))
            emails.append(ProviderEmail(str(user["email"]), verified, True))
        full = f"{text(user.get('first_name'))} {text(user.get('last_name'))}".strip()
        picture = text(user.get("pic_url"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": full, "full_name": full,
            "picture": picture, "avatar_url": picture,
        })
