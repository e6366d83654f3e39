"""The SIWS / EIP-4361 grammar (spec idp-passkeys-web3.md section 3.2): every parse error with
GoTrue's text and prefix, read by the service itself, and through the API as 400
validation_failed; what a valid message yields; Resources; CRLF refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gotrue_web.services.web3.messages import MessageError, parse

from .conftest import api_error, post_web3
from .wallets import EthereumWallet, SolanaWallet, siwe, siws

SOL = "2EZEiBdw47VHT6SpZSW9VnuSvBe7DxuYHBTxj19gxvv8"
ETH = "0xD1FfC6bdfacf333C2B08F88f2f50ddcD87eaCa57"
HEADER = {"solana": "supabase.com wants you to sign in with your Solana account:",
          "ethereum": "supabase.com wants you to sign in with your Ethereum account:"}
ADDRESS = {"solana": SOL, "ethereum": ETH}
PREFIX = {"solana": "siws: ", "ethereum": "siwe: "}
TAIL = ["URI: https://supabase.com/", "Version: 1", "Issued At: 2025-03-29T00:00:00Z"]


def text(chain: str, *lines: str, header: str | None = None, address: str | None = None) -> str:
    return "\n".join([header if header is not None else HEADER[chain],
                      address if address is not None else ADDRESS[chain], "", *lines])


def refusal(chain: str, message: str) -> str:
    with pytest.raises(MessageError) as caught:
        parse(chain, message)
    error = str(caught.value)
    assert error.startswith(PREFIX[chain]), error
    return error[len(PREFIX[chain]):]


BOTH = pytest.mark.parametrize("chain", ["solana", "ethereum"])


@BOTH
def test_at_least_six_lines(chain):
    assert refusal(chain, text(chain, "URI: https://supabase.com/", "Version: 1")) == \
        "message needs at least 6 lines"


@BOTH
def test_the_first_line(chain):
    expected = ('message first line does not end in " wants you to sign in with your '
                f'{chain.capitalize()} account:"')
    other = "ethereum" if chain == "solana" else "solana"
    assert refusal(chain, text(chain, *TAIL, header=HEADER[other])) == expected
    assert refusal(chain, text(chain, *TAIL, header=HEADER[chain] + " ")) == expected


@BOTH
def test_crlf_line_ends_fail_the_first_line(chain):
    message = text(chain, "Statement", "", *TAIL).replace("\n", "\r\n")
    assert refusal(chain, message).startswith("message first line does not end in")


@BOTH
@pytest.mark.parametrize("domain", ["", "https://supabase.com", "127.0.0.1", "[::1]",
                                    "supa_base.com", "supabase", "supabase.c0m",
                                    "localhost:123456", "exa mple.com", "-supabase.com",
                                    "supabase.com:", "ｓupabase.com"])
def test_an_invalid_domain(chain, domain):
    header = HEADER[chain].replace("supabase.com", domain, 1)
    assert refusal(chain, text(chain, *TAIL, header=header)) == \
        "domain in first line of message is not valid"


@BOTH
@pytest.mark.parametrize("domain", ["localhost", "localhost:5173", "a.io", "sub.example.co.uk:8443",
                                    "xn--bcher-kva.example"])
def test_valid_domains(chain, domain):
    header = HEADER[chain].replace("supabase.com", domain, 1)
    assert parse(chain, text(chain, *TAIL, header=header)).domain == domain


@pytest.mark.parametrize("address", ["2EZEiBdw47VHT6SpZSW9VnuSvBe7Dxu", "2EZEiBdw47VHT6SpZSW9Vnu"
                                     "SvBe7DxuYHBTxj19gxvv8a", "2EZEiBdw47VHT6SpZSW9VnuSvBe7DxuYH+"
                                     "Txj19gxvv8", "", " " + SOL])
def test_a_solana_address_that_is_not_base58(address):
    assert refusal("solana", text("solana", *TAIL, address=address)) == \
        "wallet address is not in base58 format"


@pytest.mark.parametrize("address", [ETH[2:], ETH[:-1], ETH + "0", ETH[:-1] + "g",
                                     "0X" + ETH[2:], ""])
def test_an_ethereum_address_that_is_not_one(address):
    assert refusal("ethereum", text("ethereum", *TAIL, address=address)) == \
        "wallet address is not a valid Ethereum address"


@BOTH
def test_the_third_line_must_be_empty(chain):
    message = "\n".join([HEADER[chain], ADDRESS[chain], "Statement", "", *TAIL])
    assert refusal(chain, message) == "third line must be empty"


@BOTH
def test_a_line_without_a_colon(chain):
    assert refusal(chain, text(chain, "Statement", "", *TAIL, "Resources")) == \
        "encountered unparsable line at index 8"
    assert refusal(chain, text(chain, "", *TAIL, "just words")) == \
        "encountered unparsable line at index 7"


@BOTH
def test_blank_lines_among_the_fields_are_skipped(chain):
    # auth-js's EIP-4361 builder leaves line 4 empty when there is no statement.
    message = parse(chain, text(chain, "", *TAIL[:2], "   ", TAIL[2], ""))
    assert message.uri == "https://supabase.com/" and message.issued_at is not None
    assert message.statement == ("" if chain == "solana" else None)


@BOTH
@pytest.mark.parametrize("uri", ["not a uri", "/relative/path", "supabase.com",
                                 "https://supabase.com:port/", "https://supa base.com/"])
def test_an_invalid_uri(chain, uri):
    assert refusal(chain, text(chain, f"URI: {uri}", *TAIL[1:])) == "URI is not valid"


@BOTH
def test_a_missing_uri(chain):
    assert refusal(chain, text(chain, *TAIL[1:], "Nonce: 1")) == "URI is not specified"
    assert refusal(chain, text(chain, "URI:", *TAIL[1:])) == "URI is not valid"


@BOTH
@pytest.mark.parametrize("line,got", [("Version: 2", "2"), ("Version: 1.0", "1.0"),
                                      ('Version: "1"', '\\"1\\"')])
def test_an_unsupported_version(chain, line, got):
    message = text(chain, TAIL[0], line, TAIL[2])
    assert refusal(chain, message) == f'Version value is not supported, expected 1 got "{got}"'


@BOTH
def test_a_missing_version(chain):
    message = text(chain, TAIL[0], TAIL[2], "Nonce: abc")
    assert refusal(chain, message) == 'Version value is not supported, expected 1 got ""'


@BOTH
def test_a_missing_issued_at(chain):
    assert refusal(chain, text(chain, *TAIL[:2], "Nonce: abc")) == "Issued At is not specified"


@BOTH
@pytest.mark.parametrize("field", ["Issued At", "Expiration Time", "Not Before"])
@pytest.mark.parametrize("value", ["2025-03-29", "2025-03-29 00:00:00Z", "2025-03-29T00:00Z",
                                   "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z",
                                   "2025-03-29T24:00:00Z", "2025-03-29T00:00:00",
                                   "2025-03-29t00:00:00z", "yesterday", ""])
def test_an_invalid_timestamp(chain, field, value):
    message = text(chain, *TAIL, f"{field}: {value}")
    assert refusal(chain, message) == f"{field} is not a valid ISO8601 timestamp"


@pytest.mark.parametrize("value", ["mainnet", "solana:main", "solana:1", "ethereum:mainnet",
                                   "SOLANA:mainnet"])
def test_an_invalid_solana_chain_id(value):
    message = text("solana", *TAIL, f"Chain ID: {value}")
    assert refusal("solana", message) == "Chain ID is not valid"


def test_an_empty_solana_chain_id_is_no_chain_id():
    assert parse("solana", text("solana", *TAIL, "Chain ID:  ")).chain_id == ""


@pytest.mark.parametrize("value", ["0", "-1", "x", "", "1.5", "1_000", "99999999999999999999"])
def test_an_invalid_ethereum_chain_id(value):
    assert refusal("ethereum", text("ethereum", *TAIL, f"Chain ID: {value}")) == \
        "Chain ID is not valid"


@BOTH
def test_an_invalid_resource(chain):
    message = text(chain, *TAIL, "Resources:", "- https://example.com/a", "- not a uri")
    assert refusal(chain, message) == "Resource at position 1 has invalid URI"
    message = text(chain, *TAIL, "Resources:", "- relative/path")
    assert refusal(chain, message) == "Resource at position 0 has invalid URI"


@BOTH
def test_times_out_of_order(chain):
    assert refusal(chain, text(chain, *TAIL, "Expiration Time: 2025-03-28T23:59:59Z")) == \
        "Issued At is after Expiration Time"
    assert refusal(chain, text(chain, *TAIL, "Expiration Time: 2025-03-29T00:05:00Z",
                               "Not Before: 2025-03-29T00:05:01Z")) == \
        "Not Before is after Expiration Time"


# --- what a valid message gives -----------------------------------------------------------------


@BOTH
def test_every_field_is_read(chain):
    chain_id = "solana:devnet" if chain == "solana" else "137"
    message = parse(chain, text(
        chain, "I accept the terms: all of them", "", "  Nonce :  abc123  ", *TAIL,
        f"Chain ID: {chain_id}", "Request ID: r-1", "Expiration Time: 2025-03-29T04:00:00+02:00",
        "Not Before: 2025-03-29T00:00:00.123456789Z", "Unknown Key: ignored",
        "Resources:", "- https://example.com/a", "  - ipfs://bafy/x  ", "- /just/a/path"))
    assert message.domain == "supabase.com" and message.address == ADDRESS[chain]
    assert message.statement == "I accept the terms: all of them"
    assert message.uri == "https://supabase.com/" and message.version == "1"
    assert message.nonce == "abc123" and message.request_id == "r-1"
    assert message.chain_id == message.network == chain_id
    assert message.issued_at == datetime(2025, 3, 29, tzinfo=timezone.utc)
    assert message.expiration_time == datetime(2025, 3, 29, 2, tzinfo=timezone.utc)
    assert message.not_before == datetime(2025, 3, 29, 0, 0, 0, 123456, tzinfo=timezone.utc)
    assert message.resources == ["https://example.com/a", "ipfs://bafy/x", "/just/a/path"]


@BOTH
def test_the_last_of_a_repeated_key_wins_and_fields_come_in_any_order(chain):
    message = parse(chain, text(chain, "Issued At: 2025-03-29T00:00:00Z", "Version: 1",
                                "URI: https://first.example/", "URI: https://supabase.com/",
                                "Nonce: 1", "Nonce: 2"))
    assert message.uri == "https://supabase.com/" and message.nonce == "2"


def test_a_missing_statement_is_empty_for_solana_and_null_for_ethereum():
    assert parse("solana", text("solana", *TAIL)).statement == ""
    assert parse("ethereum", text("ethereum", *TAIL)).statement is None
    # Line 4 is a statement only when line 5 is empty.
    assert parse("solana", text("solana", *TAIL)).uri == "https://supabase.com/"


def test_offsets_are_read_as_their_instant():
    message = parse("solana", text("solana", TAIL[0], TAIL[1],
                                   "Issued At: 2025-03-29T05:30:00+05:30"))
    assert message.issued_at == datetime(2025, 3, 29, tzinfo=timezone.utc)
    message = parse("solana", text("solana", TAIL[0], TAIL[1],
                                   "Issued At: 2025-03-28T23:00:00.5-01:00"))
    assert message.issued_at == datetime(2025, 3, 29, tzinfo=timezone.utc) + timedelta(
        milliseconds=500)


# --- through the API ----------------------------------------------------------------------------


@pytest.mark.parametrize("chain", ["solana", "ethereum"])
def test_parse_errors_are_400_validation_failed_with_the_prefix(app, chain):
    wallet = SolanaWallet() if chain == "solana" else EthereumWallet()
    build = siws if chain == "solana" else siwe
    message = build(wallet.address).replace("\n", "\r\n")
    signature = wallet.sign_b64(message) if chain == "solana" else wallet.sign(message)
    response = post_web3(app, chain, message, signature)
    name = chain.capitalize()
    assert api_error(response) == (
        400, "validation_failed", f'{PREFIX[chain]}message first line does not end in " wants '
        f'you to sign in with your {name} account:"')


def test_resources_sign_in(app):
    wallet = SolanaWallet()
    message = siws(wallet.address, extra=("Resources:", "- https://example.com/terms",
                                           "- ipfs://bafybeigdyrzt5/x"))
    response = post_web3(app, "solana", message, wallet.sign_b64url(message))
    assert response.status_code == 200, response.get_json()


def test_the_official_clients_resources_line_has_no_colon_and_is_refused(app):
    # auth-js's Solana builder writes "Resources" without its colon: GoTrue refuses it too.
    wallet = SolanaWallet()
    message = siws(wallet.address, extra=("Resources", "- https://example.com/terms"))
    response = post_web3(app, "solana", message, wallet.sign_b64url(message))
    assert api_error(response) == (400, "validation_failed",
                                   "siws: encountered unparsable line at index 8")


def test_the_official_clients_ethereum_message_without_a_statement_signs_in(app):
    # auth-js's createSiweMessage: the header, the address, then two empty lines.
    wallet = EthereumWallet()
    message = (f"supabase.com wants you to sign in with your Ethereum account:\n"
               f"{wallet.address}\n\n\nURI: https://supabase.com/\nVersion: 1\nChain ID: 1\n"
               "Nonce: abcdef12345678\nIssued At: 2025-03-29T00:00:00.000Z")
    response = post_web3(app, "ethereum", message, wallet.sign(message))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["user_metadata"]["custom_claims"]["statement"] is None
