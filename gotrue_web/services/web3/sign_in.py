"""POST /token?grant_type=web3: a wallet signs a SIWS or SIWE message and gets a session (spec
idp-passkeys-web3.md section 3; GoTrue internal/api/web3.go).

The checks run in the spec's order (section 3.3): switches, chain, sizes, the signature's
shape, the message's grammar, then the signature itself, the URI and domain against this
server's redirect allow-list, and the clock. Rows 7 onwards are OAuth-style ``invalid_grant``
errors. There is no server nonce: the time window is the only replay protection.

The account is the identity ``web3:<chain>:<address as written>`` (an Ethereum address in
other letter case is another identity, as in GoTrue); it has no email, so no confirmation rule
applies. The user-created hooks run for a new account, as for other provider sign-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa

from ...db import begin_write_locked, database_unavailable
from ...errors import ErrorCode, GoTrueError, OAuthError, bad_request, unprocessable
from ...extensions import db
from ...runtime import RequestInfo, Runtime
from ...security import redirects
from .. import sessions
from ..oauth.linking import SignIn, sign_in_user
from . import messages, signatures
from .messages import CHAIN_NAMES, ETHEREUM, SOLANA, MessageError, SignedMessage

PROVIDER = "web3"
MIN_MESSAGE_BYTES = 64
MAX_MESSAGE_BYTES = 20 * 1024


@dataclass(frozen=True)
class Web3Request:
    chain: str
    message: str
    signature: str


def require_enabled(rt: Runtime) -> None:
    """Row 1, before the body is read: 422 unless at least one chain is on."""
    if not rt.settings.web3.any_enabled:
        raise unprocessable(ErrorCode.WEB3_PROVIDER_DISABLED, "Web3 provider is disabled")


def sign_in(rt: Runtime, request: Web3Request, info: RequestInfo) -> sessions.IssuedSession:
    """The session of the wallet that signed ``request.message``; the caller commits."""
    require_enabled(rt)
    chain = request.chain
    if chain not in (SOLANA, ETHEREUM):
        raise bad_request(ErrorCode.WEB3_UNSUPPORTED_CHAIN, "Unsupported chain")
    name = CHAIN_NAMES[chain]
    if not getattr(rt.settings.web3, f"{chain}_enabled"):
        raise unprocessable(ErrorCode.WEB3_PROVIDER_DISABLED, f"{name} Web3 provider is disabled")
    size = len(request.message.encode())
    if size < MIN_MESSAGE_BYTES:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "message is too short")
    if size > MAX_MESSAGE_BYTES:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "message must not exceed 20KB")
    try:
        if chain == SOLANA:
            solana_signature = signatures.decode_solana_signature(request.signature)
        else:
            signatures.check_ethereum_signature(request.signature)
        message = messages.parse(chain, request.message)
    except (signatures.SignatureFormatError, MessageError) as error:
        raise bad_request(ErrorCode.VALIDATION_FAILED, str(error)) from None
    if chain == SOLANA:
        signed = signatures.solana_signed(message.address, message.domain, request.message,
                                          solana_signature)
    else:
        signed = signatures.ethereum_signed(message.address, request.message, request.signature)
    if not signed:
        rt.metrics.sign_in(PROVIDER, chain, "failure")
        raise _invalid_grant("Signature does not match address in message")
    _check_uri_and_domain(rt, message, name)
    _check_times(rt, message, name)
    issued = _start(rt, message, info)
    rt.metrics.sign_in(PROVIDER, chain, "success")
    return issued


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def _host_and_port(uri: str) -> tuple[str, str]:
    """The URI's host[:port] and host as written (Go's URL.Host and Hostname(): not
    lower-cased, unlike urlsplit's hostname)."""
    host_port = urlsplit(uri).netloc.rpartition("@")[2]
    if host_port.startswith("["):
        return host_port, host_port[1:].partition("]")[0]
    return host_port, host_port.rpartition(":")[0] if ":" in host_port else host_port


def _check_uri_and_domain(rt: Runtime, message: SignedMessage, name: str) -> None:
    """Rows 8 to 10: an https URI (or localhost) this server may redirect to, on the domain the
    wallet showed the user."""
    settings = rt.settings
    scheme = message.uri.partition(":")[0].lower()
    host_port, host = _host_and_port(message.uri)
    if scheme != "https" and host != "localhost":
        raise _invalid_grant(f"Signed {name} message is using URI which does not use HTTPS")
    if not redirects.is_valid(message.uri, settings.site_url, settings.uri_allow_list):
        raise _invalid_grant(f"Signed {name} message is using URI which is not allowed on this "
                             "server, message was signed for another app")
    if host != "localhost" and (
            host_port != message.domain
            or not redirects.is_valid(f"https://{message.domain}/", settings.site_url,
                                      settings.uri_allow_list)):
        raise _invalid_grant(f"Signed {name} message is using a Domain that does not match the "
                             "one in URI which is not allowed on this server")


def _check_times(rt: Runtime, message: SignedMessage, name: str) -> None:
    """Rows 11 to 14. An Ethereum message's Expiration Time counts only with a Not Before
    (GoTrue's quirk, kept)."""
    now: datetime = rt.now()
    if message.not_before is not None and now < message.not_before:
        raise _invalid_grant(f"Signed {name} message becomes valid in the future")
    expiry_counts = message.chain == SOLANA or message.not_before is not None
    if expiry_counts and message.expiration_time is not None and now > message.expiration_time:
        raise _invalid_grant(f"Signed {name} message is expired")
    window: timedelta = getattr(rt.settings.web3, f"{message.chain}_maximum_validity_duration")
    if now > message.issued_at + window:
        raise _invalid_grant(f"{name} message was issued too long ago")
    if now < message.issued_at - window:
        raise _invalid_grant(f"{name} message was issued too far in the future")


def identity_data(message: SignedMessage) -> dict:
    """identity_data, and user_metadata of a new user (spec section 3.5)."""
    return {
        "sub": subject(message),
        "custom_claims": {
            "address": message.address, "chain": message.chain, "network": message.network,
            "domain": message.domain, "statement": message.statement,
        },
        "email_verified": False,
        "phone_verified": False,
    }


def subject(message: SignedMessage) -> str:
    return f"{PROVIDER}:{message.chain}:{message.address}"


def _start(rt: Runtime, message: SignedMessage, info: RequestInfo) -> sessions.IssuedSession:
    """Row 15: find or create the account, then the session. A failure that is not one of
    GoTrue's errors (a constraint hit by a concurrent first sign-in, say) is OAuth
    server_error, as in GoTrue; an unreachable database stays a 503."""
    data = identity_data(message)
    # No emails: email_optional keeps linking.py's confirmation rules out of it, as GoTrue's
    # createAccountFromExternalIdentity does for web3.
    account = SignIn(provider=PROVIDER, subject=data["sub"], identity_data=data, emails=[],
                     aud=info.aud, email_optional=True, referrer=rt.settings.site_url,
                     pkce=False,
                     login_traits={"chain": message.chain, "network": message.network,
                                   "address": message.address, "domain": message.domain,
                                   "uri": message.uri})
    try:
        # One writer at a time from here: the linking decision reads before it inserts.
        db.session.rollback()
        begin_write_locked(db.session)
        user = sign_in_user(rt, account, info)
        return sessions.start_session(rt, user, PROVIDER, info)
    except GoTrueError:
        raise
    except sa.exc.SQLAlchemyError as error:
        if database_unavailable(error):
            raise
        db.session.rollback()
        raise OAuthError("server_error", "Internal Server Error") from error
