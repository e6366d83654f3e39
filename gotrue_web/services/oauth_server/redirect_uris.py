"""The redirect URIs an OAuth client may register (spec idp-passkeys-web3.md section 1.3).

GoTrue's rules: a scheme and a host (custom schemes such as ``myapp://cb`` are fine), no
dangerous scheme, plain http only on loopback, no fragment; queries are allowed. Hosts are
compared as written (Go's url package keeps their case), so ``http://LOCALHOST`` is refused
like GoTrue refuses it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_REDIRECT_URIS = 10
# oauth_authorizations.redirect_uri is a varchar(2048): a longer URI could never be used.
MAX_REDIRECT_URI_BYTES = 2048

_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _split_host(host: str) -> tuple[str, str] | None:
    """(hostname, port) of a URL's host part as Go's url.Hostname reads it; None when the port
    is not a number."""
    name, port = host, ""
    colon = host.rfind(":")
    if colon != -1 and (not host.startswith("[") or host.rfind("]") < colon):
        name, port = host[:colon], host[colon + 1:]
        if port and not (port.isascii() and port.isdigit()):
            return None
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name, port


def problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered (the reason of "invalid redirect_uri '<u>': <reason>"),
    or None."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in uri):
        return "invalid URL format"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "invalid URL format"
    host = parts.netloc.rpartition("@")[2]
    if not parts.scheme or not host:
        return "must have scheme and host"
    split = _split_host(host)
    if split is None:
        return "invalid URL format"
    scheme = parts.scheme.lower()
    if scheme in _FORBIDDEN_SCHEMES:
        return f"scheme '{scheme}' is not allowed for security reasons"
    if scheme == "http" and split[0] not in _LOOPBACK_HOSTS:
        return "HTTP scheme only allowed for localhost"
    if parts.fragment:
        return "fragment not allowed in redirect URI"
    # Ours: the list is stored comma-joined (GoTrue's format), so a comma would split a URI.
    if "," in uri:
        return "must not contain a comma"
    if len(uri.encode("utf-8")) > MAX_REDIRECT_URI_BYTES:
        return f"must not exceed {MAX_REDIRECT_URI_BYTES} characters"
    return None


def list_problem(uris: list[str], *, empty_message: str) -> str | None:
    """The first problem of a whole list: empty, too long, or its first bad URI."""
    if not uris:
        return empty_message
    if len(uris) > MAX_REDIRECT_URIS:
        return f"redirect_uris cannot exceed {MAX_REDIRECT_URIS} items"
    for uri in uris:
        reason = problem(uri)
        if reason:
            return f"invalid redirect_uri '{uri}': {reason}"
    return None
