"""LinkedIn's legacy "Sign In with LinkedIn" (OAuth 2.0, r_liteprofile + r_emailaddress): the
profile is /v2/me with a projection, the address /v2/emailAddress. linkedin_oidc is the
OpenID Connect product."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, rebase, text

API = "https://api.linkedin.com"
ME_PATH = ("/v2/me?projection=(id,firstName,lastName,"
           "profilePicture(displayImage~:playableStreams))")
EMAIL_PATH = "/v2/emailAddress?q=members&projection=(elements*(handle~))"


def _localized(field: object) -> str:
    """A multi-locale name in its preferred locale ("en_US" from language "en", country "US")."""
    if not isinstance(field, dict):
        return ""
    preferred = field.get("preferredLocale") or {}
    key = f"{preferred.get('language', '')}_{preferred.get('country', '')}"
    return text((field.get("localized") or {}).get(key))


def _picture(me: dict) -> str:
    """The identifier of the first display image (the smallest LinkedIn offers)."""
    images = ((me.get("profilePicture") or {}).get("displayImage~") or {}).get("elements") or []
    for image in images[:1]:
        for identifier in (image.get("identifiers") or [])[:1]:
            return text(identifier.get("identifier"))
    return ""


class LinkedIn(Provider):
    name = "linkedin"
    default_scopes = ("r_emailaddress", "r_liteprofile")

    def endpoints(self, ctx) -> Endpoints:
        url = ctx.config.url
        return Endpoints(authorize=rebase(f"{API}/oauth/v2/authorization", url),
                         token=rebase(f"{API}/oauth/v2/accessToken", url),
                         profile=rebase(API, url))

    def profile(self, ctx, token) -> Profile:
        api = self.endpoints(ctx).profile
        me = self.get_object(api + ME_PATH, token, ctx.timeout)
        listed = self.get_object(api + EMAIL_PATH, token, ctx.timeout)
        emails = []
        elements = listed.get("elements") or []
        address = ((elements[0] or {}).get("handle~") or {}).get("emailAddress") \
            if elements else None
        if address:
            emails.append(ProviderEmail(str(address), True, True))
        name = f"{_localized(me.get('firstName'))} {_localized(me.get('lastName'))}".strip()
        picture = _picture(me)
        return Profile(emails=emails, claims={
            "iss": api, "sub": text(me.get("id")), "name": name, "full_name": name,
            "picture": picture, "avatar_url": picture,
        })
