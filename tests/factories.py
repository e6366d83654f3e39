"""Helpers the tests share: rows made and read through the project's models (each takes the app
first), users made through the admin API, URL, token and mail helpers, and a clock to move.

Rows are written with ``gotrue_web.extensions.db`` inside ``app.app_context()`` and committed,
so what a test sets up is what the server reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, parse_qsl, urlsplit

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gotrue_web import driver_sql
from gotrue_web.db import NIL_UUID
from gotrue_web.extensions import db
from gotrue_web.models import (
    AuditLogEntry,
    EmailTemplate,
    Factor,
    FactorStatus,
    FactorType,
    Identity,
    MailLogEntry,
    OneTimeToken,
    Session,
    User,
)

from .conftest import JWT_SECRET, table_rows
from .support import smtp as smtp_support

PASSWORD = "password-123"


# --- users ---------------------------------------------------------------------------------------


def unique_email(tag: str = "user") -> str:
    """A fresh address; the letter before the @ keeps the address from ever holding a run of
    digits that could be mistaken for the code in a message."""
    return f"{tag}-{uuid.uuid4().hex[:10]}x@example.com"


def make_user(app, email: str | None = None, *, phone: str | None = None,
              password: str | None = None, confirmed: bool = True, invited: bool = False,
              anonymous: bool = False, name: str | None = None,
              providers: tuple[str, ...] | None = None, factors: tuple[str, ...] = (),
              created_at: datetime | None = None, **columns) -> uuid.UUID:
    """Insert a user as the services leave it (identities for its providers, one TOTP factor
    per status in ``factors``); ``columns`` set any other User column. Returns the id."""
    rt = app.extensions["gotrue"]
    created_at = created_at or rt.now()
    user = User(
        id=columns.pop("id", None) or uuid.uuid4(), instance_id=uuid.UUID(NIL_UUID),
        aud="authenticated", role="authenticated", email=email, phone=phone,
        encrypted_password=rt.hasher.hash(password) if password else None,
        created_at=created_at, updated_at=created_at,
        raw_app_meta_data={"provider": "email"},
        raw_user_meta_data={} if name is None else {"full_name": name},
        is_anonymous=anonymous, invited_at=created_at if invited else None, **columns)
    # Invited and anonymous users have confirmed nothing yet.
    if confirmed and not (invited or anonymous):
        if email:
            user.email_confirmed_at = created_at
        if phone:
            user.phone_confirmed_at = created_at
    if providers is None:
        providers = tuple(p for p, value in (("email", email), ("phone", phone)) if value)
    with app.app_context():
        db.session.add(user)
        db.session.flush()
        for provider in providers:
            identity = Identity(user_id=user.id, provider=provider,
                                provider_id=f"{provider}-{user.id}",
                                created_at=created_at, updated_at=created_at)
            identity.set_data({"sub": str(user.id), "email": email})
            db.session.add(identity)
        for index, status in enumerate(factors):
            db.session.add(Factor(
                user_id=user.id, friendly_name=f"app {index}", factor_type=FactorType.totp,
                status=FactorStatus(status), created_at=created_at, updated_at=created_at))
        db.session.commit()
        return user.id


def _user_filter(id_or_email):
    """A user is named by its id (a UUID or its text) or by its email address."""
    if isinstance(id_or_email, uuid.UUID):
        return User.id == id_or_email
    try:
        return User.id == uuid.UUID(str(id_or_email))
    except ValueError:
        return User.email == id_or_email


def user_row(app, id_or_email) -> User | None:
    """The user with this id or email, or None."""
    rows = table_rows(app, sa.select(User).where(_user_filter(id_or_email)))
    assert len(rows) <= 1, rows
    return rows[0][0] if rows else None


def update_user(app, id_or_email, **columns) -> None:
    """Set columns of a user row directly, for states no API call reaches."""
    with app.app_context():
        db.session.execute(sa.update(User).where(_user_filter(id_or_email)).values(**columns))
        db.session.commit()


def identities(app, user_id) -> list[Identity]:
    """The user's identities, by provider."""
    return [row[0] for row in table_rows(
        app, sa.select(Identity).where(Identity.user_id == uuid.UUID(str(user_id)))
        .order_by(Identity.provider))]


def create_user(api, email: str | None = None, **body) -> dict:
    """A user made with POST /admin/users (confirmed unless told otherwise); its JSON."""
    body.setdefault("email_confirm", True)
    if email is not None:
        body["email"] = email
    response = api.admin("POST", "/admin/users", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def sign_in(api, email: str, password: str = PASSWORD) -> dict:
    """A password sign-in that must succeed; the session JSON."""
    response = api.login(email, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- sessions, factors and tokens ----------------------------------------------------------------


def session_ids(app, user_id=None) -> set[uuid.UUID]:
    """The ids of ``user_id``'s sessions, or of every session when no user is given."""
    statement = sa.select(Session.id)
    if user_id is not None:
        statement = statement.where(Session.user_id == uuid.UUID(str(user_id)))
    return {row[0] for row in table_rows(app, statement)}


def add_factor(app, user_id, *, factor_type=FactorType.totp, status=FactorStatus.verified,
               name: str | None = "authenticator", phone: str | None = None,
               created_at: datetime | None = None) -> uuid.UUID:
    """An MFA factor row (there is no enrolment API), made at the app's now unless told."""
    factor_id = uuid.uuid4()
    created_at = created_at or app.extensions["gotrue"].now()
    with app.app_context():
        db.session.add(Factor(
            id=factor_id, user_id=uuid.UUID(str(user_id)), friendly_name=name,
            factor_type=factor_type, status=status, created_at=created_at,
            updated_at=created_at, secret="JBSWY3DPEHPK3PXP", phone=phone))
        db.session.commit()
    return factor_id


def factor_ids(app, user_id) -> set[uuid.UUID]:
    """The ids of the user's MFA factors."""
    return {row[0] for row in table_rows(
        app, sa.select(Factor.id).where(Factor.user_id == uuid.UUID(str(user_id))))}


def one_time_tokens(app, user_id) -> dict[str, OneTimeToken]:
    """The user's one-time tokens by type (a user holds at most one of each)."""
    rows = table_rows(app, sa.select(OneTimeToken).where(
        OneTimeToken.user_id == uuid.UUID(str(user_id))))
    return {row[0].token_type.value: row[0] for row in rows}


def token_hashes(app, user_id) -> dict[str, tuple[str, str]]:
    """The user's one-time tokens as type -> (token_hash, relates_to)."""
    return {kind: (token.token_hash, token.relates_to)
            for kind, token in one_time_tokens(app, user_id).items()}


def token_hash(address: str, code: str, secret: str = JWT_SECRET) -> str:
    """What the users column stores for an emailed code: HMAC-SHA256, keyed by a key derived
    from the JWT secret (HKDF), of GoTrue's hash (sha224 of the address followed by the code)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"gotrue-web one-time code digest").derive(secret.encode())
    return hmac.new(key, gotrue_hash(address, code).encode(), hashlib.sha256).hexdigest()


def gotrue_hash(address: str, code: str) -> str:
    """GoTrue's token hash (sha224 of the address followed by the code): its link token, which
    gotrue-web no longer uses or stores."""
    return hashlib.sha224((address + code).encode()).hexdigest()


def refresh_token_hash(token: str) -> str:
    """What refresh_tokens stores for a refresh token (token and parent): its sha256."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_hash(token: str) -> str:
    """What one_time_tokens stores for a link token: its sha256, keeping a pkce_ marker."""
    marker = "pkce_" if token.startswith("pkce_") else ""
    return marker + hashlib.sha256(token.removeprefix("pkce_").encode()).hexdigest()


def claims(access_token: str) -> dict:
    """The claims of a JWT, unverified."""
    return jwt.decode(access_token, options={"verify_signature": False})


def verified_claims(access_token: str, *, clock_moved: bool = False) -> dict:
    """The claims of an access token signed with the tests' HS256 secret for the
    "authenticated" audience and not expired. ``clock_moved`` skips the issued-at check, for
    tokens from an app whose clock the test moved ahead."""
    return jwt.decode(access_token, JWT_SECRET, algorithms=["HS256"], audience="authenticated",
                      options={"verify_iat": not clock_moved})


# --- audit, mail and templates -------------------------------------------------------------------


def audit_entries(app, action: str | None = None) -> list[dict]:
    """Audit payloads (with ip_address added), oldest first; only ``action``'s when given."""
    rows = table_rows(app, sa.select(AuditLogEntry.payload, AuditLogEntry.ip_address)
                      .order_by(AuditLogEntry.created_at))
    entries = [{**payload, "ip_address": ip} for payload, ip in rows]
    return [e for e in entries if action is None or e["action"] == action]


def audit_actions(app, user_id=None) -> list[str]:
    """The audited actions, oldest first; only those ``user_id`` performed when given."""
    rows = table_rows(app, sa.select(AuditLogEntry.payload).order_by(AuditLogEntry.created_at))
    return [payload["action"] for (payload,) in rows
            if user_id is None or payload.get("actor_id") == str(user_id)]


def mail_log(app) -> list[MailLogEntry]:
    """The mail log, oldest first (recipients of one moment in address order)."""
    return [row[0] for row in table_rows(app, sa.select(MailLogEntry).order_by(
        MailLogEntry.created_at, MailLogEntry.recipient))]


def email_templates(app) -> list[tuple]:
    """Stored templates as (kind, locale, subject, body, updated_by), by kind and locale."""
    return [(row.kind, row.locale, row.subject, row.body, row.updated_by) for (row,) in
            table_rows(app, sa.select(EmailTemplate).order_by(EmailTemplate.kind,
                                                              EmailTemplate.locale))]


def count(app, model) -> int:
    """How many rows ``model``'s table holds."""
    return table_rows(app, sa.select(sa.func.count()).select_from(model))[0][0]


def mail_to(smtp_server, email: str, count: int = 1):
    """The last of exactly ``count`` messages the SMTP sink received for ``email``."""
    messages = smtp_server.wait_for(email, count=count)
    assert len(messages) == count, f"expected {count} message(s) to {email}: {messages}"
    return messages[-1]


def verify_link(message) -> str:
    """The one /verify link of an email."""
    [link] = [link for link in smtp_support.links(message) if "/verify?" in link]
    return link


# --- URLs ----------------------------------------------------------------------------------------


def query(url: str) -> dict[str, str]:
    """The query parameters of a URL (blank ones included)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def fragment(url: str) -> dict[str, str]:
    """The parameters in a URL's fragment (blank ones included)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment, keep_blank_values=True).items()}


def fragment_pairs(url: str) -> list[tuple[str, str]]:
    """The fragment's parameters in their order, blank ones included."""
    return parse_qsl(urlsplit(url).fragment, keep_blank_values=True)


def path_of(link: str) -> str:
    """The path and query of an emailed link (the test client ignores the host)."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


# --- time ----------------------------------------------------------------------------------------


class Clock:
    """A clock tests move by hand (``freeze_clock(app)`` installs one). It starts at the current
    whole second, so console sessions and tokens stay valid and stored times compare equal."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def freeze_clock(app, at: datetime | None = None) -> Clock:
    """Stop the app's clock at ``at`` (default: now); move it with the Clock returned."""
    clock = Clock(at)
    app.extensions["gotrue"].clock = clock
    return clock


def later(app, seconds: float) -> datetime:
    """Stop the app's clock ``seconds`` after its current now (for the 60 s rule and expiry)."""
    return freeze_clock(app, app.extensions["gotrue"].now() + timedelta(seconds=seconds)).now


# --- statements sent -----------------------------------------------------------------------------


@contextlib.contextmanager
def statements_sent(app, *, orm_prefix: str = ""):
    """Record the SQL this thread sends inside the block, through SQLAlchemy (each prefixed with
    ``orm_prefix``) and on the driver paths (driver_sql). Other threads (the mail outbox's
    dispatcher polls the same engine) are left out."""
    sent: list[str] = []
    this_thread = threading.get_ident()

    def through_sqlalchemy(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == this_thread:
            sent.append(orm_prefix + statement)

    def on_driver(statement: str) -> None:
        if threading.get_ident() == this_thread:
            sent.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    driver_sql.statement_listeners.append(on_driver)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", through_sqlalchemy)
        driver_sql.statement_listeners.remove(on_driver)
