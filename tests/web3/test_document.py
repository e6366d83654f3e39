"""The web3 grant's answers match the OpenAPI document (POST /token): the session, GoTrue's
normal errors and the OAuth-shaped ones, in both error shapes and under both prefixes."""

from __future__ import annotations

import pytest

from gotrue_web import API_PREFIX

from ..conftest import ApiClient
from ..openapi.support import checked
from .wallets import EthereumWallet, SolanaWallet, siwe, siws

PATH = "/token?grant_type=web3"


@pytest.mark.parametrize("prefix", ["", API_PREFIX])
@pytest.mark.parametrize("legacy_errors", [False, True])
def test_web3_answers_match_the_document(app, prefix, legacy_errors):
    api = ApiClient(app.test_client(), "", prefix)
    headers = {"X-Supabase-Api-Version": ""} if legacy_errors else {}
    wallet = SolanaWallet()
    message = siws(wallet.address)
    session = checked(api, "POST", PATH, 200, headers=headers, json={
        "chain": "solana", "message": message, "signature": wallet.sign_b64url(message)})
    assert session.get_json()["user"]["app_metadata"]["provider"] == "web3"
    ethereum = EthereumWallet()
    message = siwe(ethereum.address)
    checked(api, "POST", PATH, 200, headers=headers, json={
        "chain": "ethereum", "message": message, "signature": ethereum.sign(message)})
    checked(api, "POST", PATH, 400, "web3_unsupported_chain", headers=headers,
            json={"chain": "tron", "message": message, "signature": "s"})
    checked(api, "POST", PATH, 400, "validation_failed", headers=headers,
            json={"chain": "ethereum", "message": message, "signature": "0x12"})
    refused = checked(api, "POST", PATH, 400, headers=headers, json={
        "chain": "ethereum", "message": message, "signature": EthereumWallet().sign(message)})
    assert refused.get_json()["error"] == "invalid_grant"


def test_the_disabled_provider_matches_the_document(make_app):
    api = ApiClient(make_app().test_client(), "")
    checked(api, "POST", PATH, 422, "web3_provider_disabled", json={})
