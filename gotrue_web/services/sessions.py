"""Sessions: starting one (with its first refresh token and amr claim), access-token minting,
the validity rules, raising a session to aal2, and logout.

The refresh_token grant (token rotation) is services.hot_paths.refresh. Only SHA-256 hashes of
refresh tokens are stored, so a database read gives no working token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ..db import NIL_UUID
from ..errors import WeakPasswordError
from ..extensions import db
from ..models import AAL, AMRClaim, RefreshToken, Session, User
from ..runtime import RequestInfo, Runtime
from ..security import db_encryption, refresh_tokens_v2
from ..security.access_tokens import amr_entries, mint_claims
from ..security.codes import (
    new_refresh_token,
    refresh_token_hash,
)
from ..settings.security import SecuritySettings
from . import audit
from .hooks import access_token as access_token_hook
from .hot_paths import reads as hot_reads

NIL = uuid.UUID(NIL_UUID)


@dataclass
class IssuedSession:
    """What a sign-in returns: tokens, expiry and the user, ready for the session JSON."""

    access_token: str
    expires_in: int
    expires_at: int
    refresh_token: str
    user: User
    # Only the password grant reports it; None there means "strong enough".
    weak_password: WeakPasswordError | None = None
    report_weak_password: bool = False
    # The OAuth provider's tokens, carried through a PKCE exchange when there are any.
    provider_token: str | None = None
    provider_refresh_token: str | None = None


# GoTrue's authentication_method of a refresh (the custom_access_token hook's input).
TOKEN_REFRESH = "token_refresh"


def mint(rt: Runtime, user: User, session: Session, amr: list[dict], now: datetime,
          refresh_token: str, method: str, ip: str = "") -> IssuedSession:
    """The access token of ``session``; ``method`` is how this token was obtained (an amr
    method, or token_refresh), given to the custom_access_token hook."""
    expires_in = rt.settings.jwt.exp
    expires_at = int(now.timestamp()) + expires_in
    low_aal_end = _low_aal_deadline(rt, user, session)
    if low_aal_end is not None and low_aal_end < expires_at:
        # An MFA user's aal1 session lives only SESSIONS_ALLOW_LOW_AAL: so does its token.
        expires_at = max(int(now.timestamp()), low_aal_end)
        expires_in = expires_at - int(now.timestamp())
    claims = mint_claims(rt.settings.jwt, user, session, amr, now, expires_at)
    if rt.settings.hooks.custom_access_token.enabled:
        claims = access_token_hook.customize(rt, user.id, claims, method, ip)
    return IssuedSession(
        access_token=rt.keyring.encode(claims), expires_in=expires_in, expires_at=expires_at,
        refresh_token=refresh_token, user=user,
    )


def _below_possible_aal(user: User, session: Session) -> bool:
    """An aal1 session of a user who has a verified factor (and so could reach aal2)."""
    return session.aal in (None, AAL.aal1) and any(f.is_verified for f in user.factors)


def _low_aal_deadline(rt: Runtime, user: User, session: Session) -> int | None:
    """When SESSIONS_ALLOW_LOW_AAL ends ``session`` (unix seconds), or None."""
    window = rt.settings.sessions.allow_low_aal
    if window is None or session.created_at is None or not _below_possible_aal(user, session):
        return None
    return int((session.created_at + window).timestamp())


def _first_token_values(user_id: uuid.UUID, session_id: uuid.UUID, now: datetime
                        ) -> tuple[dict, str]:
    """A session's first refresh token: its row's values (holding the hash) and the token."""
    token = new_refresh_token()
    return {"instance_id": NIL, "token": refresh_token_hash(token), "user_id": str(user_id),
            "revoked": False, "created_at": now, "updated_at": now, "parent": None,
            "session_id": session_id}, token


def _first_token_row(user: User, session_id: uuid.UUID, now: datetime
                     ) -> tuple[RefreshToken, str]:
    values, token = _first_token_values(user.id, session_id, now)
    return RefreshToken(**values), token


# A sign-in's rows, written as plain statements: the ORM's unit of work cost more than the rest
# of a sign-in together (bcrypt aside). Nothing in the ORM session needs to follow them.
INSERT_TOKEN = sa.insert(RefreshToken.__table__)
_INSERT_SESSION = sa.insert(Session.__table__)
_INSERT_CLAIM = sa.insert(AMRClaim.__table__)
_USERS, _SESSIONS = User.__table__, Session.__table__
NOTE_SIGN_IN = (sa.update(_USERS).where(_USERS.c.id == sa.bindparam("user_id"))
                 .values(last_sign_in_at=sa.bindparam("signed_in_at"),
                         updated_at=sa.bindparam("signed_in_at")))
_SESSION_COLUMNS = tuple(column.name for column in Session.__table__.c)


@dataclass
class SessionRows:
    """A new session's rows, not yet written: the session, its amr claim and its first refresh
    token (the row holds the hash; ``token`` is what the client gets). A session with signed
    refresh tokens (algorithm 2) has no token row: its row holds the key and counter."""

    session: dict
    claim: dict
    token_row: dict | None
    token: str


# Algorithm 2: a new session's first counter value (MFA verification adds 2, a refresh 1).
FIRST_COUNTER = 1


def session_rows(user_id: uuid.UUID, method: str, info: RequestInfo, now: datetime, *,
                 aal: AAL = AAL.aal1, not_after: datetime | None = None,
                 oauth_client_id: uuid.UUID | None = None,
                 scopes: str | None = None,
                 security: SecuritySettings | None = None) -> SessionRows:
    """A new session's rows. ``security`` picks the refresh-token kind (and encrypts a signed
    session's key); without it, a classic token."""
    values = {"id": uuid.uuid4(), "user_id": user_id, "created_at": now, "updated_at": now,
              "aal": aal, "user_agent": info.user_agent or None, "ip": info.ip or None}
    if not_after is not None:
        values["not_after"] = not_after
    if oauth_client_id is not None:
        values.update(oauth_client_id=oauth_client_id, scopes=scopes)
    if security is not None and security.refresh_token_algorithm_version == 2:
        key = refresh_tokens_v2.new_session_key()
        values.update(refresh_token_hmac_key=db_encryption.seal(
            security.db_encryption, str(values["id"]), key),
            refresh_token_counter=FIRST_COUNTER)
        token_row, token = None, refresh_tokens_v2.encode(values["id"], FIRST_COUNTER, key)
    else:
        token_row, token = _first_token_values(user_id, values["id"], now)
    return SessionRows(
        session=values,
        claim={"id": uuid.uuid4(), "session_id": values["id"], "created_at": now,
               "updated_at": now, "authentication_method": method},
        token_row=token_row, token=token)


def issue(rt: Runtime, user: User, rows: SessionRows, now: datetime, ip: str = "",
          amr_provider: str = "") -> IssuedSession:
    """The first access token of the session ``rows`` describe (written or not)."""
    method = rows.claim["authentication_method"]
    session = hot_reads.SessionView(_SESSION_COLUMNS,
                                    tuple(rows.session.get(name) for name in _SESSION_COLUMNS))
    amr = [{"method": method, "timestamp": int(now.timestamp())}]
    if amr_provider:
        amr[0]["provider"] = amr_provider
    return mint(rt, user, session, amr, now, rows.token, method, ip)


def start_session(rt: Runtime, user: User, method: str, info: RequestInfo, *,
                  aal: AAL = AAL.aal1, not_after: datetime | None = None,
                  amr_provider: str = "", oauth_client_id: uuid.UUID | None = None,
                  scopes: str | None = None) -> IssuedSession:
    """Create a session with its first refresh token and amr claim, and mint an access token.

    ``not_after`` ends the session (a SAML assertion's SessionNotOnOrAfter); ``amr_provider``
    names the SSO provider in this token's amr entry. ``oauth_client_id`` and ``scopes`` make
    it a session of an OAuth client (a code exchange at /oauth/token), whose tokens carry
    client_id and scope. Updates the user's last_sign_in_at. The caller commits.
    """
    now = rt.now()
    if sa.inspect(user).persistent:
        connection = db.session.connection()
        connection.execute(NOTE_SIGN_IN, {"user_id": user.id, "signed_in_at": now})
        # The object learns the values without a second UPDATE at the flush.
        set_committed_value(user, "last_sign_in_at", now)
        set_committed_value(user, "updated_at", now)
    else:
        user.last_sign_in_at = now
        user.updated_at = now
        db.session.flush()  # the new user's row first: the session refers to it
        connection = db.session.connection()
    rows = session_rows(user.id, method, info, now, aal=aal, not_after=not_after,
                        oauth_client_id=oauth_client_id, scopes=scopes,
                        security=rt.settings.security)
    # On the session's connection: the rows refer only to the user, flushed by now.
    connection.execute(_INSERT_SESSION, rows.session)
    connection.execute(_INSERT_CLAIM, rows.claim)
    if rows.token_row is not None:
        connection.execute(INSERT_TOKEN, rows.token_row)
    if "factors" in sa.inspect(user).unloaded:
        # The answer lists them: read now, in this transaction, rather than lazily after the
        # commit in a transaction of their own.
        user.factors  # noqa: B018 - loads the relationship
    return issue(rt, user, rows, now, info.ip, amr_provider)


def validity_error(rt: Runtime, session: Session, now: datetime,
                   last_refresh: datetime | None = None, user: User | None = None) -> str | None:
    """Why ``session`` may no longer be used, as GoTrue's message suffix, or None if valid.

    The SESSIONS_ALLOW_LOW_AAL rule needs the session's ``user`` (with its factors)."""
    settings = rt.settings.sessions
    if session.not_after is not None and now > session.not_after:
        return "Session Expired"
    if settings.timebox and session.created_at and now > session.created_at + settings.timebox:
        return "Session Expired"
    if settings.inactivity_timeout:
        refreshed = session.refreshed_at or last_refresh or session.created_at
        if refreshed and now > refreshed + settings.inactivity_timeout:
            return "Session Expired (Inactivity)"
    if user is not None:
        low_aal_end = _low_aal_deadline(rt, user, session)
        if low_aal_end is not None and now.timestamp() > low_aal_end:
            return "Session Expired (Low AAL: User Needs MFA Verification)"
    if settings.single_per_user:
        newer = (sa.select(sa.func.count()).select_from(Session).where(
            Session.user_id == session.user_id, Session.id != session.id,
            sa.func.coalesce(Session.refreshed_at, Session.created_at)
            > (session.refreshed_at or session.created_at)))
        if settings.tags:
            # Only the sessions of the same SESSIONS_TAGS group compete: a tag that is one of
            # the list is its own group, any other tag (or none) is the first's.
            tags = settings.tags
            group = session.tag if session.tag in tags else tags[0]
            newer = newer.where(sa.case((Session.tag.in_(tags), Session.tag),
                                        else_=sa.literal(tags[0])) == group)
        if db.session.execute(newer).scalar_one():
            return "Session Expired (Revoked by Newer Login)"
    return None


def raise_to_aal2(rt: Runtime, user: User, session: Session, method: str,
                  factor_id: uuid.UUID, ip: str = "") -> IssuedSession:
    """A verified second factor: ``session`` becomes aal2 with ``method`` added to its amr, gets
    a new refresh token (its older tokens are revoked) and a new access token. The user's other
    aal1 sessions are deleted. The caller commits."""
    now = rt.now()
    _add_amr_claim(session.id, method, now)
    session.aal = AAL.aal2
    session.factor_id = factor_id
    session.updated_at = now
    if session.refresh_token_hmac_key:
        token = _skip_counter(rt, session)
    else:
        token = _next_classic_token(user, session.id, now)
    db.session.execute(
        sa.delete(Session).where(Session.user_id == user.id, Session.id != session.id,
                                 sa.or_(Session.aal.is_(None), Session.aal == AAL.aal1)),
        execution_options={"synchronize_session": False})
    db.session.flush()
    claims = db.session.execute(
        sa.select(AMRClaim).where(AMRClaim.session_id == session.id)).scalars().all()
    return mint(rt, user, session, amr_entries(claims), now, token, method, ip)


def _skip_counter(rt: Runtime, session: Session) -> str:
    """A signed-token session's token after MFA: its counter moves on by 2, so the aal1 token
    presented before is no longer the one just behind (which a lost answer may re-issue) and
    cannot obtain the aal2 session's token. Incremented in SQL, then read, in this
    transaction: a refresh of the same session at the same moment waits for it."""
    the_session = _SESSIONS.c.id == session.id
    db.session.execute(sa.update(_SESSIONS).where(the_session)
                       .values(refresh_token_counter=_SESSIONS.c.refresh_token_counter + 2))
    counter = db.session.execute(
        sa.select(_SESSIONS.c.refresh_token_counter).where(the_session)).scalar_one()
    set_committed_value(session, "refresh_token_counter", counter)
    return refresh_tokens_v2.encode(session.id, counter, signing_key(rt, session))


def signing_key(rt: Runtime, session) -> str:
    """A signed session's key, decrypted when GOTRUE_SECURITY_DB_ENCRYPTION_* encrypted it."""
    return db_encryption.unseal(rt.settings.security.db_encryption, str(session.id),
                                session.refresh_token_hmac_key)


def _next_classic_token(user: User, session_id: uuid.UUID, now: datetime) -> str:
    """A classic session's token after MFA: a new child of its newest, all older revoked."""
    newest = db.session.execute(
        sa.select(RefreshToken.token).where(RefreshToken.session_id == session_id)
        .order_by(RefreshToken.id.desc()).limit(1)).scalar()
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.session_id == session_id, RefreshToken.revoked.is_(False))
        .values(revoked=True, updated_at=now),
        execution_options={"synchronize_session": False})
    row, token = _first_token_row(user, session_id, now)
    row.parent = newest
    db.session.add(row)
    return token


def note_refresh(session_id: uuid.UUID, now: datetime, info: RequestInfo, **values) -> None:
    """A refresh on the session's row (with ``values``, such as a signed session's counter):
    when, and the client's user agent and address when it sent them."""
    values.update(refreshed_at=now, updated_at=now)
    if info.user_agent:
        values["user_agent"] = info.user_agent
    if info.ip:
        values["ip"] = info.ip
    db.session.execute(sa.update(_SESSIONS).where(_SESSIONS.c.id == session_id).values(values))


def _add_amr_claim(session_id: uuid.UUID, method: str, now: datetime) -> None:
    """One amr claim per session and method: a repeated method only becomes the newest."""
    existing = db.session.execute(
        sa.select(AMRClaim).where(AMRClaim.session_id == session_id,
                                  AMRClaim.authentication_method == method)).scalar()
    if existing is not None:
        existing.updated_at = now
        return
    db.session.add(AMRClaim(id=uuid.uuid4(), session_id=session_id, created_at=now,
                            updated_at=now, authentication_method=method))


def logout(rt: Runtime, user: User, session: Session | None, scope: str,
           info: RequestInfo) -> None:
    """End sessions: ``global`` all of the user's, ``local`` this one, ``others`` all but this.

    Refresh tokens and amr claims go with their sessions. Writes a logout audit entry.
    """
    query = sa.delete(Session).where(Session.user_id == user.id)
    if session is not None and scope == "local":
        query = query.where(Session.id == session.id)
    elif session is not None and scope == "others":
        query = query.where(Session.id != session.id)
    db.session.execute(query, execution_options={"synchronize_session": False})
    audit.record("logout", audit.Actor.of_user(user), now=rt.now(), ip=info.ip)


def get(session_id: uuid.UUID) -> Session | None:
    return db.session.get(Session, session_id)


def delete_sessions(user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
    """Delete the user's sessions (and with them their refresh tokens), except ``keep``.

    Returns how many were deleted.
    """
    query = sa.delete(Session).where(Session.user_id == user_id)
    if keep is not None:
        query = query.where(Session.id != keep)
    return db.session.execute(query, execution_options={"synchronize_session": False}).rowcount


def delete_session(user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """Delete one session of the user (its refresh tokens and amr claims cascade).

    False when the user has no such session.
    """
    deleted = db.session.execute(
        sa.delete(Session).where(Session.user_id == user_id, Session.id == session_id),
        execution_options={"synchronize_session": False})
    return deleted.rowcount > 0


def sessions_of(user_id: uuid.UUID) -> list[Session]:
    """The user's sessions, most recently created first (the console lists them)."""
    return list(db.session.execute(
        sa.select(Session).where(Session.user_id == user_id)
        .order_by(Session.created_at.desc(), Session.id)
    ).scalars())
