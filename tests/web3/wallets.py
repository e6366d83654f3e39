"""Wallets made in the test: Solana keys with ``cryptography`` (ed25519), Ethereum keys with
``coincurve`` signing EIP-191's hash; message builders in the SIWS/SIWE shapes the official
client writes; and the spec's golden vectors (idp-passkeys-web3.md section 3.6)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timezone

import base58
import coincurve
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gotrue_web.services.web3.signatures import keccak256, personal_message_hash

ALLOW_LIST = ("https://supabase.com/", "https://supabase.com")


@dataclass
class SolanaWallet:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_bytes(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def address(self) -> str:
        return base58.b58encode(self.public_bytes).decode()

    def sign(self, message: str) -> bytes:
        return self.key.sign(message.encode())

    def sign_b64(self, message: str) -> str:
        """Standard alphabet, padded (88 characters)."""
        return base64.b64encode(self.sign(message)).decode()

    def sign_b64url(self, message: str) -> str:
        """URL alphabet without padding (86 characters), as auth-js sends it."""
        return base64.urlsafe_b64encode(self.sign(message)).decode().rstrip("=")

    def sign_ledger(self, message: str, domain: str) -> str:
        """What a Ledger signs: Solana's off-chain message envelope around the text."""
        text = message.encode()
        envelope = (b"\xffsolana offchain" + b"\x00" + domain.encode()[:32].ljust(32, b"\x00")
                    + b"\x00" + b"\x01" + self.public_bytes + len(text).to_bytes(2, "little")
                    + text)
        return base64.b64encode(self.key.sign(envelope)).decode()


@dataclass
class EthereumWallet:
    key: coincurve.PrivateKey = field(default_factory=coincurve.PrivateKey)

    @property
    def address(self) -> str:
        """Lower-case hex; checksum() gives the EIP-55 form."""
        public = self.key.public_key.format(compressed=False)[1:]
        return "0x" + keccak256(public)[-20:].hex()

    def checksum(self) -> str:
        """The EIP-55 mixed-case form of the address."""
        digits = self.address[2:]
        hashed = keccak256(digits.encode()).hex()
        return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c
                              for c, h in zip(digits, hashed))

    def sign(self, message: str, *, v_offset: int = 27, prefix: str = "0x") -> str:
        """personal_sign: r || s || v over EIP-191's hash, v = 27/28 (or 0/1 with offset 0)."""
        recoverable = self.key.sign_recoverable(personal_message_hash(message.encode()),
                                                hasher=None)
        return prefix + (recoverable[:64] + bytes([recoverable[64] + v_offset])).hex()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def siws(address: str, *, domain: str = "supabase.com", uri: str = "https://supabase.com/",
         issued_at: str = "2025-03-29T00:00:00Z", statement: str | None = "Statement",
         extra: tuple[str, ...] = ()) -> str:
    """A Solana message as auth-js's builder writes it (Version before URI)."""
    lines = [f"{domain} wants you to sign in with your Solana account:", address]
    lines += ["", statement, ""] if statement is not None else [""]
    lines += ["Version: 1", f"URI: {uri}", f"Issued At: {issued_at}", *extra]
    return "\n".join(lines)


def siwe(address: str, *, domain: str = "supabase.com", uri: str = "https://supabase.com/",
         issued_at: str = "2025-03-29T00:00:00Z", statement: str | None = "Statement",
         chain_id: str | None = "1", extra: tuple[str, ...] = ()) -> str:
    """An Ethereum message in EIP-4361's order (URI, Version, Chain ID, ..., Issued At)."""
    lines = [f"{domain} wants you to sign in with your Ethereum account:", address]
    lines += ["", statement, ""] if statement is not None else [""]
    lines += [f"URI: {uri}", "Version: 1"]
    lines += [f"Chain ID: {chain_id}"] if chain_id is not None else []
    lines += [f"Issued At: {issued_at}", *extra]
    return "\n".join(lines)


# --- the spec's golden vectors (GoTrue's web3_test.go) ------------------------------------------

GOLDEN_SOLANA = {
    "now": datetime(2025, 3, 29, 0, 9, 59, tzinfo=timezone.utc),
    "message": "supabase.com wants you to sign in with your Solana account:\n"
               "2EZEiBdw47VHT6SpZSW9VnuSvBe7DxuYHBTxj19gxvv8\n\nStatement\n\n"
               "URI: https://supabase.com/\nVersion: 1\nIssued At: 2025-03-29T00:00:00Z",
    "signature": "BQxBJ+g2xbMh0LqwYR4ULJ4l7jXFmz33urmp534MS0x7nrGRe2xYdFq41FiGrySX6RipzGqX4kS2v"
                 "kQmi/+JCg==",
    "address": "2EZEiBdw47VHT6SpZSW9VnuSvBe7DxuYHBTxj19gxvv8",
}
GOLDEN_LEDGER = {
    "now": datetime(2025, 7, 29, 22, 30, 52, 235000, tzinfo=timezone.utc),
    "message": "supabase.com wants you to sign in with your Solana account:\n"
               "EqzxWVyBpLD34SV9w1FFpPPvbfrfAXdiDVg1cyHTR1Rv\n\n"
               "I confirm ownership of this wallet\n\n"
               "Version: 1\nURI: https://supabase.com/\nIssued At: 2025-07-29T22:29:52.235Z",
    "signature": "9slc0BBJw16TzWYs4/op8na3vt9E0CKt0FL5pqhzTDxvqF/txpbdo+ULDCeSzrDE/uJWmpMQw+hF0"
                 "rkDj4Q0Bw==",
    "address": "EqzxWVyBpLD34SV9w1FFpPPvbfrfAXdiDVg1cyHTR1Rv",
}
GOLDEN_ETHEREUM = {
    "now": datetime(2025, 3, 29, 0, 9, 59, tzinfo=timezone.utc),
    "message": "supabase.com wants you to sign in with your Ethereum account:\n"
               "0xD1FfC6bdfacf333C2B08F88f2f50ddcD87eaCa57\n\nStatement\n\n"
               "URI: https://supabase.com/\nVersion: 1\nIssued At: 2025-03-29T00:00:00Z",
    "signature": "0xd8dad96466536aca351702766ce1ca321317ef1e7c355b2cf19a166828f78854197ae34e3cd"
                 "ff0a6be1e6317f654ef458623433f14ed55f79f183e7a56c458f51b",
    "address": "0xD1FfC6bdfacf333C2B08F88f2f50ddcD87eaCa57",
}
