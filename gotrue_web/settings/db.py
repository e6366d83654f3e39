"""The database: its URL (GoTrue's forms accepted), schema and pool."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from .database_url import normalize_database_url
from .env import EnvReader, SettingsError

# GOTRUE_DB_DRIVER values -> the SQLAlchemy backend they mean. The URL's form decides the
# driver here; the variable is only checked against it, so a copied GoTrue env file keeps
# working and a contradiction (postgres with a MySQL URL) is caught.
DRIVER_BACKENDS = {"postgres": "postgresql", "postgresql": "postgresql", "pgx": "postgresql",
                   "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "sqlite3": "sqlite"}


@dataclass(frozen=True)
class DBSettings:
    # A SQLAlchemy URL; None means the SQLite file in the instance folder.
    url: str | None = None
    namespace: str = "auth"
    pool_size: int = 5
    max_overflow: int = 10
    # GOTRUE_DB_DRIVER as given ("" when unset); see DRIVER_BACKENDS.
    driver: str = ""
    # How often each process removes rows that can no longer be used (services/cleanup);
    # zero turns the thread off (``flask --app wsgi cleanup`` still works).
    cleanup_interval: timedelta = timedelta(minutes=5)


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
        driver=env.str("DB_DRIVER").lower(),
        cleanup_interval=env.duration("DB_CLEANUP_INTERVAL", timedelta(minutes=5)),
    )


def check(db: DBSettings) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", db.namespace):
        raise SettingsError(f"DB_NAMESPACE: not a schema name: {db.namespace!r}")
    if db.driver:
        _check_driver(db)


def _check_driver(db: DBSettings) -> None:
    backend = DRIVER_BACKENDS.get(db.driver)
    if backend is None:
        raise SettingsError(f"GOTRUE_DB_DRIVER: expected postgres, mysql or sqlite, got "
                            f"{db.driver!r} (the database URL decides the driver; it can be "
                            "left unset)")
    actual = sa.engine.make_url(db.url).get_backend_name() if db.url else "sqlite"
    if backend != actual:
        where = "DATABASE_URL" if db.url else "no DATABASE_URL (SQLite in the instance folder)"
        raise SettingsError(f"GOTRUE_DB_DRIVER: {db.driver} contradicts {where}, which is "
                            f"{actual}; fix one of them (or unset GOTRUE_DB_DRIVER)")
