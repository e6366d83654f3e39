"""Route tables and builders of fake Apple, Vercel Marketplace, Snapchat, and of the issuers the
id_token grant reaches (Facebook Limited Login, Kakao, Azure), all FakeProvider instances
(tests/support/fake_oauth.py) on loopback ports, reached through GOTRUE_EXTERNAL_<P>_URL.

The paths are the real providers' paths as the modules place them under that URL; for Apple
and Azure only the URL's scheme and host count (their issuers vary per token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from html.parser import HTMLParser

from .fake_oauth import AZURE_ROUTES, FACEBOOK_ROUTES, KAKAO_ROUTES, FakeProvider, rsa_key

APPLE_ISSUER = "https://appleid.apple.com"
APPLE_NEW_ISSUER = "https://account.apple.com"
APPLE_ROUTES = {"authorize": "/auth/authorize", "token": "/auth/token", "profiles": (),
                "discovery": "/.well-known/openid-configuration", "jwks": "/auth/keys"}

VERCEL_ISSUER = "https://marketplace.vercel.com"
VERCEL_ROUTES = {"authorize": "/oauth/v2/authorization", "token": "/oauth/v2/accessToken",
                 "profiles": (), "discovery": "/.well-known/openid-configuration",
                 "jwks": "/.well-known/jwks"}

SNAPCHAT_ISSUER = "https://accounts.snapchat.com/accounts/oauth2/token"
SNAPCHAT_ROUTES = {"authorize": "/accounts/oauth2/auth", "token": "/accounts/oauth2/token",
                   "profiles": ("/v1/me",)}
# The id_token grant finds Snapchat's discovery under its issuer, the token URL.
SNAPCHAT_OIDC_ROUTES = {**SNAPCHAT_ROUTES,
                        "discovery": "/accounts/oauth2/token/.well-known/openid-configuration",
                        "jwks": "/accounts/oauth2/jwks"}

FACEBOOK_ISSUER = "https://www.facebook.com"
FACEBOOK_OIDC_ROUTES = {**FACEBOOK_ROUTES, "discovery": "/.well-known/openid-configuration",
                        "jwks": "/.well-known/oauth/openid/jwks"}
KAKAO_ISSUER = "https://kauth.kakao.com"
KAKAO_OIDC_ROUTES = {**KAKAO_ROUTES, "discovery": "/.well-known/openid-configuration",
                     "jwks": "/.well-known/jwks.json"}

# Azure's v2 issuer (discovery under /tenant-1/v2.0, as fake_oauth.AZURE_ROUTES) and its v1
# issuer on sts.windows.net (discovery under /tenant-1/).
AZURE_V2_ISSUER = "https://login.microsoftonline.com/tenant-1/v2.0"
AZURE_V1_ISSUER = "https://sts.windows.net/tenant-1/"
AZURE_V1_ROUTES = {**AZURE_ROUTES, "discovery": "/tenant-1/.well-known/openid-configuration"}

ANN_USER_FORM = json.dumps({"name": {"firstName": "Ann", "lastName": "Apple"},
                            "email": "ann@privaterelay.appleid.com"})


def oidc_fake(servers, routes: dict, issuer: str, **claims) -> FakeProvider:
    """A started fake OIDC server whose token replies carry an id_token with ``claims``."""
    fake = servers(FakeProvider(routes, signing_key=rsa_key(), issuer=issuer))
    fake.id_token_claims = dict(claims)
    return fake


def apple_fake(servers, **claims) -> FakeProvider:
    """Apple: the first sign-in's form_post carries the `user` field (and an id_token that
    GoTrue ignores: it uses the one of the token reply)."""
    fake = oidc_fake(servers, APPLE_ROUTES, APPLE_ISSUER, **{
        "sub": "apple-sub-1", "email": "Ann@privaterelay.appleid.com", "email_verified": "true",
        "is_private_email": "true", "auth_time": 1700000000, **claims})
    fake.form_post_extra = {"id_token": "form-post-id-token-not-used", "user": ANN_USER_FORM}
    return fake


def vercel_fake(servers, **claims) -> FakeProvider:
    return oidc_fake(servers, VERCEL_ROUTES, VERCEL_ISSUER, **{
        "sub": "vercel-sub-1", "global_user_id": "gu-77", "user_email": "Val@Example.com",
        "user_name": "Val Vercel", "user_avatar_url": "https://vercel.example/v.png",
        **claims})


def snapchat_fake(servers, **me) -> FakeProvider:
    fake = servers(FakeProvider(SNAPCHAT_ROUTES))
    fake.documents["/v1/me"] = {"data": {"me": {
        "externalId": "snap-ext-1", "displayName": "Sunny Snap",
        "bitmoji": {"avatar": "https://bitmoji.example/s.png", "id": "bm-1"},
        "email": "sunny@example.com", **me}}}
    return fake


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.method, self.fields = "", "", {}

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form":
            self.action, self.method = values.get("action", ""), values.get("method", "")
        elif tag == "input":
            self.fields[values.get("name", "")] = values.get("value", "")


def read_form_post(html: str) -> tuple[str, str, dict]:
    """The (method, action, fields) of the auto-submitting form a form_post answer is."""
    reader = _FormReader()
    reader.feed(html)
    return reader.method, reader.action, reader.fields


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()
