"""Captcha on the sign-up and sign-in routes: hCaptcha or Cloudflare Turnstile.

GoTrue's GOTRUE_SECURITY_CAPTCHA_* variables, plus GOTRUE_SECURITY_CAPTCHA_URL (ours), which
points the provider's verify endpoint at another scheme and host (a test server, a proxy)
while keeping the provider's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from .env import EnvReader, SettingsError, check_url

# Each provider's verify endpoint; GOTRUE_SECURITY_CAPTCHA_URL replaces the scheme and host.
VERIFY_URLS = {
    "hcaptcha": "https://hcaptcha.com/siteverify",
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
}
DEFAULT_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class CaptchaSettings:
    enabled: bool = False
    provider: str = "hcaptcha"
    secret: str = ""
    timeout: timedelta = DEFAULT_TIMEOUT
    # scheme://host[:port] replacing the provider's; "" keeps the provider's own.
    url: str = ""

    @property
    def verify_url(self) -> str:
        """Where tokens are checked: the provider's endpoint, on the URL setting's host."""
        endpoint = urlsplit(VERIFY_URLS.get(self.provider, ""))
        if not self.url:
            return endpoint.geturl()
        override = urlsplit(self.url)
        return endpoint._replace(scheme=override.scheme, netloc=override.netloc).geturl()


def read(env: EnvReader) -> CaptchaSettings:
    return CaptchaSettings(
        enabled=env.bool("SECURITY_CAPTCHA_ENABLED", False),
        provider=env.str("SECURITY_CAPTCHA_PROVIDER", "hcaptcha").lower(),
        secret=env.str("SECURITY_CAPTCHA_SECRET"),
        timeout=env.duration("SECURITY_CAPTCHA_TIMEOUT", DEFAULT_TIMEOUT,
                             zero_is_default=True),
        url=env.str("SECURITY_CAPTCHA_URL"),
    )


def check(captcha: CaptchaSettings) -> None:
    if captcha.provider not in VERIFY_URLS:
        raise SettingsError(
            f"GOTRUE_SECURITY_CAPTCHA_PROVIDER: expected hcaptcha or turnstile, got "
            f"{captcha.provider!r}")
    if captcha.enabled and not captcha.secret:
        raise SettingsError(
            "GOTRUE_SECURITY_CAPTCHA_SECRET: required when GOTRUE_SECURITY_CAPTCHA_ENABLED "
            "is true")
    if not captcha.timeout or captcha.timeout <= timedelta(0):
        raise SettingsError("GOTRUE_SECURITY_CAPTCHA_TIMEOUT: must be above zero")
    if captcha.url:
        check_url("GOTRUE_SECURITY_CAPTCHA_URL", captcha.url, http_only=True)
        parts = urlsplit(captcha.url)
        if parts.username is not None:
            raise SettingsError("GOTRUE_SECURITY_CAPTCHA_URL: give only a scheme and host, "
                                "without credentials")
        # Only the scheme and host are replaced: a path here would be silently dropped.
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise SettingsError(
                "GOTRUE_SECURITY_CAPTCHA_URL: give only a scheme and host (such as "
                f"https://captcha-proxy.internal:8443), got {captcha.url!r}")
