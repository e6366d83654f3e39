"""Passkeys and WebAuthn: GoTrue's GOTRUE_PASSKEY_* and GOTRUE_WEBAUTHN_* variables (spec
idp-passkeys-web3.md section 2.1).

The relying party (settings/passkeys/webauthn.py) is shared with the WebAuthn MFA factor, whose
switches (GOTRUE_MFA_WEB_AUTHN_{ENROLL,VERIFY}_ENABLED) are read with the other MFA settings.
The request limit of the sign-in options (GOTRUE_RATE_LIMIT_PASSKEY) is read with the other
request limits (settings/rate_limit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..env import EnvReader


@dataclass(frozen=True)
class PasskeySettings:
    enabled: bool = False
    max_passkeys_per_user: int = 10


def read(env: EnvReader) -> PasskeySettings:
    return PasskeySettings(
        enabled=env.bool("PASSKEY_ENABLED", False),
        max_passkeys_per_user=env.int("PASSKEY_MAX_PASSKEYS_PER_USER", 10, minimum=0),
    )

