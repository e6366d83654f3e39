"""A user's passkeys and Web3 wallets on their console page (issue 19): the passkeys card (name,
created, last used, synced; oldest first; the empty state; shown while passkeys are off only when
the user has some), Remove (htmx and plain posts, audited as passkey_deleted with the operator as
the actor, the other passkeys kept), its refusals (another user's passkey, an unknown or malformed
id), the CSRF token, the roles that may not remove; and the wallets card, filled by real Web3
sign-ins (chain, address, Chain ID, domain, linked, last sign-in)."""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import operators
from gotrue_web.console.operations.audit_log import summaries
from gotrue_web.extensions import db
from gotrue_web.models import Identity, WebAuthnCredential

from ..factories import audit_entries, freeze_clock, make_user
from ..web3.conftest import WEB3_ON, post_web3
from ..web3.wallets import EthereumWallet, SolanaWallet, rfc3339, siwe, siws
from .conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, console_client, signed_in
from .support_users import unescape

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
EMAIL = "ada@example.com"
ROW = re.compile(r'<tr id="passkey-([0-9a-f-]{36})">(.*?)</tr>', re.S)
WALLET_ROW = re.compile(r'<tr id="wallet-([0-9a-f-]{36})">(.*?)</tr>', re.S)


@pytest.fixture
def app(make_app):
    app = make_app(**{"passkeys.enabled": True})
    freeze_clock(app, NOW)
    return app


@pytest.fixture
def operator(app):
    return signed_in(app)


# --- helpers ------------------------------------------------------------------------------------


def add_passkey(app, user_id, name: str | None, *, days_ago: int = 0,
                last_used: datetime | None = None, backed_up: bool = False) -> uuid.UUID:
    """A passkey row as registration leaves it (the key bytes are never read here)."""
    created = NOW - timedelta(days=days_ago)
    with app.app_context():
        credential = WebAuthnCredential(
            user_id=user_id, credential_id=os.urandom(32), public_key=b"\xa5\x01\x02",
            attestation_type="none", sign_count=0, transports=["internal"],
            backup_eligible=backed_up, backed_up=backed_up, friendly_name=name,
            created_at=created, updated_at=created, last_used_at=last_used)
        db.session.add(credential)
        db.session.commit()
        return credential.id


def passkey_ids(app, user_id) -> set[uuid.UUID]:
    with app.app_context():
        return set(db.session.execute(sa.select(WebAuthnCredential.id).where(
            WebAuthnCredential.user_id == user_id)).scalars())


def card(html: str, card_id: str) -> str:
    """One card of the user page ("" when the page has none)."""
    match = re.search(rf'<section class="card flush" id="{card_id}">(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def cells(row: str) -> list[str]:
    """The text of a row's cells, tags removed and whitespace squeezed."""
    texts = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split()) for text in texts]


def remove_url(user_id, passkey_id) -> str:
    return f"/console/users/{user_id}/passkeys/{passkey_id}/delete"


def page(client, user_id) -> str:
    response = client.get(f"/console/users/{user_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def form_error_of(html: str) -> str:
    match = re.search(r'<div class="form-error" role="alert">([^<]*)</div>', html)
    return unescape(match.group(1)) if match else ""


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# --- the list -----------------------------------------------------------------------------------


def test_the_user_page_lists_the_passkeys_oldest_first(app, operator):
    user_id = make_user(app, EMAIL)
    used = NOW - timedelta(hours=2, minutes=5, seconds=7)
    phone = add_passkey(app, user_id, "iCloud Keychain", days_ago=3, last_used=used,
                        backed_up=True)
    key = add_passkey(app, user_id, "YubiKey 5 Series", days_ago=1)
    unnamed = add_passkey(app, user_id, None)
    add_passkey(app, make_user(app, "grace@example.com"), "Grace's key")
    passkeys = card(page(operator, user_id), "passkeys")

    assert 'Passkeys <span class="muted">3</span>' in passkeys
    assert ('<th scope="col">Passkey</th><th scope="col">Created</th>'
            '<th scope="col">Last used</th>') in passkeys
    rows = dict(ROW.findall(passkeys))
    assert list(rows) == [str(phone), str(key), str(unnamed)]
    assert cells(rows[str(phone)])[:3] == [
        f"iCloud Keychain synced ID {str(phone)[:8]} Copy the passkey id",
        stamp(NOW - timedelta(days=3)), stamp(used)]
    assert cells(rows[str(key)])[:3] == [
        f"YubiKey 5 Series ID {str(key)[:8]} Copy the passkey id", stamp(NOW - timedelta(days=1)),
        "never"]
    assert cells(rows[str(unnamed)])[0].startswith("Passkey ID ")
    # Times are <time> elements console.js shows in the operator's zone.
    assert f'<time class="moment" datetime="{used:%Y-%m-%dT%H:%M:%SZ}"' in rows[str(phone)]
    assert f'data-copy="{phone}"' in rows[str(phone)]
    assert "Grace" not in passkeys
    # Remove: a form per passkey, with its question for the confirm dialog.
    form = rows[str(key)]
    assert f'action="{remove_url(user_id, key)}"' in form
    assert f'hx-post="{remove_url(user_id, key)}"' in form and 'name="csrf_token"' in form
    assert ('hx-confirm="Remove the passkey &#34;YubiKey 5 Series&#34;? ada@example.com can no '
            'longer sign in with it."') in form


def test_a_user_without_passkeys_gets_the_empty_card(app, operator):
    user_id = make_user(app, EMAIL)
    passkeys = card(page(operator, user_id), "passkeys")
    assert 'Passkeys <span class="muted">0</span>' in passkeys
    assert "No passkeys" in passkeys and "<table" not in passkeys


def test_with_passkeys_off_the_card_shows_only_for_a_user_who_has_some(make_app):
    off = make_app()
    client = signed_in(off)
    plain = make_user(off, "plain@example.com")
    assert 'id="passkeys"' not in page(client, plain)
    keeper = make_user(off, "keeper@example.com")
    passkey = add_passkey(off, keeper, "Old phone")
    assert "Old phone" in card(page(client, keeper), "passkeys")
    # Removing still works: it takes a way in away, which is never wrong.
    assert client.post(remove_url(keeper, passkey)).status_code == 303
    assert passkey_ids(off, keeper) == set()


# --- removing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_remove_deletes_that_passkey_only_and_is_audited(app, operator, htmx):
    user_id = make_user(app, EMAIL)
    removed = add_passkey(app, user_id, "YubiKey 5 Series", days_ago=2)
    kept = add_passkey(app, user_id, "iCloud Keychain", days_ago=1)
    other_user = make_user(app, "grace@example.com")
    others = add_passkey(app, other_user, "Grace's key")

    response = operator.post(remove_url(user_id, removed), htmx=htmx)
    message = 'Passkey "YubiKey 5 Series" removed: ada@example.com can no longer sign in with it.'
    if htmx:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith('<div id="user-detail">')
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {"message": message,
                                                                       "kind": "ok"}
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == f"/console/users/{user_id}"
        html = page(operator, user_id)
        assert message in unescape(html)  # the flash
    assert list(dict(ROW.findall(card(html, "passkeys")))) == [str(kept)]
    assert passkey_ids(app, user_id) == {kept}
    assert passkey_ids(app, other_user) == {others}

    [entry] = audit_entries(app, "passkey_deleted")
    assert entry["actor_username"] == OPERATOR_EMAIL and entry["actor_name"] == "operator"
    with app.app_context():
        assert entry["actor_id"] == str(operators.find(OPERATOR_EMAIL).id)
    assert entry["ip_address"] == "127.0.0.1"
    assert entry["traits"] == {"passkey_id": str(removed), "user_id": str(user_id)}
    assert summaries.summary(entry["action"], entry["traits"]) == "passkey removed"
    # The user's activity names the operator.
    timeline = card(html, "timeline")
    assert "<code>passkey_deleted</code>" in timeline
    assert f'{OPERATOR_EMAIL} <span class="badge info">operator</span>' in timeline


def test_removing_the_last_passkey_leaves_the_empty_card(app, operator):
    user_id = make_user(app, EMAIL)
    only = add_passkey(app, user_id, "Windows Hello")
    response = operator.post(remove_url(user_id, only), htmx=True)
    assert "No passkeys" in card(response.get_data(as_text=True), "passkeys")
    assert passkey_ids(app, user_id) == set()


def test_the_audit_log_page_shows_the_removal(app, operator):
    user_id = make_user(app, EMAIL)
    passkey = add_passkey(app, user_id, "YubiKey 5 Series")
    assert operator.post(remove_url(user_id, passkey), htmx=True).status_code == 200
    html = unescape(operator.get("/console/audit").get_data(as_text=True))
    [row] = [row for row in re.findall(r'<tr id="audit-.*?</tr>', html, re.S)
             if ">passkey_deleted</code>" in row]
    assert OPERATOR_EMAIL in row
    assert '<span class="summary">passkey removed</span>' in row


@pytest.mark.parametrize("target", ["another user's", "unknown", "malformed"])
@pytest.mark.parametrize("htmx", [True, False])
def test_a_passkey_that_is_not_the_users_is_not_removed(app, operator, target, htmx):
    user_id = make_user(app, EMAIL)
    own = add_passkey(app, user_id, "Own key")
    other_user = make_user(app, "grace@example.com")
    others = add_passkey(app, other_user, "Grace's key")
    passkey_id = {"another user's": str(others), "unknown": str(uuid.UUID(int=7)),
                  "malformed": "not-a-uuid"}[target]

    response = operator.post(remove_url(user_id, passkey_id), htmx=htmx)
    # As for an MFA factor that is not the user's: the service's 404 message, beside the card.
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert form_error_of(card(html, "passkeys")) == "Passkey not found"
    if htmx:
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {
            "message": "Passkey not found", "kind": "error"}
    assert passkey_ids(app, user_id) == {own}
    assert passkey_ids(app, other_user) == {others}
    assert audit_entries(app, "passkey_deleted") == []


def test_a_user_that_does_not_exist_is_404(app, operator):
    user_id = make_user(app, EMAIL)
    passkey = add_passkey(app, user_id, "Own key")
    for htmx in (True, False):
        response = operator.post(remove_url(uuid.UUID(int=9), passkey), htmx=htmx)
        assert response.status_code == 404
    assert passkey_ids(app, user_id) == {passkey}


def test_remove_needs_the_csrf_token(app, operator):
    user_id = make_user(app, EMAIL)
    passkey = add_passkey(app, user_id, "YubiKey 5 Series")
    for htmx in (False, True):
        response = operator.post(remove_url(user_id, passkey), {}, htmx=htmx, csrf=False)
        assert response.status_code == 400
    assert passkey_ids(app, user_id) == {passkey}
    assert audit_entries(app, "passkey_deleted") == []


def test_only_a_signed_in_operator_can_remove(app, anonymous_console):
    user_id = make_user(app, EMAIL)
    passkey = add_passkey(app, user_id, "YubiKey 5 Series")
    response = anonymous_console.post(remove_url(user_id, passkey))
    assert response.status_code == 303 and response.headers["Location"] == "/console/login"
    assert anonymous_console.post(remove_url(user_id, passkey), htmx=True).status_code == 401
    assert passkey_ids(app, user_id) == {passkey}


@pytest.mark.parametrize("role", ["viewer", "support"])
def test_viewers_and_support_see_the_passkeys_and_may_not_remove(app, role):
    with app.app_context():
        operators.create(app.extensions["gotrue"], f"{role}@example.com", OPERATOR_PASSWORD,
                         role=role)
        db.session.commit()
    client = console_client(app)
    assert client.login(f"{role}@example.com", OPERATOR_PASSWORD).status_code == 303
    user_id = make_user(app, EMAIL)
    passkey = add_passkey(app, user_id, "YubiKey 5 Series")
    passkeys = card(page(client, user_id), "passkeys")
    assert "YubiKey 5 Series" in passkeys and "/delete" not in passkeys
    for htmx in (False, True):
        response = client.post(remove_url(user_id, passkey), htmx=htmx)
        assert response.status_code == 403
    assert "your role is " + role in response.headers["HX-Trigger"]
    assert passkey_ids(app, user_id) == {passkey}
    assert audit_entries(app, "passkey_deleted") == []
    refused = [entry["traits"] for entry in audit_entries(app, "operator_action_refused")]
    assert [traits["refused_action"] for traits in refused] == ["console.remove_passkey"] * 2
    assert {traits["required_role"] for traits in refused} == {"admin"}


# --- Web3 wallets -------------------------------------------------------------------------------


@pytest.fixture
def web3_app(make_app):
    app = make_app(**{**WEB3_ON, "passkeys.enabled": True})
    freeze_clock(app, NOW)
    return app


def wallet_user(app, chain: str, message: str, signature: str) -> uuid.UUID:
    """The user a Web3 sign-in creates (the real grant, so identity_data is what it stores)."""
    response = post_web3(app, chain, message, signature)
    assert response.status_code == 200, response.get_data(as_text=True)
    return uuid.UUID(response.get_json()["user"]["id"])


def test_the_wallets_card_shows_chain_address_network_domain_and_sign_ins(web3_app):
    issued = rfc3339(NOW - timedelta(minutes=1))
    ethereum = EthereumWallet()
    address = ethereum.checksum()
    message = siwe(address, issued_at=issued, chain_id="137")
    ethereum_user = wallet_user(web3_app, "ethereum", message, ethereum.sign(message))
    solana = SolanaWallet()
    message = siws(solana.address, issued_at=issued, statement=None,
                   extra=("Chain ID: solana:devnet",))
    solana_user = wallet_user(web3_app, "solana", message, solana.sign_b64(message))
    # A second sign-in an hour later: the same user and wallet; the card shows the identity's
    # last_sign_in_at as stored (the identities card shows the same column).
    freeze_clock(web3_app, NOW + timedelta(hours=1))
    message = siwe(address, issued_at=rfc3339(NOW + timedelta(minutes=59)), chain_id="137")
    assert wallet_user(web3_app, "ethereum", message, ethereum.sign(message)) == ethereum_user
    with web3_app.app_context():
        last_sign_in = db.session.execute(sa.select(Identity.last_sign_in_at).where(
            Identity.user_id == ethereum_user)).scalar_one()

    client = signed_in(web3_app)
    html = page(client, ethereum_user)
    wallets = card(html, "wallets")
    assert 'Wallets <span class="muted">1</span>' in wallets
    [(identity_id, row)] = WALLET_ROW.findall(wallets)
    assert cells(row) == [f"Ethereum {address} Copy the Ethereum address",
                          "supabase.com Chain ID 137", stamp(NOW), stamp(last_sign_in)]
    assert f'data-copy="{address}"' in row
    # The identities card names the provider id and points at the wallet's row.
    identities = card(html, "identities")
    assert f"web3:ethereum:{address}" in identities
    assert f'<a href="#wallet-{identity_id}">Wallet details</a>' in identities
    with web3_app.app_context():
        assert db.session.get(Identity, uuid.UUID(identity_id)).provider == "web3"
    # A wallet user's passkeys card is there too (passkeys are on), empty.
    assert "No passkeys" in card(html, "passkeys")

    [(_, row)] = WALLET_ROW.findall(card(page(client, solana_user), "wallets"))
    assert cells(row) == [f"Solana {solana.address} Copy the Solana address",
                          "supabase.com Chain ID solana:devnet", stamp(NOW), stamp(NOW)]


def test_a_wallet_without_a_chain_id_and_users_without_wallets(web3_app):
    client = signed_in(web3_app)
    ethereum = EthereumWallet()
    message = siwe(ethereum.address, issued_at=rfc3339(NOW - timedelta(minutes=1)),
                   chain_id=None)
    user_id = wallet_user(web3_app, "ethereum", message, ethereum.sign(message))
    [(_, row)] = WALLET_ROW.findall(card(page(client, user_id), "wallets"))
    assert cells(row)[:2] == [f"Ethereum {ethereum.address} Copy the Ethereum address",
                              "supabase.com"]
    plain = make_user(web3_app, EMAIL, providers=("email", "github"))
    html = page(client, plain)
    assert 'id="wallets"' not in html and "Wallet details" not in html
