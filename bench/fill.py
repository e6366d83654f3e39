"""Bulk-fills the bench's scratch database with extra users and sessions (run.py --fill-users).

The hot paths must not slow down as the tables grow, so before the scenarios the database can
be given N generated users (bench/console_users.py's generator, keeping the users that have an
email and so an email identity) and N sessions spread over them, each with one refresh token
(a SHA-256 hex hash, as sign-ins store them) and a "password" amr claim. Core executemany in
big batches, COPY on PostgreSQL; then the statistics a busy database would have (ANALYZE).
"""

from __future__ import annotations

import ipaddress
import random
import sys
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from console_users import SEED, generate
from console_users import _mariadb_writer as _trigram_batch_writer

from gotrue_web.db import NIL_UUID, configure_engine, engine_options
from gotrue_web.models import AMRClaim, Factor, Identity, RefreshToken, Session, User
from gotrue_web.security.codes import (
    _REFRESH_TOKEN_ALPHABET,
    LEGACY_REFRESH_TOKEN_LENGTH,
    refresh_token_hash,
)

TABLES = {"users": User.__table__, "identities": Identity.__table__,
          "mfa_factors": Factor.__table__, "sessions": Session.__table__,
          "refresh_tokens": RefreshToken.__table__, "mfa_amr_claims": AMRClaim.__table__}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Mobile Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) Version/18.1 Safari/605.1.15",
    "okhttp/4.12.0",
    "supabase-js/2.46.1",
)
# An odd multiplier makes counter -> counter * M mod 2**60 a bijection: every filled refresh
# token is different, yet they look random (60 bits = 12 base32 characters).
_TOKEN_BITS = 5 * LEGACY_REFRESH_TOKEN_LENGTH
_TOKEN_SCRAMBLE = 0x9E3779B97F4A7C15 % (1 << _TOKEN_BITS) | 1


def fill(url: str, namespace: str, users: int, sessions: int, batch: int = 20_000) -> float:
    """Add ``users`` users and ``sessions`` sessions; return the seconds it took."""
    started = time.monotonic()
    engine = _fill_engine(url, namespace)
    backend = engine.dialect.name
    writer = {"postgresql": _copy_writer, "mysql": _mariadb_writer}.get(
        backend, _core_writer)(engine)
    rng = random.Random(SEED)
    made_users = made_sessions = 0
    number = 0  # the generator's user number, which keeps its emails unique
    try:
        while made_users < users:
            wanted = min(batch, users - made_users)
            rows, number = _users_with_email(rng, number, wanted)
            made_users += wanted
            # Sessions in step with users, so every batch can point at its own users.
            session_quota = sessions * made_users // users - made_sessions
            rows.update(_sessions(rng, rows["users"], session_quota, made_sessions))
            made_sessions += session_quota
            writer(rows)
            if sys.stdout.isatty():
                print(f"\r  filled {made_users:,} / {users:,} users", end="", flush=True)
        if sys.stdout.isatty():
            print()
        if hasattr(writer, "finish"):
            writer.finish()
        _after_fill(engine)
    finally:
        engine.dispose()
    return time.monotonic() - started


def _users_with_email(rng: random.Random, number: int, wanted: int) -> tuple[dict, int]:
    """``wanted`` generated users that have an email, with their identities and factors."""
    kept = {"users": [], "identities": [], "mfa_factors": []}
    while len(kept["users"]) < wanted:
        # About 84 % of generated users have an email; ask for a few more than missing.
        ask = (wanted - len(kept["users"])) * 6 // 5 + 10
        users, identities, factors = generate(number, ask, rng)
        number += ask
        users = [user for user in users if user["email"]][:wanted - len(kept["users"])]
        ids = {user["id"] for user in users}
        kept["users"] += users
        kept["identities"] += [row for row in identities if row["user_id"] in ids]
        kept["mfa_factors"] += [row for row in factors if row["user_id"] in ids]
    return kept, number


def _sessions(rng: random.Random, users: list[dict], count: int, first: int) -> dict:
    """``count`` sessions over ``users`` (those who signed in, more to some than to others),
    each with its first refresh token and amr claim, as a password sign-in makes them."""
    signed_in = [user for user in users if user["last_sign_in_at"]] or users
    sessions, tokens, claims = [], [], []
    for serial in range(first, first + count):
        user = rng.choice(signed_in)
        # The latest sign-in made the newest session; older ones are up to a month before it.
        created = user["last_sign_in_at"] or user["created_at"]
        created = max(created - timedelta(days=30) * rng.random() ** 3, user["created_at"])
        session_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        sessions.append({
            "id": session_id, "user_id": user["id"], "created_at": created,
            "updated_at": created, "factor_id": None, "aal": "aal1", "not_after": None,
            "refreshed_at": None, "user_agent": rng.choice(USER_AGENTS),
            "ip": str(ipaddress.IPv4Address(rng.getrandbits(32))), "tag": None,
        })
        tokens.append({
            "instance_id": uuid.UUID(NIL_UUID), "token": refresh_token_hash(_token(serial)),
            "user_id": str(user["id"]), "revoked": False, "created_at": created,
            "updated_at": created, "parent": None, "session_id": session_id,
            "derivation_salt": None,
        })
        claims.append({
            "session_id": session_id, "created_at": created, "updated_at": created,
            "authentication_method": "password",
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        })
    return {"sessions": sessions, "refresh_tokens": tokens, "mfa_amr_claims": claims}


def _token(serial: int) -> str:
    """The ``serial``-th filled refresh token: 12 lowercase base32 characters, all distinct."""
    value = (serial + 1) * _TOKEN_SCRAMBLE % (1 << _TOKEN_BITS)  # 0 would be all "a"
    return "".join(_REFRESH_TOKEN_ALPHABET[(value >> shift) & 31]
                   for shift in range(0, _TOKEN_BITS, 5))


# --- writing ------------------------------------------------------------------------------------


def _fill_engine(url: str, namespace: str) -> sa.engine.Engine:
    """An engine of its own: the app's connection settings, plus SQLite's bulk-load pragmas."""
    engine = sa.create_engine(url, **engine_options(url, namespace, pool_size=1))
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _bulk_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # No fsync and a big page cache: a crash only loses a scratch database.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()
    elif engine.dialect.name == "mysql":
        @sa.event.listens_for(engine, "connect")
        def _bulk_session(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # Rows arrive in order (users before what points at them) and with unique keys.
            cursor.execute("SET SESSION foreign_key_checks=0, unique_checks=0")
            cursor.close()
    elif engine.dialect.name == "postgresql":
        configure_engine(engine)  # the app's session: search_path to the namespace
    return engine


def _core_writer(engine: sa.engine.Engine):
    def write(rows: dict) -> None:
        with engine.begin() as connection:
            for name, table_rows in rows.items():
                if table_rows:
                    connection.execute(TABLES[name].insert(), table_rows)
    return write


def _mariadb_writer(engine: sa.engine.Engine):
    """MariaDB: the users go through the console bench's batch writer, which drops the
    substring-search triggers (each wrote a user's trigrams row by row: a million users took
    about an hour), writes each batch's trigrams in a few INSERT ... SELECT and makes the
    triggers again at the end (``finish``); the sessions follow as plain executemany."""
    core = _core_writer(engine)
    users_and_trigrams = _trigram_batch_writer(engine, lambda users, identities, factors: core(
        {"users": users, "identities": identities, "mfa_factors": factors}))

    def write(rows: dict) -> None:
        users_and_trigrams(rows["users"], rows["identities"], rows["mfa_factors"])
        core({name: rows[name] for name in ("sessions", "refresh_tokens", "mfa_amr_claims")})
    write.finish = users_and_trigrams.finish
    return write


def _copy_writer(engine: sa.engine.Engine):
    from psycopg.types.json import Jsonb

    def copy(cursor, name: str, rows: list[dict]) -> None:
        columns = list(rows[0])
        json_columns = {c for c in columns if isinstance(TABLES[name].c[c].type, sa.JSON)}
        with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as stream:
            for row in rows:
                stream.write_row([Jsonb(row[c]) if c in json_columns else row[c]
                                  for c in columns])

    def write(rows: dict) -> None:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                for name, table_rows in rows.items():
                    if table_rows:
                        copy(cursor, name, table_rows)
            raw.commit()
        finally:
            raw.close()
    return write


def _after_fill(engine: sa.engine.Engine) -> None:
    """What a database that grew this much would have: statistics (and on PostgreSQL the
    visibility map autovacuum keeps), so the runs do not meet autovacuum or stale plans."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            for name in TABLES:
                connection.execute(sa.text(f"VACUUM ANALYZE {name}"))
        elif engine.dialect.name == "mysql":
            for name in TABLES:
                connection.execute(sa.text(f"ANALYZE TABLE {name}"))
        else:
            # SQLite keeps no statistics unless asked (a deployment is left as it is); the
            # write-ahead log goes back into the database file before the servers start.
            connection.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
