"""WorkOS SSO: the token reply itself carries the profile; no API call is made."""

from __future__ import annotations

from ..base import Endpoints, Profile, Provider, ProviderEmail, ProviderFailure, rebase, text


class WorkOS(Provider):
    name = "workos"
    fixed_scopes = True

    def endpoints(self, ctx) -> Endpoints:
        api = rebase("https://api.workos.com", ctx.config.url)
        return Endpoints(authorize=f"{api}/sso/authorize", token=f"{api}/sso/token",
                         profile=api)

    def profile(self, ctx, token) -> Profile:
        profile = token.get("profile")
        if not isinstance(profile, dict):
            raise ProviderFailure("workos: the token reply has no profile")
        emails = []
        if profile.get("email"):
            emails.append(ProviderEmail(str(profile["email"]), True, True))
        full = f"{text(profile.get('first_name'))} {text(profile.get('last_name'))}".strip()
        custom = {key: profile[key] for key in ("connection_id", "organization_id")
                  if profile.get(key)}
        return Profile(emails=emails, claims={
            "iss": self.endpoints(ctx).profile, "sub": text(profile.get("id")), "name": full,
            "full_name": full, "custom_claims": custom,
        })
