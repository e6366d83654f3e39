"""The admin users API: list, create, update and delete users with a service-role token.

Parity: GoTrue internal/api/admin.go. The console calls the same functions.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ...errors import ErrorCode, bad_request, not_found, unprocessable
from ...extensions import db
from ...models import Factor, Identity, User
from ...runtime import RequestInfo, Runtime
from ...security import codes, passwords
from .. import audit, password_checks, sessions, users
from ..mfa import factors as mfa_factors
from ..validation import normalize_email, normalize_phone

SORTABLE = {
    "created_at": User.created_at,
    "updated_at": User.updated_at,
    "last_sign_in_at": User.last_sign_in_at,
    "email": User.email,
    "phone": User.phone,
    "id": User.id,
    "banned_until": User.banned_until,
}


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    total: int
    page: int
    per_page: int

    @property
    def last_page(self) -> int:
        return math.ceil(self.total / self.per_page) if self.per_page else 0


def parse_sort(values: list[str]) -> list:
    """``sort`` query values (``"email asc"``, ``"created_at"``) -> ORDER BY clauses.

    As in GoTrue a field without a direction sorts descending; comma lists are also accepted.
    Nulls sort as PostgreSQL puts them (last ascending, first descending) on every database.
    400 validation_failed for an unknown field or direction.
    """
    clauses = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            name, _, direction = part.partition(" ")
            column = SORTABLE.get(name)
            if column is None:
                raise bad_request(ErrorCode.VALIDATION_FAILED,
                                  f"Bad Sort Parameters: bad field for sort '{name}'")
            direction = direction.strip().lower() or "desc"
            if direction == "asc":
                clauses += [column.is_(None).asc(), column.asc()]
            elif direction == "desc":
                clauses += [column.is_(None).desc(), column.desc()]
            else:
                raise bad_request(ErrorCode.VALIDATION_FAILED,
                                  f"Bad Sort Parameters: bad direction for sort '{direction}', "
                                  "only 'asc' and 'desc' allowed")
    return clauses or [User.created_at.desc()]


def list_users(*, aud: str, page: int, per_page: int, filter_text: str,
               sort: list[str]) -> UserPage:
    """A page of the audience's users, filtered by a substring of email or full name.

    The filter is case-insensitive and literal: ``%`` and ``_`` match only themselves.
    """
    conditions = [User.instance_id == users.NIL, User.aud == aud]
    if filter_text:
        full_name = User.raw_user_meta_data["full_name"].as_string()
        conditions.append(sa.or_(
            User.email.icontains(filter_text, autoescape=True),
            full_name.icontains(filter_text, autoescape=True),
        ))
    order = parse_sort(sort)
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(User).where(*conditions)).scalar_one()
    rows = db.session.execute(
        sa.select(User).where(*conditions).order_by(*order, User.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return UserPage(users=list(rows), total=total, page=page, per_page=per_page)


def load(user_id: str) -> User:
    """The user with this id; 404 validation_failed for a malformed id, 404 user_not_found."""
    try:
        parsed = uuid.UUID(user_id)
    except ValueError:
        raise not_found(ErrorCode.VALIDATION_FAILED, "user_id must be an UUID") from None
    user = users.get(parsed)
    if user is None:
        raise not_found(ErrorCode.USER_NOT_FOUND, "User not found")
    return user


@dataclass(frozen=True)
class AdminUserParams:
    """Fields of POST/PUT /admin/users; None means "not given"."""

    email: str | None = None
    phone: str | None = None
    password: str | None = None
    password_hash: str | None = None
    email_confirm: bool = False
    phone_confirm: bool = False
    user_metadata: dict | None = None
    app_metadata: dict | None = None
    role: str | None = None
    id: str | None = None
    aud: str | None = None
    # Parsed where the request is read (users.parse_ban_duration).
    ban_duration: users.BanDuration | None = None


# users.aud, users.role and users.encrypted_password are varchar(255).
_MAX_COLUMN_LENGTH = 255


def _check_column_length(name: str, value: str | None) -> None:
    if value is not None and len(value) > _MAX_COLUMN_LENGTH:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"{name} must be at most {_MAX_COLUMN_LENGTH} characters")


def _check_email_free(email: str, aud: str, except_id: uuid.UUID | None = None) -> None:
    """422 email_exists when another user holds ``email``.

    users.email is unique among non-SSO users of every audience (the database says so); an
    email identity of another non-SSO user in the same audience also counts, as in GoTrue.
    """
    taken = sa.select(User.id).where(User.email == email, User.is_sso_user.is_(False))
    via_identity = (
        sa.select(Identity.user_id).join(User, User.id == Identity.user_id)
        .where(Identity.email == email, sa.not_(Identity.provider.startswith("sso:")),
               User.aud == aud, User.is_sso_user.is_(False))
    )
    if except_id is not None:
        taken = taken.where(User.id != except_id)
        via_identity = via_identity.where(Identity.user_id != except_id)
    if (db.session.execute(taken.limit(1)).first() is not None
            or db.session.execute(via_identity.limit(1)).first() is not None):
        raise unprocessable(ErrorCode.EMAIL_EXISTS,
                            "A user with this email address has already been registered")


def _check_phone_free(phone: str, except_id: uuid.UUID | None = None) -> None:
    """422 phone_exists when another user holds ``phone`` (unique across audiences)."""
    taken = sa.select(User.id).where(User.phone == phone)
    if except_id is not None:
        taken = taken.where(User.id != except_id)
    if db.session.execute(taken.limit(1)).first() is not None:
        raise unprocessable(ErrorCode.PHONE_EXISTS,
                            "Phone number already registered by another user")


def _password_hash(params: AdminUserParams) -> str | None:
    """The imported hash after checking that login will be able to verify it, or None.

    A hash that cannot be verified is 400 validation_failed (GoTrue answers 500). An empty
    hash counts as none, as in GoTrue.
    """
    encoded = params.password_hash or None
    if params.password is not None and encoded is not None:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only a password or a password hash should be provided")
    if encoded is None:
        return None
    try:
        if len(encoded) > _MAX_COLUMN_LENGTH:
            raise passwords.UnsupportedHashError("hash too long")
        passwords.check_hash_format(encoded)
    except passwords.UnsupportedHashError as exc:
        raise bad_request(ErrorCode.VALIDATION_FAILED, f"Invalid password hash: {exc}") from None
    return encoded


def _flush_or_conflict() -> None:
    """Flush, turning a unique-key race lost to a concurrent request into GoTrue's 422."""
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        # Constraint names on PostgreSQL and MariaDB, table.column on SQLite.
        detail = str(exc.orig).lower()
        if "users_phone" in detail or "users.phone" in detail:
            raise unprocessable(ErrorCode.PHONE_EXISTS,
                                "Phone number already registered by another user") from None
        if "users_email" in detail or "users.email" in detail:
            raise unprocessable(ErrorCode.EMAIL_EXISTS,
                                "A user with this email address has already been registered"
                                ) from None
        raise unprocessable(ErrorCode.USER_ALREADY_EXISTS, "User already exists") from None


def target_traits(user: User) -> dict:
    """The audit traits that name the user an admin or operator action was about."""
    return {"user_id": str(user.id), "user_email": user.email or "",
            "user_phone": user.phone or ""}


def create_user(rt: Runtime, params: AdminUserParams, actor: audit.Actor,
                info: RequestInfo) -> User:
    """Create a user as an admin: no strength check, optional confirmation, ban and metadata.

    Creates the email and/or phone identity and writes a user_signedup audit entry. Without a
    password or hash the user gets a random 64-character password nobody knows.
    """
    email = normalize_email(params.email) if params.email else None
    phone = normalize_phone(params.phone) if params.phone else None
    if not email and not phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Cannot create a user without either an email or phone")
    aud = params.aud or info.aud
    _check_column_length("aud", aud)
    _check_column_length("role", params.role)
    user_id = None
    if params.id:
        try:
            user_id = uuid.UUID(params.id)
        except ValueError:
            raise bad_request(ErrorCode.VALIDATION_FAILED,
                              "ID must conform to the uuid v4 format") from None
        if user_id == users.NIL:
            raise bad_request(ErrorCode.VALIDATION_FAILED, "ID cannot be a nil uuid")
        if users.get(user_id) is not None:
            raise unprocessable(ErrorCode.USER_ALREADY_EXISTS, "User already exists")
    if email:
        _check_email_free(email, aud)
    if phone:
        _check_phone_free(phone)
    password_hash = _password_hash(params)
    ban_duration = params.ban_duration
    password = params.password or None
    if password is not None:
        passwords.check_length_limit(password)
    elif password_hash is None:
        password = codes.random_password()

    providers = tuple(p for p, address in (("email", email), ("phone", phone)) if address)
    # Unlike GoTrue, before/after_user_created also run here (issue 12 asks for "admin").
    user = users.new_user(rt, aud=aud, email=email, phone=phone, password=password,
                          password_hash=password_hash, user_id=user_id, role=params.role or None,
                          user_metadata=params.user_metadata, providers=providers, ip=info.ip)
    if email:
        users.add_identity(rt, user, "email", str(user.id), users.base_identity_data(
            user, email=email, phone=None, extra=None))
    if phone:
        users.add_identity(rt, user, "phone", str(user.id), users.base_identity_data(
            user, email=None, phone=phone, extra=None))
    user.raw_app_meta_data = users.merge_metadata(user.raw_app_meta_data,
                                                  params.app_metadata or {})
    if params.email_confirm and email:
        users.confirm_email(rt, user)
    if params.phone_confirm and phone:
        users.confirm_phone(rt, user)
    if ban_duration is not None:
        users.ban(rt, user, ban_duration)
    # Flush first: the audit INSERT would autoflush the user and bypass the conflict check.
    _flush_or_conflict()
    audit.record("user_signedup", actor, now=rt.now(), ip=info.ip, traits=target_traits(user))
    return user


def update_user(rt: Runtime, user: User, params: AdminUserParams, actor: audit.Actor,
                info: RequestInfo, *, audit_traits: dict | None = None) -> User:
    """Change a user as an admin and write a user_modified audit entry.

    Empty strings mean "no change". A new password is strength-checked and ends every session
    of the user. A new email or phone moves the matching identity (creating it if missing);
    one already held by another user is 422 email_exists / phone_exists. The entry's traits
    name the user, the ban_duration when one was given, and ``audit_traits`` (the console adds
    what the operator changed and why, e.g. a ban's reason).
    """
    aud = user.aud or ""
    email = normalize_email(params.email) if params.email else None
    phone = normalize_phone(params.phone) if params.phone else None
    if email and email != user.email:
        _check_email_free(email, aud, except_id=user.id)
    if phone and phone != user.phone:
        _check_phone_free(phone, except_id=user.id)
    _check_column_length("role", params.role)
    ban_duration = params.ban_duration
    password_hash = _password_hash(params)
    if params.password is not None:
        password_checks.check_new_password(rt, params.password)

    if params.role:
        user.role = params.role
    if params.password is not None:
        users.set_password(rt, user, params.password)
    elif password_hash is not None:
        user.encrypted_password = password_hash
        users.clear_pending_tokens(user)
    if params.password is not None or password_hash is not None:
        sessions.delete_sessions(user.id)
    if email:
        if email != user.email:
            users.set_address_identity(rt, user, "email", email, verified=params.email_confirm)
            user.email = email
        if user.is_anonymous and params.email_confirm:
            user.is_anonymous = False
    if phone:
        if phone != user.phone:
            users.set_address_identity(rt, user, "phone", phone, verified=params.phone_confirm)
            user.phone = phone
        if user.is_anonymous and params.phone_confirm:
            user.is_anonymous = False
    if params.email_confirm and user.email:
        users.confirm_email(rt, user)
    if params.phone_confirm and user.phone:
        users.confirm_phone(rt, user)
    if params.app_metadata is not None:
        user.raw_app_meta_data = users.merge_metadata(user.raw_app_meta_data, params.app_metadata)
    if params.user_metadata is not None:
        user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data,
                                                       params.user_metadata)
    if ban_duration is not None:
        users.ban(rt, user, ban_duration)
    user.updated_at = rt.now()
    traits = target_traits(user)
    if ban_duration is not None:
        traits["ban_duration"] = ban_duration.text
    traits.update(audit_traits or {})
    _flush_or_conflict()
    audit.record("user_modified", actor, now=rt.now(), ip=info.ip, traits=traits)
    return user


def delete_user(rt: Runtime, user: User, *, soft: bool, actor: audit.Actor,
                info: RequestInfo, audit_traits: dict | None = None) -> None:
    """Hard-delete the user (identities, sessions, tokens and factors cascade) or soft-delete.

    Writes a user_deleted audit entry either way (with ``audit_traits`` added to its traits).
    """
    audit.record("user_deleted", actor, now=rt.now(), ip=info.ip,
                 traits={**target_traits(user), **(audit_traits or {})})
    users.delete(rt, user, soft=soft)


def load_factor(user: User, factor_id: str) -> Factor:
    """The user's factor; 404 validation_failed for a malformed id, 404 mfa_factor_not_found."""
    return mfa_factors.load_factor(user, factor_id)


def update_factor(rt: Runtime, user: User, factor: Factor, actor: audit.Actor,
                  info: RequestInfo, *, friendly_name: str = "", phone: str = "") -> Factor:
    """Rename a factor, or give a phone factor another number. Writes factor_updated."""
    return mfa_factors.update(rt, user, factor, actor, info, friendly_name=friendly_name,
                              phone=phone)


def delete_factor(rt: Runtime, user: User, factor: Factor, actor: audit.Actor,
                  info: RequestInfo) -> None:
    """Remove an MFA factor; sessions that reached aal2 with it drop back to aal1 and lose
    the factor's amr claim. Writes a factor_deleted audit entry."""
    mfa_factors.remove(rt, user, factor)
    audit.record("factor_deleted", actor, now=rt.now(), ip=info.ip, traits={
        "user_id": str(user.id), "factor_id": str(factor.id),
        "factor_type": factor.factor_type.value})
