"""An app with passkeys and the WebAuthn MFA factor on (relying party "localhost", one origin),
and a software authenticator that answers that relying party's ceremonies."""

from __future__ import annotations

import pytest

from ..support.soft_authenticator import SoftAuthenticator

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"
PASSKEYS_ON = {
    "passkeys.enabled": True,
    "webauthn.rp_id": RP_ID,
    "webauthn.rp_display_name": "gotrue-web tests",
    "webauthn.rp_origins": (ORIGIN,),
    "mfa.webauthn_enroll_enabled": True,
    "mfa.webauthn_verify_enabled": True,
}


@pytest.fixture
def passkey_app(make_app):
    """``passkey_app(**overrides)``: PASSKEYS_ON plus the given dotted settings overrides."""

    def build(**overrides):
        return make_app(**{**PASSKEYS_ON, **overrides})

    return build


@pytest.fixture
def app(passkey_app):
    return passkey_app()


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
