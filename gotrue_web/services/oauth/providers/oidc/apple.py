"""Sign in with Apple: OIDC through the discovery document of https://appleid.apple.com.

Apple's quirks (spec oauth-sso.md section 2): the browser comes back with a form POST
(response_mode=form_post), so no client parameter is passed through; the token request also
carries client_id and secret in its body, the secret being the developer's ES256 client-secret
JWT (opaque here); the ID token is the profile, its issuer is not checked; and the name comes
only once, in the callback's `user` form field, on the first sign-in.

GoTrue ignores GOTRUE_EXTERNAL_APPLE_URL. Here its scheme and host, when set, replace Apple's
for the discovery document and every endpoint it names, so that tests can reach a fake.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from ...base import OIDC, Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text
from ...oidc import discover, validate_id_token

ISSUERS = ("https://appleid.apple.com", "https://account.apple.com")
_DISCOVERY = "https://appleid.apple.com/.well-known/openid-configuration"


def origin(url: str) -> str:
    """The scheme and host of a URL setting ("" when unset)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if url else ""


def _private_email(value: object) -> bool:
    # Apple has sent this flag both as a JSON boolean and as the string "true"/"false".
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value == "true"
    raise ProviderFailure(f"apple: is_private_email is neither a boolean nor a string: {value!r}")


def claims_profile(claims: dict) -> Profile:
    """Table B's apple row: the email is always verified (Apple checked it)."""
    emails = [ProviderEmail(str(claims["email"]), True, True)] if claims.get("email") else []
    custom: dict = {}
    if claims.get("is_private_email") is not None:
        custom["is_private_email"] = _private_email(claims["is_private_email"])
    for key in ("auth_time", "transfer_sub"):
        if claims.get(key):
            custom[key] = claims[key]
    return Profile(emails=emails, claims={"iss": text(claims.get("iss")),
                                          "sub": text(claims.get("sub")),
                                          "custom_claims": custom})


class Apple(Provider):
    name = "apple"
    kind = OIDC
    default_scopes = ("email", "name")
    fixed_scopes = True
    forwards_passthrough = False

    def endpoints(self, ctx) -> Endpoints:
        discovery = self._discovery(ctx)
        authorize, token = (discovery.endpoint("authorization_endpoint"),
                            discovery.endpoint("token_endpoint"))
        if not authorize or not token:
            raise ProviderFailure("the discovery document names no authorization or token "
                                  "endpoint")
        return Endpoints(authorize=authorize, token=token,
                         discovery=rebase(_DISCOVERY, origin(ctx.config.url)))

    def _discovery(self, ctx):
        base = origin(ctx.config.url)
        return discover(rebase(_DISCOVERY, base), base=base, timeout=ctx.timeout,
                        ttl=ctx.cache_ttl)

    def authorize_extras(self) -> dict[str, str]:
        return {"response_mode": "form_post"}

    def token_params(self, ctx) -> dict[str, str]:
        return {"client_id": ctx.config.client_id, "secret": ctx.config.secret}

    def profile(self, ctx, token) -> Profile:
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            # No ID token, no profile: the callback then answers "no email".
            return Profile()
        claims = validate_id_token(self._discovery(ctx), id_token,
                                   audience=ctx.config.client_id, issuers=None,
                                   access_token=token["access_token"])
        return claims_profile(claims)

    def with_form_user(self, profile: Profile, user: str) -> Profile:
        """`user` = {"name": {"firstName", "lastName"}, ...}, sent on the first sign-in only."""
        try:
            value = json.loads(user)
        except ValueError as exc:
            raise ProviderFailure("apple: the user form field is not JSON") from exc
        name = value.get("name") if isinstance(value, dict) else None
        if not isinstance(name, (dict, type(None))):
            raise ProviderFailure("apple: the user form field has no name object")
        name = name or {}
        full = f"{text(name.get('firstName'))} {text(name.get('lastName'))}".strip()
        return Profile(emails=profile.emails,
                       claims={**profile.claims, "name": full, "full_name": full})
