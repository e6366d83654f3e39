"""The signed sign-in messages: Sign In With Solana (SIWS) and Sign-In with Ethereum (EIP-4361),
the subset GoTrue reads (spec idp-passkeys-web3.md section 3.2; GoTrue
internal/utilities/{siws,siwe}/parser.go).

    <domain> wants you to sign in with your Solana account:
    <address>

    [<statement>
    ]
    Key: value lines, in any order
    [Resources:
    - <uri>...]

Lines are split on "\\n" only, so a CRLF message fails the first line's check. A statement is
line 4 when it is not empty and line 5 is. Every later line that is not blank must be
"Key: value" (spaces around both are trimmed); unknown keys are ignored and a repeated key keeps
its last value. Nothing here checks signatures or clocks: sign_in.py does, in the spec's order.

Every refusal is a MessageError whose text is GoTrue's, prefixed "siws: " or "siwe: ".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

SOLANA, ETHEREUM = "solana", "ethereum"
CHAIN_NAMES = {SOLANA: "Solana", ETHEREUM: "Ethereum"}
_PREFIXES = {SOLANA: "siws: ", ETHEREUM: "siwe: "}

# ASCII classes spelled out: Python's \d would also match other scripts' digits.
_DOMAIN = re.compile(r"(localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
                     r"[a-zA-Z]{2,})(?::[0-9]{1,5})?")
_ADDRESSES = {SOLANA: re.compile(r"[a-zA-Z0-9]{32,44}"),
              ETHEREUM: re.compile(r"0x[a-fA-F0-9]{40}")}
_ADDRESS_ERRORS = {SOLANA: "wallet address is not in base58 format",
                   ETHEREUM: "wallet address is not a valid Ethereum address"}
_SOLANA_CHAIN_ID = re.compile(r"solana:(main|dev|test|local)net")
_ETHEREUM_CHAIN_ID = re.compile(r"[+-]?[0-9]+")
# RFC 3339 as Go's time.RFC3339 reads it: seconds required, a fraction of any length optional.
_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                        r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})")
_TIMESTAMP_FIELDS = {"Issued At": "issued_at", "Expiration Time": "expiration_time",
                     "Not Before": "not_before"}
# What a URL parser refuses in a request URI (Go's url.ParseRequestURI): controls and spaces.
_NOT_IN_URI = re.compile(r"[\x00-\x20\x7f]")
_INT64_MAX = 2**63 - 1


class MessageError(ValueError):
    """A message that is not a valid SIWS/SIWE message; str() is GoTrue's full text."""


@dataclass
class SignedMessage:
    chain: str
    domain: str
    address: str
    # SIWS: "" when absent; SIWE: None when absent (GoTrue's identity shows null then).
    statement: str | None
    uri: str
    version: str = ""
    chain_id: str = ""
    nonce: str = ""
    request_id: str = ""
    issued_at: datetime | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    resources: list[str] = field(default_factory=list)

    @property
    def network(self) -> str:
        """The Chain ID as written, or ""."""
        return self.chain_id


def header_suffix(chain: str) -> str:
    return f" wants you to sign in with your {CHAIN_NAMES[chain]} account:"


def parse(chain: str, text: str) -> SignedMessage:
    """The message's fields, or MessageError with GoTrue's text."""
    prefix = _PREFIXES[chain]
    try:
        return _parse(chain, text)
    except MessageError as error:
        raise MessageError(prefix + str(error)) from None


def _parse(chain: str, text: str) -> SignedMessage:
    lines = text.split("\n")
    if len(lines) < 6:
        raise MessageError("message needs at least 6 lines")
    suffix = header_suffix(chain)
    if not lines[0].endswith(suffix):
        raise MessageError(f'message first line does not end in "{suffix}"')
    domain = lines[0][:-len(suffix)]
    if not _DOMAIN.fullmatch(domain):
        raise MessageError("domain in first line of message is not valid")
    address = lines[1]
    if not _ADDRESSES[chain].fullmatch(address):
        raise MessageError(_ADDRESS_ERRORS[chain])
    if lines[2] != "":
        raise MessageError("third line must be empty")
    message = SignedMessage(chain=chain, domain=domain, address=address,
                            statement="" if chain == SOLANA else None, uri="")
    first_field = 3
    if lines[3] != "" and lines[4] == "":
        message.statement = lines[3]
        first_field = 5
    _read_fields(message, lines, first_field)
    _check_required(message)
    return message


def _read_fields(message: SignedMessage, lines: list[str], start: int) -> None:
    index = start
    while index < len(lines):
        line = lines[index].strip()
        if not line:
            # auth-js's EIP-4361 message without a statement has an empty fourth line.
            index += 1
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise MessageError(f"encountered unparsable line at index {index}")
        key, value = key.strip(), value.strip()
        if key == "URI":
            if not _is_uri(value, absolute=True):
                raise MessageError("URI is not valid")
            message.uri = value
        elif key == "Version":
            _check_version(value)
            message.version = value
        elif key == "Chain ID":
            message.chain_id = _chain_id(message.chain, value)
        elif key == "Nonce":
            message.nonce = value
        elif key == "Request ID":
            message.request_id = value
        elif key in _TIMESTAMP_FIELDS:
            setattr(message, _TIMESTAMP_FIELDS[key], _timestamp(key, value))
        elif key == "Resources":
            message.resources = []
            while index + 1 < len(lines) and lines[index + 1].strip().startswith("- "):
                index += 1
                resource = lines[index].strip()[2:].strip()
                if not _is_uri(resource, absolute=False):
                    raise MessageError(f"Resource at position {len(message.resources)} has "
                                       "invalid URI")
                message.resources.append(resource)
        index += 1


def _check_required(message: SignedMessage) -> None:
    if not message.uri:
        raise MessageError("URI is not specified")
    _check_version(message.version)
    if message.issued_at is None:
        raise MessageError("Issued At is not specified")
    expires = message.expiration_time
    if expires is not None and message.issued_at > expires:
        raise MessageError("Issued At is after Expiration Time")
    if expires is not None and message.not_before is not None and message.not_before > expires:
        raise MessageError("Not Before is after Expiration Time")


def _check_version(value: str) -> None:
    if value != "1":
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        raise MessageError(f'Version value is not supported, expected 1 got "{quoted}"')


def _chain_id(chain: str, value: str) -> str:
    if chain == SOLANA:
        if value and not _SOLANA_CHAIN_ID.fullmatch(value):
            raise MessageError("Chain ID is not valid")
        return value
    if not _ETHEREUM_CHAIN_ID.fullmatch(value) or not 0 < int(value) <= _INT64_MAX:
        raise MessageError("Chain ID is not valid")
    return value


def _timestamp(key: str, value: str) -> datetime:
    """An RFC 3339 time; GoTrue's message calls it ISO 8601."""
    found = _TIMESTAMP.fullmatch(value)
    try:
        if found is None:
            raise ValueError(value)
        year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
        fraction, offset = found.group(7) or "", found.group(8)
        zone = timezone.utc
        if offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(value)
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError:
        raise MessageError(f"{key} is not a valid ISO8601 timestamp") from None
    return moment.astimezone(timezone.utc)


def _is_uri(value: str, *, absolute: bool) -> bool:
    """What Go's url.ParseRequestURI accepts: an absolute URI or, unless ``absolute``, an
    absolute path; no spaces or control characters, and a numeric port if any."""
    if not value or _NOT_IN_URI.search(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return False
    if parts.scheme and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", parts.scheme):
        return True
    return not absolute and value.startswith("/")
