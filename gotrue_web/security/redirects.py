"""redirect_to validation: the site itself, or a match of a GOTRUE_URI_ALLOW_LIST glob.

Anything else silently becomes GOTRUE_SITE_URL, as GoTrue does. Globs follow gobwas/glob with
'.' and '/' as separators: ``*`` and ``?`` stay within a host label or path segment, ``**``
crosses them; ``[...]`` classes and ``{a,b}`` alternatives are supported.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import urlsplit

_SEPARATORS = "./"
_NOT_SEPARATOR = f"[^{re.escape(_SEPARATORS)}]"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=256)
def glob_pattern(glob: str) -> re.Pattern:
    """Compile a gobwas-style glob (separators '.' and '/') to an anchored regex.

    Raises ValueError for an unbalanced '{' or '}' or an unterminated '['.
    """
    out, i, depth = [], 0, 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            if glob.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append(_NOT_SEPARATOR + "*")
        elif char == "?":
            out.append(_NOT_SEPARATOR)
        elif char == "[":
            end = glob.find("]", i + 2)
            if end == -1:
                raise ValueError("unterminated '[' in glob")
            body = glob[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            # Inside a class only '\', '^' and ']' mean something to Python's re.
            body = re.sub(r"([\\\]^\[])", r"\\\1", body)
            out.append("[" + ("^" if negate else "") + body + "]")
            i = end + 1
            continue
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}":
            if not depth:
                raise ValueError("'}' without a matching '{' in glob")
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        elif char == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        raise ValueError("'{' without a matching '}' in glob")
    try:
        return re.compile("".join(out) + r"\Z", re.S)
    except re.error as exc:
        raise ValueError(f"invalid glob: {exc}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refused_host(host: str) -> bool:
    """Decimal- or hex-integer hosts (http://2130706433/) and non-loopback IP literals."""
    if re.fullmatch(r"\d+|0x[0-9a-f]+", host):
        return True
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(parts) -> int | None:
    return parts.port or _DEFAULT_PORTS.get(parts.scheme)


def is_valid(redirect_to: str, site_url: str, allow_list: tuple[str, ...]) -> bool:
    """True when ``redirect_to`` may be used as given."""
    if not redirect_to or not isinstance(redirect_to, str):
        return False
    try:
        target = urlsplit(redirect_to)
        site = urlsplit(site_url)
        target_host = (target.hostname or "").lower()
        site_host = (site.hostname or "").lower()
        target_port, site_port = _port(target), _port(site)
    except ValueError:
        return False
    if target_host and _refused_host(target_host):
        return False
    # Credentials in a redirect target only serve to disguise where it goes.
    if "@" in target.netloc:
        return False
    if target.scheme and target.scheme == site.scheme and target_host and target_host == site_host:
        if target_port == site_port or _is_loopback(target_host):
            return True
    without_fragment = redirect_to.split("#", 1)[0]
    return any(glob_pattern(pattern).match(without_fragment) for pattern in allow_list)


def resolve(redirect_to: str | None, site_url: str, allow_list: tuple[str, ...]) -> str:
    """The redirect to use: ``redirect_to`` when valid, else the site URL."""
    if redirect_to and is_valid(redirect_to, site_url, allow_list):
        return redirect_to
    return site_url
