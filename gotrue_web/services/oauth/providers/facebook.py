"""Facebook: the Graph API /me, signed with appsecret_proof (HMAC-SHA256 of the access token
keyed with the app secret) so a stolen token is useless without the secret."""

from __future__ import annotations

import hashlib
import hmac

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text

_FIELDS = "email,first_name,last_name,name,picture"


class Facebook(Provider):
    name = "facebook"
    default_scopes = ("email",)

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        graph = rebase("https://graph.facebook.com", url)
        return Endpoints(authorize=rebase("https://www.facebook.com/dialog/oauth", url),
                         token=f"{graph}/oauth/access_token",
                         profile=f"{graph}/me?fields={_FIELDS}")

    def profile(self, ctx, token) -> Profile:
        profile_url = self.endpoints(ctx).profile
        proof = hmac.new(ctx.config.secret.encode(), token["access_token"].encode(),
                         hashlib.sha256).hexdigest()
        user = self.get_object(f"{profile_url}&appsecret_proof={proof}", token, ctx.timeout)
        emails = []
        if user.get("email"):
            emails.append(ProviderEmail(str(user["email"]), True, True))
        full = f"{text(user.get('first_name'))} {text(user.get('last_name'))}".strip()
        nickname = text(user.get("name"))
        picture_data = (user.get("picture") or {}).get("data") or {}
        picture = text(picture_data.get("url")) if isinstance(picture_data, dict) else ""
        return Profile(emails=emails, claims={
            "iss": profile_url, "sub": text(user.get("id")), "name": full, "full_name": full,
            "nickname": nickname, "slug": nickname, "picture": picture, "avatar_url": picture,
        })
