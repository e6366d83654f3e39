"""User records: lookups, creation, metadata, passwords, bans and deletion.

Shared by the JSON API and the console. Functions add to the SQLAlchemy session and may flush;
the caller commits.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..db import NIL_UUID
from ..durations import parse_go_duration
from ..errors import ErrorCode, bad_request
from ..extensions import db
from ..models import Factor, Identity, OneTimeToken, OneTimeTokenType, Session, User
from ..models.user import TOKEN_COLUMNS, in_default_instance
from ..runtime import Runtime
from . import one_time_tokens, sessions
from .hooks import legacy as legacy_webhook
from .hooks import user_created

NIL = uuid.UUID(NIL_UUID)


# --- lookups ----------------------------------------------------------------------------------


def find_by_email(email: str, aud: str) -> User | None:
    """The non-SSO user with this (normalised) email in the audience, if any."""
    return db.session.execute(
        sa.select(User).where(
            in_default_instance(), User.email == email, User.aud == aud,
            User.is_sso_user.is_(False),
        )
    ).scalars().first()


def find_by_phone(phone: str, aud: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(
            in_default_instance(), User.phone == phone, User.aud == aud,
            User.is_sso_user.is_(False),
        )
    ).scalars().first()


def signup_lookup(column, value: str, aud: str) -> tuple[User | None, bool]:
    """What a signup for ``value`` (users.email or users.phone, normalised) meets, in one query
    when nobody holds it (the usual signup): the non-SSO user of the audience holding it (for
    an email, as users.email first, else through an email identity), and whether any non-SSO
    user of any audience holds it. The unique indexes span audiences, so an address held in
    another audience cannot be signed up again even though lookups by audience miss it."""
    users = User.__table__
    statement = sa.select(users.c.id, users.c.aud, users.c.instance_id,
                          sa.literal(False).label("via_identity")).where(
        column == value, users.c.is_sso_user.is_(False))
    if column is User.email:
        identities = Identity.__table__
        statement = sa.union_all(statement, sa.select(
            users.c.id, users.c.aud, users.c.instance_id, sa.literal(True)
        ).select_from(users.join(identities, identities.c.user_id == users.c.id)).where(
            identities.c.email == value, identities.c.provider == "email", users.c.aud == aud,
            in_default_instance(), users.c.is_sso_user.is_(False)))
    rows = db.session.execute(statement).all()
    found = ([row.id for row in rows if not row.via_identity and row.aud == aud
              and row.instance_id == NIL] or [row.id for row in rows if row.via_identity])
    taken = any(not row.via_identity for row in rows)
    return (db.session.get(User, found[0]) if found else None), taken


def get(user_id: uuid.UUID) -> User | None:
    return db.session.get(User, user_id)


# Built once: the user with identities and factors, and the JWT's session if it still exists.
_USER_AND_SESSION = (
    sa.select(User, Session)
    .outerjoin(Session, sa.and_(Session.id == sa.bindparam("session_id"),
                                Session.user_id == User.id))
    .where(User.id == sa.bindparam("user_id"))
    .options(joinedload(User.identities), joinedload(User.factors))
)


def load_with_session(user_id: uuid.UUID, session_id: uuid.UUID | None
                      ) -> tuple[User | None, Session | None]:
    """The user (identities and factors loaded) and their session ``session_id``, in one
    query, for a request that will change them; (None, None) when the user is gone."""
    row = db.session.execute(
        _USER_AND_SESSION, {"user_id": user_id, "session_id": session_id}).unique().first()
    return (row[0], row[1]) if row is not None else (None, None)


# --- creation ---------------------------------------------------------------------------------


def new_user(rt: Runtime, *, aud: str, email: str | None = None, phone: str | None = None,
             password: str | None = None, password_hash: str | None = None,
             user_metadata: dict | None = None, app_metadata: dict | None = None,
             role: str | None = None, user_id: uuid.UUID | None = None,
             is_anonymous: bool = False, providers: tuple[str, ...] = (), ip: str = "",
             after_hook: str = user_created.PASS) -> User:
    """A new user row (added to the session) with GoTrue's defaults.

    ``providers`` (the first is app_metadata.provider) are set in app_metadata. The
    before_user_created hook may refuse the user first (nothing is added then); once added, the
    legacy webhook's validate event may change its metadata or abort the request, and
    after_user_created is queued (``after_hook``: user_created.SIGNUP maps its errors as
    /signup does).
    """
    now = rt.now()
    if password_hash is None and password:
        password_hash = rt.hasher.hash(password)
    user = User(
        instance_id=NIL, id=user_id or uuid.uuid4(), aud=aud,
        role=rt.settings.jwt.default_group_name if role is None else role,
        email=email or None, phone=phone or None, encrypted_password=password_hash or "",
        raw_app_meta_data=dict(app_metadata or {}), raw_user_meta_data=dict(user_metadata or {}),
        created_at=now, updated_at=now, is_sso_user=False, is_anonymous=is_anonymous,
        email_change="", phone_change="", email_change_confirm_status=0,
        factors=[],  # a new user has none: no query to learn it later
        **{column: "" for column in TOKEN_COLUMNS},
    )
    provider_keys = ({"provider": providers[0], "providers": list(providers)}
                     if providers else {})
    user.raw_app_meta_data = {**user.raw_app_meta_data, **provider_keys}
    user_created.before(rt, user, providers, ip)
    db.session.add(user)
    legacy_webhook.trigger(rt, "validate", user)
    # A webhook reply may replace app_metadata; the providers stay, as GoTrue re-adds them.
    user.raw_app_meta_data = {**(user.raw_app_meta_data or {}), **provider_keys}
    user_created.queue_after(rt, user, ip, mode=after_hook)
    return user


def add_identity(rt: Runtime, user: User, provider: str, provider_id: str,
                 identity_data: dict) -> Identity:
    now = rt.now()
    identity = Identity(id=uuid.uuid4(), user_id=user.id, provider=provider,
                        provider_id=provider_id, created_at=now, updated_at=now,
                        last_sign_in_at=now)
    identity.set_data(identity_data)
    user.identities.append(identity)
    return identity


def base_identity_data(user: User, *, email: str | None, phone: str | None,
                       extra: dict | None) -> dict:
    """identity_data of an email or phone identity: sub, address, verification flags, then data.

    GoTrue's own keys win over the caller's data.
    """
    data: dict = {"sub": str(user.id)}
    if email:
        data["email"] = email
    if phone:
        data["phone"] = phone
    data["email_verified"] = False
    data["phone_verified"] = False
    for key, value in (extra or {}).items():
        data.setdefault(key, value)
    return data


def sync_providers(user: User) -> None:
    """app_metadata.provider/providers from the identities, oldest first."""
    providers: list[str] = []
    for identity in sorted(user.identities, key=lambda i: i.created_at or _EPOCH):
        if identity.provider not in providers:
            providers.append(identity.provider)
    metadata = user.app_metadata
    if providers:
        metadata["provider"] = providers[0]
        metadata["providers"] = providers
    user.raw_app_meta_data = metadata


_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


# --- updates ----------------------------------------------------------------------------------


def merge_metadata(existing: dict | None, patch: dict) -> dict:
    """Shallow merge as GoTrue does: keys of ``patch`` replace, a null value deletes the key."""
    merged = dict(existing or {})
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def clear_pending_tokens(user: User) -> None:
    """Forget every outstanding link or code of the user (columns and one_time_tokens rows)."""
    one_time_tokens.forget(user, *OneTimeTokenType)


def set_password(rt: Runtime, user: User, password: str) -> None:
    """Store a new bcrypt hash; pending links and codes are invalidated."""
    user.encrypted_password = rt.hasher.hash(password)
    user.updated_at = rt.now()
    clear_pending_tokens(user)


# Go's time.Duration is int64 nanoseconds; longer bans are refused as Go refuses to parse them.
_MAX_BAN = timedelta(microseconds=(2**63 - 1) // 1000)


@dataclass(frozen=True)
class BanDuration:
    """A ban change as asked for: the text given (which the audit log keeps) and its length;
    a zero length lifts the ban."""

    text: str
    length: timedelta

    @property
    def lifts(self) -> bool:
        return not self.length


def parse_ban_duration(value: str) -> BanDuration:
    """A ban duration: a Go duration (``24h``), or ``none`` to lift the ban.

    A zero duration also lifts the ban. 400 validation_failed for anything else, including
    negative or over-long durations. Parsed once, where the request is read.
    """
    if value == "none":
        return BanDuration(value, timedelta(0))
    try:
        duration = parse_go_duration(value)
    except (ValueError, OverflowError):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "invalid format for ban duration: " + value) from None
    if duration < timedelta(0) or duration > _MAX_BAN:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "invalid format for ban duration: " + value)
    return BanDuration(value, duration)


def ban(rt: Runtime, user: User, duration: BanDuration) -> None:
    """Ban for a Go duration, or lift the ban with ``none`` or a zero duration.

    Sessions are kept, as GoTrue does: the guards and the refresh grant refuse a banned user,
    and the sessions work again once the ban is over or lifted.
    """
    now = rt.now()
    user.banned_until = None if duration.lifts else now + duration.length
    user.updated_at = now


def delete(rt: Runtime, user: User, *, soft: bool) -> None:
    """Delete the user, or with ``soft`` keep an obfuscated row and drop what identifies them.

    A soft delete frees the email and phone for new sign-ups, wipes the password, metadata and
    pending tokens, neutralises the identities and removes factors and sessions. Soft-deleting
    an already deleted user changes nothing.
    """
    if not soft:
        db.session.delete(user)
        return
    if user.deleted_at is not None:
        return
    now = rt.now()
    user.email = _obfuscate(user.id, user.email) if user.email else None
    user.phone = _obfuscate(user.id, user.phone)[:15] if user.phone else None
    user.email_change = _obfuscate(user.id, user.email_change) if user.email_change else ""
    user.phone_change = _obfuscate(user.id, user.phone_change)[:15] if user.phone_change else ""
    user.encrypted_password = ""
    user.raw_user_meta_data = {}
    user.raw_app_meta_data = {}
    clear_pending_tokens(user)
    for identity in user.identities:
        identity.provider_id = _obfuscate(user.id, f"{identity.provider}:{identity.provider_id}")
        identity.set_data({})
        identity.updated_at = now
    db.session.execute(sa.delete(Factor).where(Factor.user_id == user.id),
                       execution_options={"synchronize_session": False})
    db.session.expire(user, ["factors"])
    sessions.delete_sessions(user.id)
    user.deleted_at = now
    user.updated_at = now


def _obfuscate(user_id: uuid.UUID, value: str) -> str:
    """GoTrue's obfuscation: unpadded base64url of sha256(user id + value)."""
    digest = hashlib.sha256(f"{user_id}{value}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- confirmation -----------------------------------------------------------------------------


def _identity(user: User, provider: str) -> Identity | None:
    return next((i for i in user.identities if i.provider == provider), None)


def confirm_email(rt: Runtime, user: User) -> None:
    """Mark the email confirmed: metadata and the email identity say email_verified."""
    now = rt.now()
    user.email_confirmed_at = user.email_confirmed_at or now
    user.confirmation_token = ""
    user.raw_user_meta_data = merge_metadata(user.raw_user_meta_data, {"email_verified": True})
    identity = _identity(user, "email")
    if identity is not None:
        identity.set_data({**(identity.identity_data or {}), "email_verified": True})
        identity.updated_at = now
    user.updated_at = now
    if not sa.inspect(user).pending:  # a user not yet written has no codes
        db.session.execute(
            sa.delete(OneTimeToken).where(OneTimeToken.user_id == user.id),
            execution_options={"synchronize_session": False},
        )


def confirm_phone(rt: Runtime, user: User) -> None:
    now = rt.now()
    user.phone_confirmed_at = user.phone_confirmed_at or now
    user.raw_user_meta_data = merge_metadata(user.raw_user_meta_data, {"phone_verified": True})
    identity = _identity(user, "phone")
    if identity is not None:
        identity.set_data({**(identity.identity_data or {}), "phone_verified": True})
        identity.updated_at = now
    user.updated_at = now


def add_email_identity_if_missing(rt: Runtime, user: User) -> None:
    """The user's address as an ``email`` identity, when the user has an address and no such
    identity yet (GOTRUE_EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED)."""
    if user.email and _identity(user, "email") is None:
        set_address_identity(rt, user, "email", user.email, verified=user.is_email_confirmed)


def set_address_identity(rt: Runtime, user: User, provider: str, address: str, *,
                         verified: bool = False) -> None:
    """Point the user's email or phone identity at ``address``, creating it if missing.

    A new identity gets the usual identity_data; ``verified`` sets its email_verified or
    phone_verified flag.
    """
    identity = _identity(user, provider)
    if identity is None:
        data = base_identity_data(user, email=address if provider == "email" else None,
                                  phone=address if provider == "phone" else None, extra=None)
        data[f"{provider}_verified"] = verified
        add_identity(rt, user, provider, str(user.id), data)
    else:
        identity.set_data({**(identity.identity_data or {}), provider: address})
        identity.updated_at = rt.now()
    sync_providers(user)
