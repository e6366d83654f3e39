"""Web3 sign-in (POST /token?grant_type=web3): GoTrue's GOTRUE_EXTERNAL_WEB3_* variables (spec
idp-passkeys-web3.md section 3.1).

Each chain has its own switch and the longest time a signed message stays usable around its
Issued At. The request limit (GOTRUE_RATE_LIMIT_WEB3) is read with the other request limits
(settings/rate_limit.py). GET /settings has no key for Web3, as in GoTrue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..env import EnvReader

DEFAULT_MAXIMUM_VALIDITY = timedelta(minutes=10)


@dataclass(frozen=True)
class Web3Settings:
    solana_enabled: bool = False
    # How far from its Issued At a signed message is still accepted, in either direction.
    solana_maximum_validity_duration: timedelta = DEFAULT_MAXIMUM_VALIDITY
    ethereum_enabled: bool = False
    ethereum_maximum_validity_duration: timedelta = DEFAULT_MAXIMUM_VALIDITY

    @property
    def any_enabled(self) -> bool:
        return self.solana_enabled or self.ethereum_enabled


def read(env: EnvReader) -> Web3Settings:
    # A zero window would refuse every message: 0 means the default, as for GoTrue's other
    # durations here.
    return Web3Settings(
        solana_enabled=env.bool("EXTERNAL_WEB3_SOLANA_ENABLED", False),
        solana_maximum_validity_duration=env.duration(
            "EXTERNAL_WEB3_SOLANA_MAXIMUM_VALIDITY_DURATION", DEFAULT_MAXIMUM_VALIDITY,
            zero_is_default=True),
        ethereum_enabled=env.bool("EXTERNAL_WEB3_ETHEREUM_ENABLED", False),
        ethereum_maximum_validity_duration=env.duration(
            "EXTERNAL_WEB3_ETHEREUM_MAXIMUM_VALIDITY_DURATION", DEFAULT_MAXIMUM_VALIDITY,
            zero_is_default=True),
    )
