"""The client's address behind a reverse proxy.

gunicorn's FORWARDED_ALLOW_IPS names the proxies it trusts, but gunicorn only takes the scheme
from them; REMOTE_ADDR stays the proxy's. The audit log and the console's per-IP sign-in
throttle need the client, so requests whose peer is one of those proxies take the address the
proxy appended to X-Forwarded-For. Any other peer's X-Forwarded-For is ignored: a client could
write anything there.
"""

from __future__ import annotations

import functools
import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix

# gunicorn's default: a proxy on the same machine.
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1", "::1")


def parse_trusted_proxies(items: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...] | None:
    """Addresses and networks (CIDR) as gunicorn accepts them; ``*`` (None) trusts any peer."""
    if "*" in items:
        return None
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items)


class ForwardedClient:
    """WSGI middleware: REMOTE_ADDR from X-Forwarded-For, for trusted peers only."""

    def __init__(self, app, trusted: tuple[ipaddress._BaseNetwork, ...] | None):
        self.app = app
        self.trusted = trusted
        # One hop: the address the trusted proxy itself appended (the rightmost).
        self.forwarded = ProxyFix(app, x_for=1, x_proto=0, x_host=0, x_port=0, x_prefix=0)
        # Peers are few (the proxies, or the clients of a server without one): parsing the
        # address on every request costs more than the rest of this middleware.
        self._is_trusted = functools.lru_cache(maxsize=4096)(self._check_trusted)

    def _check_trusted(self, peer: str) -> bool:
        if self.trusted is None:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def __call__(self, environ, start_response):
        # Without the header ProxyFix would change nothing (it reads X-Forwarded-For only).
        if ("HTTP_X_FORWARDED_FOR" in environ
                and self._is_trusted(environ.get("REMOTE_ADDR", ""))):
            return self.forwarded(environ, start_response)
        return self.app(environ, start_response)
