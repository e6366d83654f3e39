"""X (formerly Twitter) with OAuth 2.0: PKCE is mandatory for X's clients, so every flow carries
a verifier in oauth_client_states (services/oauth/flow.py); ``offline.access`` makes X send the
refresh token that becomes provider_refresh_token."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text

USER_FIELDS = "id,name,username,confirmed_email,profile_image_url,url,created_at"


class X(Provider):
    name = "x"
    default_scopes = ("users.email", "tweet.read", "users.read", "offline.access")
    requires_pkce = True

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        api = rebase("https://api.x.com", url)
        return Endpoints(authorize=rebase("https://x.com/i/oauth2/authorize", url),
                         token=f"{api}/2/oauth2/token",
                         profile=f"{api}/2/users/me?user.fields={USER_FIELDS}")

    def profile(self, ctx, token) -> Profile:
        reply = self.get_object(self.endpoints(ctx).profile, token, ctx.timeout)
        user = reply.get("data")
        if not isinstance(user, dict):
            raise ProviderFailure("x: /2/users/me has no data object")
        # Only a confirmed address counts: X's `email` field is not verified.
        emails = ([ProviderEmail(str(user["confirmed_email"]), True, True)]
                  if user.get("confirmed_email") else [])
        name, picture = text(user.get("name")), text(user.get("profile_image_url"))
        username = text(user.get("username"))
        claims = {"iss": rebase("https://api.x.com", ctx.config.url), "sub": text(user.get("id")),
                  "name": name, "full_name": name, "picture": picture, "avatar_url": picture,
                  "preferred_username": username, "user_name": username,
                  "profile": f"https://x.com/{username}" if username else "",
                  "website": text(user.get("url"))}
        if user.get("created_at"):
            claims["custom_claims"] = {"created_at": user["created_at"]}
        return Profile(emails=emails, claims=claims)
