"""Time-based one-time passwords (RFC 6238 as authenticator apps use them: SHA1, 6 digits,
30 s steps) for the MFA factors of users and the console's operators: secrets, the otpauth://
URI and its QR code, and which time step a typed code belongs to."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno

# A code of the step before or after the current one is accepted too (clock drift).
ALLOWED_DRIFT_STEPS = 1


def new_secret() -> str:
    """A random secret, base32 (160 bits, as authenticator apps expect)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth://totp/<issuer>:<account>?secret=...&issuer=... URI the QR code holds."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer or None)


def qr_svg(uri: str, *, dark: str = "#000000") -> str:
    """The QR code of ``uri`` as an inline <svg> document (no XML declaration)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark=dark, light="#ffffff")


def step_of(secret: str | None, code: str, now: datetime) -> int | None:
    """The 30 s step (previous, current or next at ``now``) whose code ``code`` is, or None.

    Each candidate is compared in constant time."""
    code = (code or "").strip().replace(" ", "")
    if not secret or len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - ALLOWED_DRIFT_STEPS, current + ALLOWED_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
