"""The WebAuthn relying party: GOTRUE_WEBAUTHN_RP_ID, _RP_DISPLAY_NAME, _RP_ORIGINS and
_CHALLENGE_EXPIRY_DURATION (spec idp-passkeys-web3.md section 2.1), shared by passkeys and the
WebAuthn MFA factor. Missing values only warn at start-up, as in GoTrue; a ceremony then
answers 500 "Failed to initialize WebAuthn"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..env import EnvReader


@dataclass(frozen=True)
class WebAuthnSettings:
    rp_id: str = ""
    rp_display_name: str = ""
    # Exact origins (scheme://host[:port]) the browser may report in clientDataJSON.
    rp_origins: tuple[str, ...] = ()
    challenge_expiry: timedelta = timedelta(minutes=5)

    @property
    def configured(self) -> bool:
        return bool(self.rp_id and self.rp_display_name and self.rp_origins)


def read(env: EnvReader) -> WebAuthnSettings:
    origins = tuple(origin.strip().rstrip("/")
                    for origin in env.str("WEBAUTHN_RP_ORIGINS", "").split(",") if origin.strip())
    return WebAuthnSettings(
        rp_id=env.str("WEBAUTHN_RP_ID", "").strip(),
        rp_display_name=env.str("WEBAUTHN_RP_DISPLAY_NAME", "").strip(),
        rp_origins=origins,
        challenge_expiry=env.duration("WEBAUTHN_CHALLENGE_EXPIRY_DURATION", timedelta(minutes=5),
                                      zero_is_default=True),
    )
