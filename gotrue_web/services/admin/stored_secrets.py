"""Rewriting the encrypted columns as the current GOTRUE_SECURITY_DB_ENCRYPTION_* settings say
(``flask --app wsgi reencrypt-secrets``): after a key rotation every value moves to the new key,
so the old one can leave GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS; with encryption turned
off every value becomes plain text again. Without it, a value changes form only when it is
written again (a new factor, a new session).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import Factor, Session
from ...runtime import Runtime
from ...security import db_encryption
from ...security.db_encryption import CannotDecrypt

__all__ = ["COLUMNS", "CannotDecrypt", "Rewritten", "rewrite"]

# (what the report calls it, the column)
COLUMNS = (("TOTP factor secrets", Factor.__table__.c.secret),
           ("signed session keys", Session.__table__.c.refresh_token_hmac_key))
BATCH_SIZE = 500


@dataclass(frozen=True)
class Rewritten:
    column: str
    rewritten: int
    already: int


def rewrite(rt: Runtime, batch_size: int = BATCH_SIZE) -> list[Rewritten]:
    """Rewrite every value of COLUMNS not yet as the settings say; one commit per batch, so a
    run that stops half-way (db_encryption.CannotDecrypt: a key is missing) keeps what it did
    and a second run goes on from there."""
    config = rt.settings.security.db_encryption
    return [_rewrite_column(config, name, column, batch_size) for name, column in COLUMNS]


def _rewrite_column(config, name: str, column: sa.Column, batch_size: int) -> Rewritten:
    table = column.table
    rewritten = already = 0
    after = None
    while True:
        query = (sa.select(table.c.id, column).where(column.is_not(None), column != "")
                 .order_by(table.c.id).limit(batch_size))
        if after is not None:
            query = query.where(table.c.id > after)
        rows = db.session.execute(query).all()
        if not rows:
            break
        for row_id, stored in rows:
            if db_encryption.is_current(config, stored):
                already += 1
                continue
            plain = db_encryption.unseal(config, str(row_id), stored)
            # Only if unchanged since the read: a value written meanwhile is already current.
            rewritten += db.session.execute(
                sa.update(table).where(table.c.id == row_id, column == stored)
                .values({column.name: db_encryption.seal(config, str(row_id), plain)}),
                execution_options={"synchronize_session": False}).rowcount
        db.session.commit()
        after = rows[-1][0]
    return Rewritten(name, rewritten, already)
