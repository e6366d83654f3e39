"""OIDC providers whose ID token is the whole profile and that the id_token grant also takes
(spec oauth-sso.md sections 2 and 3): each module has the Provider and the claims mapping the
grant shares (services/oauth/id_token_sources.py). A subpackage so that providers/ stays
within the 20-module folder limit."""

from .apple import Apple
from .vercel_marketplace import VercelMarketplace

__all__ = ["Apple", "VercelMarketplace"]
