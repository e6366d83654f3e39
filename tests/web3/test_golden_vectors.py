"""The spec's golden vectors (idp-passkeys-web3.md section 3.6, from GoTrue's web3_test.go),
under a frozen clock: each signs a user in with the identity and session GoTrue gives, and the
same message one second past its window is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.services.web3 import messages

from ..factories import audit_entries, claims, freeze_clock, identities
from .conftest import oauth_error, post_web3
from .wallets import GOLDEN_ETHEREUM, GOLDEN_LEDGER, GOLDEN_SOLANA

VECTORS = {"solana": ("solana", GOLDEN_SOLANA), "solana-ledger": ("solana", GOLDEN_LEDGER),
           "ethereum": ("ethereum", GOLDEN_ETHEREUM)}


@pytest.mark.parametrize("name", VECTORS)
def test_the_golden_vector_signs_in(app, name):
    chain, vector = VECTORS[name]
    freeze_clock(app, vector["now"])

    response = post_web3(app, chain, vector["message"], vector["signature"])

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["refresh_token"]
    assert "weak_password" not in body and "provider_token" not in body
    subject = f"web3:{chain}:{vector['address']}"
    user = body["user"]
    assert user["app_metadata"] == {"provider": "web3", "providers": ["web3"]}
    assert user["email"] == "" and user["phone"] == ""
    assert user["user_metadata"]["sub"] == subject
    # Signed at the vector's time (long expired now): read without checking.
    token = claims(body["access_token"])
    assert token["sub"] == user["id"]
    assert [entry["method"] for entry in token["amr"]] == ["web3"]
    (identity,) = identities(app, user["id"])
    assert identity.provider == "web3" and identity.provider_id == subject
    (login,) = audit_entries(app, "login")
    assert login["traits"] == {"provider": "web3", "chain": chain, "network": "",
                               "address": vector["address"], "domain": "supabase.com",
                               "uri": "https://supabase.com/"}


@pytest.mark.parametrize("name", VECTORS)
def test_the_golden_vector_one_second_late_is_refused(app, name):
    chain, vector = VECTORS[name]
    issued = messages.parse(chain, vector["message"]).issued_at
    freeze_clock(app, issued + timedelta(minutes=10, seconds=1))
    response = post_web3(app, chain, vector["message"], vector["signature"])
    label = chain.capitalize()
    assert oauth_error(response) == (400, "invalid_grant",
                                     f"{label} message was issued too long ago")


def test_a_changed_character_breaks_the_signature(app):
    freeze_clock(app, GOLDEN_SOLANA["now"])
    message = GOLDEN_SOLANA["message"].replace("Statement", "Statemenu")
    response = post_web3(app, "solana", message, GOLDEN_SOLANA["signature"])
    assert oauth_error(response) == (400, "invalid_grant",
                                     "Signature does not match address in message")
