"""The provider selection table of POST /token?grant_type=id_token and the claims mappings.

Spec oauth-sso.md section 3. A Source is one row of the table: the request that selects it (the
`provider` name, or an `issuer`), the issuer whose discovery document gives the keys, the
acceptable audiences, and which checks apply. The claims become a profile by the token's iss
("Mapping by iss"), unless the row names its own mapping.

Adding a row: one Source in SOURCES (rows are tried in order, first match wins) and, for an
issuer GoTrue maps specially, one entry in MAPPINGS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError

from ...errors import ErrorCode, bad_request
from . import google
from .base import Profile, ProviderEmail, ProviderFailure, text
from .providers import azure, linkedin_oidc, snapchat
from .providers.oidc import apple, vercel_marketplace

if TYPE_CHECKING:
    from ...settings.external import ExternalSettings, OAuthProviderSettings

WELL_KNOWN = "/.well-known/openid-configuration"
FACEBOOK_ISSUER = "https://www.facebook.com"
KAKAO_ISSUER = "https://kauth.kakao.com"
AZURE_ISSUER_PREFIXES = ("https://login.microsoftonline.com/", "https://sts.windows.net/")
# Standard OIDC claims the generic mapping keeps in identity_data.
_STANDARD_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "name", "family_name", "given_name",
                    "middle_name", "nickname", "preferred_username", "profile", "picture",
                    "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
                    "phone", "phone_verified")


class BadIdToken(Exception):
    """The token fails a check that GoTrue answers with "Bad ID token"."""


# --- claims to profile (spec 3, "Mapping by iss") ---

def generic_profile(claims: dict, *, verified: bool | None = None) -> Profile:
    """Standard claims; the email's flag is the token's boolean email_verified unless the
    issuer vouches for its addresses (``verified``)."""
    if verified is None:
        verified = claims.get("email_verified", False)
        if not isinstance(verified, bool):
            raise BadIdToken("email_verified is not a boolean")
    result = {key: claims[key] for key in _STANDARD_CLAIMS if key in claims}
    name = text(claims.get("name"))
    result.update(sub=text(claims.get("sub")), full_name=name, avatar_url=text(claims.get(
        "picture")))
    emails = [ProviderEmail(str(claims["email"]), verified, True)] if claims.get("email") else []
    return Profile(emails=emails, claims=result)


def google_profile(claims: dict) -> Profile:
    emails = []
    if claims.get("email"):
        verified = claims.get("email_verified") is True or claims.get("verified_email") is True
        emails.append(ProviderEmail(str(claims["email"]), verified, True))
    name, picture = text(claims.get("name")), text(claims.get("picture"))
    result = {"iss": text(claims.get("iss")), "sub": text(claims.get("sub")), "name": name,
              "full_name": name, "picture": picture, "avatar_url": picture}
    if claims.get("hd"):
        result["custom_claims"] = {"hd": claims["hd"]}
    return Profile(emails=emails, claims=result)


def kakao_profile(claims: dict) -> Profile:
    nickname = text(claims.get("nickname"))
    emails = [ProviderEmail(str(claims["email"]), True, True)] if claims.get("email") else []
    return Profile(emails=emails, claims={
        "iss": text(claims.get("iss")), "sub": text(claims.get("sub")), "name": nickname,
        "preferred_username": nickname, "picture": text(claims.get("picture"))})


def vouched_profile(claims: dict) -> Profile:
    """Facebook Limited Login and Snapchat: the generic claims, every address verified
    (identity_data's email_verified is then whether there is an email)."""
    return generic_profile(claims, verified=True)


MAPPINGS: dict[str, Callable[[dict], Profile]] = {
    **{issuer: google_profile for issuer in google.ISSUERS},
    **{issuer: apple.claims_profile for issuer in apple.ISSUERS},
    linkedin_oidc.ISSUER: linkedin_oidc.claims_profile,
    vercel_marketplace.ISSUER: vercel_marketplace.claims_profile,
    KAKAO_ISSUER: kakao_profile,
    FACEBOOK_ISSUER: vouched_profile,
    snapchat.ISSUER: vouched_profile,
}


def profile_for(claims: dict) -> Profile:
    """The profile of verified claims, mapped by their issuer; BadIdToken if they do not fit."""
    issuer = text(claims.get("iss"))
    mapping = MAPPINGS.get(issuer)
    if mapping is None and azure.is_microsoft_issuer(issuer):
        mapping = azure.claims_profile
    try:
        return (mapping or generic_profile)(claims)
    except ProviderFailure as exc:
        raise BadIdToken(str(exc)) from exc


# --- reading the issuer before verifying (Apple, Azure) ---

def unverified_issuer(id_token: str) -> str:
    """The token's iss, read without checking the signature ("" if there is none)."""
    try:
        payload = json.loads(jws.extract_compact(id_token.encode()).payload)
    except (JoseError, ValueError, TypeError, AttributeError):
        return ""
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else ""


def _detector(accepts: Callable[[str], bool], who: str) -> Callable[[str], str]:
    def detect(id_token: str) -> str:
        issuer = unverified_issuer(id_token)
        if not accepts(issuer):
            raise bad_request(ErrorCode.VALIDATION_FAILED,
                              f"Detected ID token issuer is not an {who} ID token issuer")
        return issuer
    return detect


def _origin(config: "OAuthProviderSettings") -> str:
    """The URL setting's scheme and host: where the fake (or a proxy) of an issuer that varies
    per token serves every issuer's discovery."""
    parts = urlsplit(config.url)
    return f"{parts.scheme}://{parts.netloc}" if config.url else ""


# --- the table ---

@dataclass(frozen=True)
class Source:
    """One row of the spec's provider selection table."""

    name: str
    # The discovery issuer when the row fixes it; "" when the provider is not configured well
    # enough to have one.
    issuer: Callable[["OAuthProviderSettings"], str] = lambda config: ""
    # Whether the request's (non-empty) `issuer` selects this row.
    selected_by: Callable[["OAuthProviderSettings", str], bool] = lambda config, issuer: False
    # Rows whose issuer varies (Apple, Azure) read it from the unverified token instead; the
    # function raises the 400 for an issuer that is not the provider's.
    detect_issuer: Callable[[str], str] | None = None
    # The server the URL setting moves the discovery document (and the endpoints it names) to;
    # "" keeps it at the issuer.
    discovery_base: Callable[["OAuthProviderSettings"], str] = lambda config: ""
    # Issuers the token may carry; None skips the check (Apple).
    accepted_issuers: Callable[[str], tuple[str, ...] | None] = lambda issuer: (issuer,)
    checks_nonce: bool = True
    # Audiences beyond the provider's client ids.
    extra_audiences: Callable[["ExternalSettings"], tuple[str, ...]] = lambda external: ()
    # None: by the token's iss (profile_for).
    profile: Callable[[dict], Profile] | None = None


def fixed_issuer(name: str, issuer: str, **options) -> Source:
    """A row whose issuer is a constant that, given as `issuer`, selects it."""
    return Source(name, issuer=lambda config: issuer,
                  selected_by=lambda config, given: given == issuer,
                  discovery_base=lambda config: config.url, **options)


def _keycloak_issuer(config: "OAuthProviderSettings") -> str:
    return config.url.rstrip("/")


SOURCES: tuple[Source, ...] = (
    # Apple has two issuers; the token says which. Native iOS apps get tokens for their bundle
    # id. Apple's verifier checks no iss (the discovery issuer is the token's own anyway).
    Source("apple", selected_by=lambda config, given: given in apple.ISSUERS,
           detect_issuer=_detector(lambda iss: iss in apple.ISSUERS, "Apple"),
           discovery_base=_origin, accepted_issuers=lambda issuer: None,
           extra_audiences=lambda external: tuple(filter(None, [external.ios_bundle_id]))),
    Source("google", issuer=lambda config: google.ISSUERS[0],
           selected_by=lambda config, given: given == google.ISSUERS[0],
           discovery_base=lambda config: config.url,
           accepted_issuers=lambda issuer: google.ISSUERS),
    # Each Microsoft tenant is its own issuer.
    Source("azure", selected_by=lambda config, given: azure.is_microsoft_issuer(given),
           detect_issuer=_detector(lambda iss: iss.startswith(AZURE_ISSUER_PREFIXES), "Azure"),
           discovery_base=_origin, profile=azure.claims_profile),
    # Facebook Limited Login tokens: GoTrue never checks their nonce.
    fixed_issuer("facebook", FACEBOOK_ISSUER, checks_nonce=False),
    # Keycloak's issuer selects it only while it is enabled.
    Source("keycloak", issuer=_keycloak_issuer,
           selected_by=lambda config, given: config.enabled and given == _keycloak_issuer(config)),
    fixed_issuer("kakao", KAKAO_ISSUER),
    fixed_issuer("vercel_marketplace", vercel_marketplace.ISSUER),
    fixed_issuer("snapchat", snapchat.ISSUER),
)
