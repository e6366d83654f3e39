"""A user's Web3 wallets: their identities of provider "web3", with what the sign-in stored in
identity_data.custom_claims (services/web3/sign_in.py identity_data). Read only; unlinking one
is the identities card's Unlink."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ....models import User
from ....services.web3.messages import CHAIN_NAMES

PROVIDER = "web3"


@dataclass(frozen=True)
class WalletRow:
    identity_id: str
    chain: str          # "Ethereum", "Solana" (as written when the chain is not one we know)
    address: str
    network: str        # the message's Chain ID ("1", "solana:mainnet"), or ""
    domain: str         # the domain of the last message the wallet signed
    created_at: datetime | None
    last_sign_in_at: datetime | None


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def rows(user: User) -> list[WalletRow]:
    """The user's wallets, first linked first."""
    found = []
    for identity in user.identities:
        if identity.provider != PROVIDER:
            continue
        data = identity.identity_data if isinstance(identity.identity_data, dict) else {}
        claims = data.get("custom_claims")
        claims = claims if isinstance(claims, dict) else {}
        # The provider id is web3:<chain>:<address>: what is shown when the claims lack them.
        _, chain, address = (identity.provider_id.split(":", 2) + ["", ""])[:3]
        chain = _text(claims.get("chain")) or chain
        found.append(WalletRow(
            identity_id=str(identity.id), chain=CHAIN_NAMES.get(chain, chain or "Unknown"),
            address=_text(claims.get("address")) or address,
            network=_text(claims.get("network")), domain=_text(claims.get("domain")),
            created_at=identity.created_at, last_sign_in_at=identity.last_sign_in_at))
    return sorted(found, key=lambda row: (row.created_at is None, row.created_at))
