"""Kakao: /v2/user/me. Kakao's token endpoint takes the client credentials in the body only."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text


class Kakao(Provider):
    name = "kakao"
    default_scopes = ("account_email", "profile_image", "profile_nickname")
    credentials_in_body = True

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        site = rebase("https://kauth.kakao.com/oauth", url)
        return Endpoints(authorize=f"{site}/authorize", token=f"{site}/token",
                         profile=rebase("https://kapi.kakao.com", url))

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        user = self.get_object(f"{api}/v2/user/me", token, ctx.timeout)
        account = user.get("kakao_account") or {}
        person = account.get("profile") or {}
        emails = []
        if account.get("email"):
            verified = (account.get("is_email_verified") is True
                        and account.get("is_email_valid") is True)
            emails.append(ProviderEmail(str(account["email"]), verified, True))
        nickname = text(person.get("nickname"))
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(user.get("id")), "name": nickname, "full_name": nickname,
            "preferred_username": nickname, "user_name": nickname,
            "avatar_url": text(person.get("profile_image_url")),
        })
