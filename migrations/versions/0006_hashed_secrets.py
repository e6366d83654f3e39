"""Secrets at rest: refresh tokens, one-time codes and link tokens are stored only in forms a
database read cannot turn back into a working value.

- refresh_tokens.token and .parent become the SHA-256 hex of the token (the 12-character tokens
  clients hold keep working), and refresh_tokens.derivation_salt is added (ours, not GoTrue's).
- one_time_tokens.token_hash becomes the SHA-256 hex of the link token (``pkce_`` kept in
  front), so links already mailed keep working until they expire.
- the users token columns become an HMAC-SHA256 of the stored SHA-224, keyed by a key derived
  from GOTRUE_JWT_SECRET, so codes already mailed keep working too.

The transformations are the ones gotrue_web.security.codes applies at revision 0006, written
out here so that this revision keeps its meaning if that module changes.

Downgrading cannot restore the plain values: it signs every session out (refresh tokens are
deleted; access tokens live on until they expire) and forgets pending links and codes. Running
the upgrade again hashes only what was written after the downgrade.

Revision ID: 0006_hashed_secrets
Revises: 0005_code_attempts
Create Date: 2026-12-05
"""

import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

revision = "0006_hashed_secrets"
down_revision = "0005_code_attempts"
branch_labels = None
depends_on = None

PKCE_PREFIX = "pkce_"
USER_TOKEN_COLUMNS = ("confirmation_token", "recovery_token", "email_change_token_new",
                      "email_change_token_current", "phone_change_token",
                      "reauthentication_token")

_refresh_tokens = sa.table("refresh_tokens", sa.column("id"), sa.column("token"),
                           sa.column("parent"))
_one_time_tokens = sa.table("one_time_tokens", sa.column("id"), sa.column("token_hash"))
_users = sa.table("users", sa.column("id"), *(sa.column(name) for name in USER_TOKEN_COLUMNS))


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _sha256_sql(bind, column: str) -> str:
    """SQL for the lowercase hex SHA-256 of a text column."""
    dialect = bind.dialect.name
    if dialect == "postgresql":
        return f"encode(sha256(convert_to({column}, 'UTF8')), 'hex')"
    if dialect in ("mysql", "mariadb"):
        return f"SHA2({column}, 256)"
    # SQLite has no SHA-256: lend it Python's for this connection.
    bind.connection.driver_connection.create_function(
        "gotrue_sha256", 1, lambda value: None if value is None else _sha256_hex(value),
        deterministic=True)
    return f"gotrue_sha256({column})"


def _code_key() -> bytes:
    secret = current_app.config["GOTRUE_SETTINGS"].jwt.secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"gotrue-web one-time code digest").derive(secret.encode())


def _split(value: str) -> tuple[str, str]:
    if value.startswith(PKCE_PREFIX):
        return PKCE_PREFIX, value[len(PKCE_PREFIX):]
    return "", value


def _link_hash(value: str) -> str:
    marker, rest = _split(value)
    return marker + _sha256_hex(rest)


def _code_digest(key: bytes, value: str) -> str:
    marker, rest = _split(value)
    return marker + hmac.new(key, rest.encode(), hashlib.sha256).hexdigest()


def upgrade():
    if op.get_context().as_sql:
        raise RuntimeError("0006_hashed_secrets converts stored values and must run online "
                           "(flask db upgrade), not as generated SQL")
    op.add_column("refresh_tokens", sa.Column("derivation_salt", sa.String(32)))
    bind = op.get_bind()

    # Every token and parent, in one statement per table (there may be millions).
    token, parent = _sha256_sql(bind, "token"), _sha256_sql(bind, "parent")
    bind.execute(sa.text(f"UPDATE refresh_tokens SET token = {token}, parent = {parent}"))

    # Pending links and codes: few rows, converted one by one.
    for row in bind.execute(sa.select(_one_time_tokens)).all():
        bind.execute(sa.update(_one_time_tokens).where(_one_time_tokens.c.id == row.id)
                     .values(token_hash=_link_hash(row.token_hash)))
    pending = bind.execute(sa.select(_users).where(sa.or_(*(
        sa.func.coalesce(_users.c[name], "") != "" for name in USER_TOKEN_COLUMNS)))).all()
    if pending:
        key = _code_key()
        for row in pending:
            values = {name: _code_digest(key, row._mapping[name])
                      for name in USER_TOKEN_COLUMNS if row._mapping[name]}
            bind.execute(sa.update(_users).where(_users.c.id == row.id).values(values))


def downgrade():
    # The stored hashes would be accepted as tokens by the code before this revision.
    bind = op.get_bind()
    bind.execute(sa.delete(_refresh_tokens))
    bind.execute(sa.delete(_one_time_tokens))
    bind.execute(sa.update(_users).values({name: "" for name in USER_TOKEN_COLUMNS}))
    op.drop_column("refresh_tokens", "derivation_salt")
