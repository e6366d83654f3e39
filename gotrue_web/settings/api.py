"""Where the API listens, its public URL, and the proxies trusted to name the client."""

from __future__ import annotations

from dataclasses import dataclass

from ..proxies import DEFAULT_TRUSTED_PROXIES, parse_trusted_proxies
from .env import EnvReader, SettingsError, check_url


@dataclass(frozen=True)
class APISettings:
    host: str = "0.0.0.0"
    port: int = 8081
    external_url: str = ""
    max_request_bytes: int = 1024 * 1024
    # FORWARDED_ALLOW_IPS (gunicorn's): proxies whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES


def read(env: EnvReader) -> APISettings:
    return APISettings(
        host=env.str("API_HOST", "0.0.0.0"),
        port=env.int("API_PORT", 8081, "PORT", minimum=0),
        external_url=env.str("API_EXTERNAL_URL", "", "API_EXTERNAL_URL"),
        trusted_proxies=_trusted_proxies(env),
    )


def _trusted_proxies(env: EnvReader) -> tuple[str, ...]:
    found = env.raw("FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS")
    if not found:
        return APISettings.trusted_proxies
    key, value = found
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    try:
        parse_trusted_proxies(items)
    except ValueError:
        raise SettingsError(f"{key}: expected IP addresses, networks (CIDR) or *, "
                            f"got {value!r}") from None
    return items


def check(api: APISettings) -> None:
    if not api.external_url:
        raise SettingsError("API_EXTERNAL_URL: required")
    check_url("API_EXTERNAL_URL", api.external_url, http_only=True)
