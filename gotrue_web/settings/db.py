"""The database: its URL (GoTrue's forms accepted), schema and pool."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .database_url import normalize_database_url
from .env import EnvReader, SettingsError


@dataclass(frozen=True)
class DBSettings:
    # A SQLAlchemy URL; None means the SQLite file in the instance folder.
    url: str | None = None
    namespace: str = "auth"
    pool_size: int = 5
    max_overflow: int = 10


def read(env: EnvReader) -> DBSettings:
    database_url = None
    found = env.raw("DB_DATABASE_URL", "DATABASE_URL")
    if found:
        try:
            database_url = normalize_database_url(found[1])
        except ValueError:
            raise SettingsError(f"{found[0]}: not a database URL GoTrue would accept") from None
    return DBSettings(
        url=database_url,
        # GoTrue reads DB_NAMESPACE unprefixed (its struct tag doubles the DB_ otherwise).
        namespace=env.str("DB_NAMESPACE", "auth", "GOTRUE_DB_DB_NAMESPACE", "DB_NAMESPACE"),
        pool_size=env.int("DB_MAX_POOL_SIZE", 5, minimum=1, zero_is_default=True),
    )


def check(db: DBSettings) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", db.namespace):
        raise SettingsError(f"DB_NAMESPACE: not a schema name: {db.namespace!r}")
