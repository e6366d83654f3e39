"""Twitter, OAuth 1.0a with HMAC-SHA1 (spec oauth-sso.md section 2, quirks: Twitter).

/authorize first gets a request token whose oauth_callback carries the flow's state, then sends
the browser to /oauth/authenticate. /callback receives oauth_token and oauth_verifier instead of
a code; the exchange is signed with an empty token secret, since the request token's secret is
not kept. provider_token is the OAuth1 token, and there is no refresh token.
"""

from __future__ import annotations

from ....transports import oauth1_http
from ..base import OAUTH1, Endpoints, Grant, Profile, Provider, ProviderEmail, ProviderFailure
from ..base import rebase, text

API = "https://api.twitter.com"
PROFILE_PATH = "/1.1/account/verify_credentials.json"
PROFILE_QUERY = "include_entities=false&skip_status=true&include_email=true"


class Twitter(Provider):
    name = "twitter"
    kind = OAUTH1

    def endpoints(self, ctx) -> Endpoints:
        api = rebase(API, ctx.config.url)
        return Endpoints(authorize=f"{api}/oauth/authenticate",
                         token=f"{api}/oauth/access_token", profile=api + PROFILE_PATH)

    def authorize_redirect(self, ctx, endpoints, state, params) -> str:
        config = ctx.config
        # The state rides on the callback URL: OAuth1 has no state parameter of its own.
        callback = config.redirect_uri + ("&" if "?" in config.redirect_uri else "?")
        try:
            reply = oauth1_http.request_token(
                rebase(API, config.url) + "/oauth/request_token", client_id=config.client_id,
                secret=config.secret, callback=callback + "state=" + state,
                timeout=ctx.timeout)
        except oauth1_http.OAuth1HTTPError as exc:
            raise ProviderFailure(f"twitter: request token: {exc}") from exc
        # The client's other parameters mean nothing to an OAuth1 provider.
        return super().authorize_redirect(ctx, endpoints, state,
                                          {"oauth_token": reply["oauth_token"]})

    def grant_code(self, grant: Grant) -> str:
        return grant.oauth_token if grant.oauth_verifier else ""

    def exchange(self, ctx, endpoints, grant: Grant, code_verifier: str) -> dict:
        config = ctx.config
        try:
            reply = oauth1_http.access_token(
                endpoints.token, client_id=config.client_id, secret=config.secret,
                token=grant.oauth_token, verifier=grant.oauth_verifier, timeout=ctx.timeout)
        except oauth1_http.OAuth1HTTPError as exc:
            raise ProviderFailure(f"twitter: access token: {exc}") from exc
        # access_token is what the callback reports as provider_token.
        return {"access_token": reply["oauth_token"], "oauth_token": reply["oauth_token"],
                "oauth_token_secret": str(reply.get("oauth_token_secret") or "")}

    def profile(self, ctx, token) -> Profile:
        config = ctx.config
        url = self.endpoints(ctx).profile
        try:
            user = oauth1_http.get_json(
                f"{url}?{PROFILE_QUERY}", client_id=config.client_id, secret=config.secret,
                token=token["oauth_token"], token_secret=token["oauth_token_secret"],
                timeout=ctx.timeout)
        except oauth1_http.OAuth1HTTPError as exc:
            raise ProviderFailure(f"twitter: {exc}") from exc
        if not isinstance(user, dict):
            raise ProviderFailure("twitter: the profile is not a JSON object")
        emails = [ProviderEmail(str(user["email"]), True, True)] if user.get("email") else []
        name, picture = text(user.get("name")), text(user.get("profile_image_url_https"))
        screen_name = text(user.get("screen_name"))
        return Profile(emails=emails, claims={
            "iss": url, "sub": text(user.get("id_str")), "name": name, "full_name": name,
            "picture": picture, "avatar_url": picture,
            "preferred_username": screen_name, "user_name": screen_name,
        })
