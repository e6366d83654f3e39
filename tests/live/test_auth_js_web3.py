"""The official JavaScript client's signInWithWeb3 (npm ``@supabase/auth-js``) against the
server over real HTTP (spec idp-passkeys-web3.md sections 3 and 4).

tests/live/js/web3_driver.mjs hands auth-js wallets with the interfaces it expects (a Solana
wallet's signMessage and publicKey.toBase58, an EIP-1193 provider's eth_requestAccounts,
eth_chainId and personal_sign). Their keys stay here: the wallets ask a loopback server of this
test to sign whatever auth-js built, so the messages are the client's own SIWS and EIP-4361
text. With Web3 off the client gets GoTrueClient.test.ts's "Web3 provider is disabled".
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from ..support.loopback_http import LoopbackHTTPServer, QuietHandler
from ..web3.wallets import EthereumWallet, SolanaWallet

pytestmark = pytest.mark.live

DRIVER_SECONDS = 120
APP_URL = "http://localhost:5173/welcome"


class WalletSigner(LoopbackHTTPServer):
    """GET: the wallets' addresses. POST {kind, message (hex)}: the signature a wallet gives."""

    def __init__(self):
        self.solana, self.ethereum = SolanaWallet(), EthereumWallet()
        self.signed: list[tuple[str, str]] = []
        signer = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                self.answer(200, json.dumps({"solana_address": signer.solana.address,
                                             "ethereum_address": signer.ethereum.checksum()}),
                            "application/json")

            def do_POST(self):  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                message = bytes.fromhex(request["message"]).decode()
                with signer.lock:
                    signer.signed.append((request["kind"], message))
                if request["kind"] == "solana":
                    signature = base64.b64encode(signer.solana.sign(message)).decode()
                else:
                    signature = signer.ethereum.sign(message)
                self.answer(200, json.dumps({"signature": signature}), "application/json")

        super().__init__(Handler)


def drive(js_dir, base_url: str, wallet_url: str) -> dict:
    try:
        run = subprocess.run(["node", "web3_driver.mjs", base_url, wallet_url, APP_URL],
                             cwd=js_dir, capture_output=True, text=True, timeout=DRIVER_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the auth-js driver did not finish in {DRIVER_SECONDS}s")
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_auth_js_sees_web3_provider_disabled(auth_js, make_app, serve):
    server = serve(make_app())
    error = drive(auth_js, server.url + "/auth/v1", "-")["disabled"]["error"]
    assert error == {"name": "AuthApiError", "status": 422, "code": "web3_provider_disabled",
                     "message": "Web3 provider is disabled"}


def test_auth_js_signs_in_solana_and_ethereum_wallets(auth_js, make_app, serve, servers):
    app = make_app(**{"web3.solana_enabled": True, "web3.ethereum_enabled": True})
    server = serve(app)
    signer = servers(WalletSigner())

    results = drive(auth_js, server.url, signer.url)

    solana = results["solana"]
    assert solana["error"] is None, solana
    assert solana["session"] == {"token_type": "bearer", "has_refresh_token": True}
    subject = f"web3:solana:{signer.solana.address}"
    assert solana["user"]["identities"] == [subject]
    assert solana["user"]["app_metadata"] == {"provider": "web3", "providers": ["web3"]}
    assert solana["user"]["user_metadata"]["custom_claims"] == {
        "address": signer.solana.address, "chain": "solana", "network": "",
        "domain": "localhost:5173", "statement": "Sign in to the test app"}
    assert results["solana_again"]["user"]["id"] == solana["user"]["id"]
    # auth-js writes its Solana "Resources" line without the colon: refused, as by GoTrue.
    assert results["solana_resources"]["error"] == {
        "name": "AuthApiError", "status": 400, "code": "validation_failed",
        "message": "siws: encountered unparsable line at index 6"}

    ethereum = results["ethereum"]
    assert ethereum["error"] is None, ethereum
    # This auth-js writes the address in lower case: that is the identity.
    address = signer.ethereum.address
    assert ethereum["user"]["identities"] == [f"web3:ethereum:{address}"]
    assert ethereum["user"]["user_metadata"]["custom_claims"] == {
        "address": address, "chain": "ethereum", "network": "137",
        "domain": "localhost:5173", "statement": "Sign in to the test app"}
    refused = results["ethereum_other_app"]["error"]
    assert refused["status"] == 400 and refused["message"] == (
        "Signed Ethereum message is using URI which is not allowed on this server, message was "
        "signed for another app")

    kinds = [kind for kind, _ in signer.signed]
    assert kinds == ["solana", "solana", "solana", "ethereum", "ethereum"]
    siwe_message = signer.signed[3][1]
    assert "\nURI: http://localhost:5173/welcome\nVersion: 1\nChain ID: 137\n" in siwe_message
