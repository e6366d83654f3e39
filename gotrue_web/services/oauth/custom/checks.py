"""The admin API's field checks for custom providers: types, lengths, reserved authorization
parameters, blocked mapping targets, and the outbound-URL (SSRF) rules. Every failure is 400
validation_failed with a message naming the field."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from ....errors import ErrorCode, bad_request
from ..flow import RESERVED

PREFIX = "custom:"
# GoTrue's database check on the identifier (prefix included).
IDENTIFIER_PATTERN = re.compile(r"[a-z0-9][a-z0-9:-]{0,48}[a-z0-9]")
PROVIDER_TYPES = ("oauth2", "oidc")
MAX_NAME, MAX_CLIENT_ID = 100, 512
# Our own bounds, so a row stays a reasonable size.
MAX_TEXT, MAX_URL, MAX_ITEMS = 4096, 2048, 100
# authorization_params may not set what /authorize sets itself (nor the OIDC nonce).
RESERVED_PARAMS = RESERVED | {"nonce"}
# attribute_mapping may not write the user's own columns or verification flags.
BLOCKED_TARGETS = frozenset({
    "id", "aud", "role", "app_metadata", "created_at", "updated_at", "confirmed_at",
    "email_confirmed_at", "phone_confirmed_at", "email_verified", "phone_verified",
    "banned_until", "is_super_admin"})
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def invalid(message: str):
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


def identifier(value: object) -> str:
    """A ``custom:`` identifier in GoTrue's shape; 400 otherwise."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise invalid('identifier must start with "custom:"')
    if not IDENTIFIER_PATTERN.fullmatch(value):
        raise invalid("identifier must be 2 to 50 lower-case letters, digits, ':' or '-', "
                      "starting and ending with a letter or digit")
    return value


def text(data: dict, key: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    """A string field: None when missing, null or empty (unless required)."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    if not value:
        if required:
            raise invalid(f"{key} is required")
        return None
    if len(value) > limit:
        raise invalid(f"{key} must be at most {limit} characters")
    if "\x00" in value:
        raise invalid(f"{key} must not contain NUL characters")
    return value


def flag(data: dict, key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def strings(data: dict, key: str, *, allow_empty_items: bool = True) -> list[str] | None:
    """A list of strings; None when missing or null (an empty list is a value)."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(f"{key} must be an array of strings")
    if len(value) > MAX_ITEMS or any(len(item) > MAX_TEXT for item in value):
        raise invalid(f"{key} is too long")
    if not allow_empty_items and any(not item.strip() for item in value):
        raise invalid(f"{key} must not contain empty entries")
    return value


def mapping(data: dict, key: str) -> dict | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"{key} must be an object")
    if len(value) > MAX_ITEMS:
        raise invalid(f"{key} has too many entries")
    return value


def authorization_params(value: dict) -> dict:
    for key, item in value.items():
        if key.lower() in RESERVED_PARAMS:
            raise invalid(f'authorization_params: "{key}" is reserved and cannot be set')
        if not isinstance(item, str):
            raise invalid(f'authorization_params: "{key}" must be a string')
    return value


def attribute_mapping(value: dict) -> dict:
    for target in value:
        if not target or target.lower() in BLOCKED_TARGETS:
            raise invalid(f'attribute_mapping: the target "{target}" is not allowed')
    return value


def outbound_url(key: str, url: str, *, allow_private: bool) -> str:
    """A URL we will call: https, and not a local or non-public address. ``allow_private`` (the
    tests' switch) accepts http and loopback."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise invalid(f"{key} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise invalid(f"{key} is not a valid URL")
    if allow_private:
        return url
    if parts.scheme != "https":
        raise invalid(f"{key} must use https")
    lowered = host.lower().rstrip(".")
    if lowered in _LOCAL_NAMES or lowered.endswith(".localhost"):
        raise invalid(f"{key} must not point to localhost")
    try:
        address = ipaddress.ip_address(lowered)
    except ValueError:
        try:
            # Legacy IPv4 spellings the resolver accepts (127.1, 2130706433, 0x7f.1).
            address = ipaddress.IPv4Address(socket.inet_aton(lowered))
        except OSError:
            return url
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    if not address.is_global:
        raise invalid(f"{key} must not point to a loopback, private or reserved address")
    return url
