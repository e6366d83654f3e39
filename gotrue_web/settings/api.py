"""Where the API listens, its public URL, the proxies trusted to name the client, and the
header that carries the proxy's request id."""

from __future__ import annotations

import re
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
    # GOTRUE_API_REQUEST_ID_HEADER: the request header whose value becomes the request's id in
    # the logs (and is echoed back in it); unset, every request gets a new id.
    request_id_header: str = ""


def read(env: EnvReader) -> APISettings:
    return APISettings(
        host=env.str("API_HOST", "0.0.0.0"),
        port=env.int("API_PORT", 8081, "PORT", minimum=0),
        external_url=env.str("API_EXTERNAL_URL", "", "API_EXTERNAL_URL"),
        trusted_proxies=_trusted_proxies(env),
        # GoTrue also reads it unprefixed (the seed README's REQUEST_ID_HEADER).
        request_id_header=env.str("API_REQUEST_ID_HEADER", "", "REQUEST_ID_HEADER"),
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


# An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check(api: APISettings) -> None:
    if not api.external_url:
        raise SettingsError("API_EXTERNAL_URL: required")
    check_url("API_EXTERNAL_URL", api.external_url, http_only=True)
    if api.request_id_header and not _HEADER_NAME.fullmatch(api.request_id_header):
        raise SettingsError("GOTRUE_API_REQUEST_ID_HEADER: expected a header name such as "
                            f"X-Request-Id, got {api.request_id_header!r}")
