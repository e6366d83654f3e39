"""The account a wallet signs in (spec idp-passkeys-web3.md section 3.5, and row 15 of 3.3): the
identity ``web3:<chain>:<address>`` and its JSON, the user's metadata, the same user next time,
an Ethereum address in other letter case as another identity (GoTrue's quirk), DISABLE_SIGNUP,
bans, the user-created hooks, and sessions that work like any other."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.models import HookDelivery, Identity, Session, User
from gotrue_web.settings import HookConfig

from ..conftest import api_for, table_rows
from ..factories import audit_entries, count, freeze_clock, identities, update_user, user_row
from ..support.fake_hooks import SECRET, FakeHookReceiver, Reply
from .conftest import api_error, post_web3
from .wallets import EthereumWallet, SolanaWallet, rfc3339, siwe, siws


def sign_in_solana(app, wallet: SolanaWallet, **fields):
    message = siws(wallet.address, **fields)
    return post_web3(app, "solana", message, wallet.sign_b64url(message))


def sign_in_ethereum(app, wallet: EthereumWallet, address: str | None = None, **fields):
    message = siwe(address or wallet.address, **fields)
    return post_web3(app, "ethereum", message, wallet.sign(message))


def test_a_new_solana_wallet_gets_the_spec_identity_and_user(app):
    wallet = SolanaWallet()
    response = sign_in_solana(app, wallet, extra=("Chain ID: solana:mainnet",))
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    subject = f"web3:solana:{wallet.address}"
    data = {"sub": subject,
            "custom_claims": {"address": wallet.address, "chain": "solana",
                              "network": "solana:mainnet", "domain": "supabase.com",
                              "statement": "Statement"},
            "email_verified": False, "phone_verified": False}
    assert user["user_metadata"] == data
    assert user["app_metadata"] == {"provider": "web3", "providers": ["web3"]}
    assert user["email"] == "" and user["phone"] == ""
    assert user["aud"] == "authenticated" and user["role"] == "authenticated"
    assert "confirmed_at" not in user and "email_confirmed_at" not in user
    (identity,) = user["identities"]
    assert identity["id"] == subject and identity["provider"] == "web3"
    assert identity["user_id"] == user["id"] and identity["identity_data"] == data
    assert "email" not in identity
    row = user_row(app, user["id"])
    assert row.email is None and row.email_confirmed_at is None and row.confirmed_at is None
    assert row.encrypted_password == "" and row.is_sso_user is False
    (stored,) = identities(app, user["id"])
    assert stored.provider_id == subject and stored.identity_data == data


def test_an_ethereum_statement_that_is_absent_is_null(app):
    wallet = EthereumWallet()
    response = sign_in_ethereum(app, wallet, statement=None, chain_id="137")
    assert response.status_code == 200, response.get_json()
    claims = response.get_json()["user"]["user_metadata"]["custom_claims"]
    assert claims == {"address": wallet.address, "chain": "ethereum", "network": "137",
                      "domain": "supabase.com", "statement": None}
    solana = sign_in_solana(app, SolanaWallet(), statement=None)
    assert solana.get_json()["user"]["user_metadata"]["custom_claims"]["statement"] == ""


def test_the_same_wallet_signs_in_to_the_same_user(app):
    wallet = SolanaWallet()
    first = sign_in_solana(app, wallet).get_json()["user"]
    update_user(app, first["id"], raw_user_meta_data={**first["user_metadata"], "plan": "pro"})
    second = sign_in_solana(app, wallet, statement="Another day",
                            domain="localhost:5173", uri="http://localhost:5173/")
    assert second.status_code == 200, second.get_json()
    user = second.get_json()["user"]
    assert user["id"] == first["id"]
    # identity_data is replaced, user_metadata merged (GoTrue's AccountExists).
    claims = user["user_metadata"]["custom_claims"]
    assert claims["statement"] == "Another day" and claims["domain"] == "localhost:5173"
    assert user["user_metadata"]["plan"] == "pro"
    (identity,) = identities(app, first["id"])
    assert identity.identity_data["custom_claims"]["statement"] == "Another day"
    assert count(app, User) == 1 and count(app, Identity) == 1 and count(app, Session) == 2


def test_an_ethereum_address_in_other_letter_case_is_another_identity(app):
    """On every database, MariaDB included (identities.provider_id has a binary collation)."""
    wallet = EthereumWallet()
    lower, checksum = wallet.address, wallet.checksum()
    assert lower != checksum
    first = sign_in_ethereum(app, wallet, lower).get_json()["user"]
    second = sign_in_ethereum(app, wallet, checksum).get_json()["user"]
    assert first["id"] != second["id"]
    assert count(app, Identity) == 2
    subjects = {row[0] for row in table_rows(app, sa.select(Identity.provider_id))}
    assert subjects == {f"web3:ethereum:{lower}", f"web3:ethereum:{checksum}"}
    assert sign_in_ethereum(app, wallet, checksum).get_json()["user"]["id"] == second["id"]


@pytest.mark.parametrize("v_offset", [27, 0])
def test_ethereum_recovery_ids_27_28_and_0_1_are_accepted(app, v_offset):
    wallet = EthereumWallet()
    message = siwe(wallet.checksum())
    response = post_web3(app, "ethereum", message, wallet.sign(message, v_offset=v_offset))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("encode", ["sign_b64", "sign_b64url"])
def test_solana_signatures_in_either_base64_alphabet(app, encode):
    wallet = SolanaWallet()
    message = siws(wallet.address)
    response = post_web3(app, "solana", message, getattr(wallet, encode)(message))
    assert response.status_code == 200, response.get_json()
    # The other alphabet's characters in the same places decode the same.
    swapped = getattr(wallet, encode)(message).translate(str.maketrans("+/-_", "-_+/"))
    assert post_web3(app, "solana", message, swapped).status_code == 200


def test_a_ledger_signature_of_a_new_wallet(app):
    wallet = SolanaWallet()
    message = siws(wallet.address)
    response = post_web3(app, "solana", message, wallet.sign_ledger(message, "supabase.com"))
    assert response.status_code == 200, response.get_json()
    # The envelope names the message's domain: signed for another, it is no signature.
    response = post_web3(app, "solana", message, wallet.sign_ledger(message, "other.example"))
    assert response.status_code == 400


def test_the_login_is_audited_with_the_wallet(app):
    wallet = EthereumWallet()
    user = sign_in_ethereum(app, wallet, uri="http://localhost:3000/x",
                            domain="localhost:3000").get_json()["user"]
    (login,) = audit_entries(app, "login")
    assert login["actor_id"] == user["id"]
    assert login["traits"] == {"provider": "web3", "chain": "ethereum", "network": "1",
                               "address": wallet.address, "domain": "localhost:3000",
                               "uri": "http://localhost:3000/x"}


def test_the_session_works_for_the_user_routes_and_refreshes(app):
    # Today's clock: the tokens are checked against the real time.
    now = freeze_clock(app).now
    body = sign_in_solana(app, SolanaWallet(), issued_at=rfc3339(now)).get_json()
    api = api_for(app)
    me = api.get("/user", token=body["access_token"])
    assert me.status_code == 200 and me.get_json()["id"] == body["user"]["id"]
    refreshed = api.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    assert refreshed.get_json()["user"]["id"] == body["user"]["id"]


# --- row 15: DISABLE_SIGNUP, bans, hooks --------------------------------------------------------


def test_signups_disabled_refuse_a_new_wallet_but_not_a_known_one(web3_app):
    wallet = SolanaWallet()
    open_app = web3_app()
    known = sign_in_solana(open_app, wallet).get_json()["user"]
    closed = web3_app(disable_signup=True)
    assert api_error(sign_in_solana(closed, SolanaWallet())) == (
        422, "signup_disabled", "Signups not allowed for this instance")
    assert count(closed, User) == 1
    assert sign_in_solana(closed, wallet).get_json()["user"]["id"] == known["id"]


def test_a_banned_wallet_user_is_refused(app):
    wallet = EthereumWallet()
    user = sign_in_ethereum(app, wallet).get_json()["user"]
    update_user(app, user["id"], banned_until=datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert api_error(sign_in_ethereum(app, wallet)) == (403, "user_banned", "User is banned")
    assert count(app, Session) == 1


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver())


def hook(receiver, name: str) -> dict:
    return {f"hooks.{name}": HookConfig(True, receiver.uri("/" + name), (SECRET,))}


def test_the_user_created_hooks_run_for_a_new_wallet_only(web3_app, receiver):
    app = web3_app(**hook(receiver, "before_user_created"), **hook(receiver, "after_user_created"))
    wallet = SolanaWallet()
    user = sign_in_solana(app, wallet).get_json()["user"]
    before, after = receiver.received
    assert before.json["user"]["app_metadata"] == {"provider": "web3", "providers": ["web3"]}
    assert before.json["user"]["user_metadata"]["sub"] == f"web3:solana:{wallet.address}"
    assert after.json["user"]["id"] == user["id"]
    assert sign_in_solana(app, wallet).status_code == 200
    assert len(receiver.received) == 2


def test_a_before_hook_refusal_writes_nothing(web3_app, receiver):
    receiver.script(Reply(200, json.dumps({"error": {"http_code": 403,
                                                     "message": "no wallets"}})))
    app = web3_app(**hook(receiver, "before_user_created"))
    response = sign_in_solana(app, SolanaWallet())
    assert api_error(response) == (403, "unknown", "no wallets")
    assert count(app, User) == count(app, Identity) == count(app, Session) == 0
    (row,) = table_rows(app, sa.select(HookDelivery.hook, HookDelivery.status))
    assert tuple(row) == ("before_user_created", "failed")
