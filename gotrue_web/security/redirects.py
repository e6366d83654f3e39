"""redirect_to validation: the site itself, or a match of a GOTRUE_URI_ALLOW_LIST glob.

Anything else silently becomes GOTRUE_SITE_URL, as GoTrue does. Globs follow gobwas/glob with
'.' and '/' as separators: ``*`` and ``?`` stay within a host label or path segment, ``**``
crosses them; ``[...]`` classes and ``{a,b}`` alternatives are supported.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

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


# What a browser drops or reads differently from urlsplit: controls and spaces (stripped or
# refused), and backslashes (a path or host separator in http and https URLs).
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")


def _ascii_host(host: str) -> str | None:
    """The host as a browser resolves it: IDNA ASCII, so that U+3002, U+FF0E and U+FF61 are
    dots and other compatibility forms are folded; None when a browser would read it another
    way (percent-escapes) or not at all."""
    if "%" in host:
        return None
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def browser_form(redirect_to: str) -> tuple[SplitResult, str] | None:
    """``redirect_to`` as a browser will follow it, without its fragment, and its host; None
    when it is ambiguous (a browser could go elsewhere than what matching here sees)."""
    if _AMBIGUOUS.search(redirect_to):
        return None
    try:
        parts = urlsplit(redirect_to)
        port = parts.port
    except ValueError:
        return None
    # Credentials in a redirect target only serve to disguise where it goes.
    if "@" in parts.netloc:
        return None
    host = _ascii_host(parts.hostname or "")
    if host is None:
        return None
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    form = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))
    return urlsplit(form), form


def is_valid(redirect_to: str, site_url: str, allow_list: tuple[str, ...]) -> bool:
    """True when ``redirect_to`` may be used as given.

    It is judged as a browser will read it (browser_form): what matched is where the browser
    goes, whatever Unicode dots, backslashes or control characters it holds.
    """
    if not redirect_to or not isinstance(redirect_to, str):
        return False
    seen = browser_form(redirect_to)
    if seen is None:
        return False
    target, form = seen
    try:
        site = urlsplit(site_url)
        target_host = (target.hostname or "").lower()
        site_host = (site.hostname or "").lower()
        target_port, site_port = _port(target), _port(site)
    except ValueError:
        return False
    if target_host and _refused_host(target_host):
        return False
    if target.scheme and target.scheme == site.scheme and target_host and target_host == site_host:
        if target_port == site_port or _is_loopback(target_host):
            return True
    return any(glob_pattern(pattern).match(form) for pattern in allow_list)


def resolve(redirect_to: str | None, site_url: str, allow_list: tuple[str, ...]) -> str:
    """The redirect to use: ``redirect_to`` when valid, else the site URL."""
    if redirect_to and is_valid(redirect_to, site_url, allow_list):
        return redirect_to
    return site_url
