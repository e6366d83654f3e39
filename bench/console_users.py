"""How fast the console's users page finds its rows in a big database (bench/README.md).

    .venv/bin/python bench/console_users.py                       # SQLite, 1,000,000 users
    .venv/bin/python bench/console_users.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/console_users.py --database-url mysql://root@127.0.0.1:3306/test

1. Makes the database through the migrations (``flask db upgrade``): a SQLite file in
   bench/results/, a schema of its own on PostgreSQL, a database of its own on MariaDB. The name
   carries the user count; a database that is already filled is reused as it is.
2. Fills it with N generated users (a fixed seed, so every run sees the same data): varied
   creation and sign-in times, names, phones, identities (email, phone, OAuth), a few per cent
   unconfirmed, invited, banned and anonymous users, some MFA factors. Core executemany in big
   batches; COPY on PostgreSQL.
3. Times the calls the users page makes, through gotrue_web.console.operations.user_search
   exactly as the view does (find_page, then the capped count), and prints the median and p95 per query.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

import console_overview  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask_migrate import downgrade, stamp, upgrade  # noqa: E402

from gotrue_web import create_app  # noqa: E402
from gotrue_web.console.operations import user_search  # noqa: E402
from gotrue_web.console.operations.user_search import Cursor, PageRequest, UserFilters  # noqa: E402
from gotrue_web.db import NIL_UUID  # noqa: E402
from gotrue_web.extensions import db  # noqa: E402
from gotrue_web.models import Factor, Identity, User, search_indexes  # noqa: E402
from gotrue_web.settings import Settings, normalize_database_url  # noqa: E402

# Every time in the data is before this instant, and the queries run "at" it.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
HISTORY = timedelta(days=5 * 365)
SEED = 20260601
RESULTS = BENCH_DIR / "results"
# The revision before the search indexes (--reindex goes back to it and up again).
BEFORE_INDEXES = "0003_operators"
BEFORE_SUBSTRING_SEARCH = "0011_hook_deliveries"

FIRST_NAMES = ("Ada", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas",
               "Kemal", "Lena", "Mateo", "Nora", "Olu", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
               "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe")
LAST_NAMES = ("Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Haddad", "Ito",
              "Jansen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
              "Quispe", "Rossi", "Smith", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz",
              "Zhang")
DOMAINS = ("example.com", "mail.example.org", "corp.example.net", "example.io", "uni.example.edu")
OAUTH_PROVIDERS = ("google", "github", "apple", "azure", "gitlab")


# --- the database --------------------------------------------------------------------------------


@dataclass
class Target:
    url: str
    namespace: str
    backend: str
    label: str


def target_for(raw_url: str, users: int) -> Target:
    """Where the filled database lives; its name carries the user count."""
    tag = f"console_users_{users}"
    if not raw_url:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{tag}.sqlite3"
        return Target(f"sqlite:///{path}", "auth", "sqlite", str(path))
    url = normalize_database_url(raw_url)
    backend = sa.engine.make_url(url).get_backend_name()
    if backend == "postgresql":
        # The migrations create the schema; search_path keeps everything inside it.
        namespace = f"bench_{tag}"
        return Target(url, namespace, backend, f"schema {namespace}")
    if backend in ("mysql", "mariadb"):
        name = f"gotrue_bench_{tag}"
        admin = sa.create_engine(url)
        with admin.begin() as connection:
            connection.execute(sa.text(
                f"CREATE DATABASE IF NOT EXISTS `{name}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        admin.dispose()
        bench_url = sa.engine.make_url(url).set(database=name).render_as_string(
            hide_password=False)
        return Target(bench_url, "auth", "mysql", f"database {name}")
    raise SystemExit(f"unsupported database backend {backend!r}")


def build_app(target: Target):
    settings = Settings(site_url="http://localhost:3000").replace(**{
        "api.external_url": "http://localhost:9999",
        "jwt.secret": "bench-console-users-" + "x" * 32,
        "db.url": target.url,
        "db.namespace": target.namespace,
    })
    return create_app(settings)


def drop_everything(app, target: Target) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            if target.backend == "postgresql":
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{target.namespace}" CASCADE'))
            elif target.backend == "mysql":
                name = db.engine.url.database
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
                connection.execute(sa.text(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        db.engine.dispose()
    if target.backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(target.label + suffix).unlink(missing_ok=True)


def rebuild_search_indexes() -> None:
    """Drop the list's indexes and the substring index, go back to the revision before them and
    upgrade again.

    Not a downgrade: an edited migration 0004 may name indexes the database never got.
    """
    wanted = {index.name: index.table.name for index in search_indexes.SEARCH_INDEXES}
    inspector = sa.inspect(db.engine)
    present = {(index["name"], table) for table in set(wanted.values())
               for index in inspector.get_indexes(table)}
    with db.engine.begin() as connection:
        for name, table in wanted.items():
            if (name, table) in present:
                connection.execute(sa.text(
                    f"DROP INDEX {name}" + (f" ON {table}" if db.engine.dialect.name == "mysql"
                                            else "")))
    db.engine.dispose()
    # The substring search's structures (0012) go with their own downgrade.
    downgrade(revision=BEFORE_SUBSTRING_SEARCH)
    stamp(revision=BEFORE_INDEXES)
    upgrade()


def user_count(app) -> int:
    with app.app_context():
        total = db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one()
        db.session.remove()
        return total


# --- generated users ---------------------------------------------------------------------------------


USER_COLUMNS = ("instance_id", "id", "aud", "role", "email", "encrypted_password",
                "email_confirmed_at", "invited_at", "confirmation_token", "recovery_token",
                "email_change_token_new", "email_change", "last_sign_in_at", "raw_app_meta_data",
                "raw_user_meta_data", "is_super_admin", "created_at", "updated_at", "phone",
                "phone_confirmed_at", "phone_change", "phone_change_token",
                "email_change_token_current", "email_change_confirm_status", "banned_until",
                "reauthentication_token", "is_sso_user", "is_anonymous")
IDENTITY_COLUMNS = ("provider_id", "user_id", "identity_data", "provider", "last_sign_in_at",
                    "created_at", "updated_at", "email", "id")
FACTOR_COLUMNS = ("id", "user_id", "friendly_name", "factor_type", "status", "created_at",
                  "updated_at", "secret")
# bcrypt's shape; nobody signs in to the bench database.
PASSWORD_HASH = "$2a$10$" + "b" * 53


def generate(first: int, count: int, rng: random.Random):
    """Users ``first`` .. ``first + count - 1`` with their identities and factors, as dicts."""
    users, identities, factors = [], [], []
    instance = uuid.UUID(NIL_UUID)
    for number in range(first, first + count):
        user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        # More recent sign-ups than old ones, as a growing service has.
        created = NOW - HISTORY * (rng.random() ** 1.6) - timedelta(seconds=rng.random())
        kind = rng.random()
        anonymous = kind < 0.03
        invited = 0.03 <= kind < 0.06
        unconfirmed = 0.06 <= kind < 0.11
        phone_only = 0.11 <= kind < 0.16
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = phone = None
        if not anonymous and not phone_only:
            local = rng.choice((f"{first_name}.{last_name}", f"{first_name[0]}{last_name}",
                                f"{last_name}_{first_name}")).lower()
            email = f"{local}{number}@{rng.choice(DOMAINS)}"
        if phone_only or (not anonymous and rng.random() < 0.12):
            phone = f"{rng.choice(('1555', '4477', '4915'))}{number:07d}"
        confirmed = not (anonymous or invited or unconfirmed)
        signed_in = None
        if confirmed and rng.random() < 0.9 or anonymous:
            signed_in = created + (NOW - created) * rng.random()
        banned_until = None
        if confirmed and rng.random() < 0.025:
            banned_until = NOW + timedelta(days=rng.choice((-30, 7, 365, 36500)))
        metadata = {} if anonymous else {"full_name": f"{first_name} {last_name}"}
        providers = []
        if email:
            providers.append("email")
        if phone:
            providers.append("phone")
        oauth = None
        if confirmed and rng.random() < 0.1:
            oauth = rng.choice(OAUTH_PROVIDERS)
            providers.append(oauth)
        users.append({
            "instance_id": instance, "id": user_id, "aud": "authenticated",
            "role": "authenticated", "email": email,
            "encrypted_password": None if anonymous or oauth and rng.random() < 0.5
            else PASSWORD_HASH,
            "email_confirmed_at": created if confirmed and email else None,
            "invited_at": created if invited else None,
            "confirmation_token": "", "recovery_token": "", "email_change_token_new": "",
            "email_change": "", "last_sign_in_at": signed_in,
            "raw_app_meta_data": {"provider": providers[0] if providers else "anonymous",
                                  "providers": providers},
            "raw_user_meta_data": metadata, "is_super_admin": None, "created_at": created,
            "updated_at": signed_in or created, "phone": phone,
            "phone_confirmed_at": created if confirmed and phone else None,
            "phone_change": "", "phone_change_token": "", "email_change_token_current": "",
            "email_change_confirm_status": 0, "banned_until": banned_until,
            "reauthentication_token": "", "is_sso_user": False, "is_anonymous": anonymous,
        })
        for provider in providers:
            identity_email = email if provider != "phone" else None
            data = {"sub": str(user_id), "email_verified": confirmed}
            if identity_email:
                data["email"] = identity_email
            if provider == "phone":
                data["phone"] = phone
            provider_id = str(user_id) if provider in ("email", "phone") else str(10**9 + number)
            identities.append({
                "provider_id": provider_id, "user_id": user_id, "identity_data": data,
                "provider": provider, "last_sign_in_at": signed_in, "created_at": created,
                "updated_at": created, "email": identity_email,
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            })
        if confirmed and rng.random() < 0.05:
            factors.append({
                "id": uuid.UUID(int=rng.getrandbits(128), version=4), "user_id": user_id,
                "friendly_name": "Authenticator", "factor_type": "totp",
                # One in five never finished enrolling.
                "status": "unverified" if rng.random() < 0.2 else "verified",
                "created_at": created, "updated_at": created, "secret": "JBSWY3DPEHPK3PXP",
            })
    return users, identities, factors


def fill(app, target: Target, total: int, batch: int) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    with app.app_context():
        engine = db.engine
        writer = _copy_writer(engine) if target.backend == "postgresql" else _core_writer(engine)
        if target.backend == "mysql":
            writer = _mariadb_writer(engine, writer)
        for first in range(0, total, batch):
            rows = generate(first, min(batch, total - first), rng)
            writer(*rows)
            done = first + len(rows[0])
            rate = done / (time.monotonic() - started)
            if sys.stdout.isatty() or done == total:
                print(f"\r  filled {done:,} / {total:,} users ({rate:,.0f}/s)", end="",
                      flush=True)
        print()
        if hasattr(writer, "finish"):
            writer.finish()
        # Statistics and (PostgreSQL) a visibility map, as autovacuum / InnoDB would have
        # after such growth; without it every index-only scan visits the table too.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if target.backend == "postgresql":
                connection.execute(sa.text("VACUUM ANALYZE"))
            elif target.backend == "mysql":
                for table in ("users", "identities", "mfa_factors", "users_search_trigrams",
                              "users_search_state_trigrams"):
                    connection.execute(sa.text(f"ANALYZE TABLE {table}"))
        engine.dispose()
    print(f"  filled in {time.monotonic() - started:.0f} s")


def _core_writer(engine):
    tables = [User.__table__, Identity.__table__, Factor.__table__]

    def write(users, identities, factors):
        with engine.begin() as connection:
            for table, rows in zip(tables, (users, identities, factors)):
                if rows:
                    connection.execute(table.insert(), rows)
    return write


def _substring_migration():
    """Migration 0012's module (its file name is not an importable name)."""
    path = ROOT / "migrations" / "versions" / "0012_user_substring_search.py"
    spec = importlib.util.spec_from_file_location("substring_search_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mariadb_writer(engine, write_users):
    """MariaDB: the triggers of migration 0012 write each user's trigrams one row at a time
    (about 430 users a second); for the fill they are dropped, each batch's trigrams written by
    one INSERT ... SELECT (the migration's MARIADB_FILL), and the triggers made again at the
    end (fill() calls ``finish``)."""
    migration = _substring_migration()
    batch_fill = sa.text(migration.MARIADB_FILL.format(
        row="u", source=" FROM users u WHERE u.id IN :ids")).bindparams(
        sa.bindparam("ids", expanding=True, type_=sa.Uuid()))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TRIGGER IF EXISTS users_search_update"))
        connection.execute(sa.text("DROP TRIGGER IF EXISTS users_search_insert"))

    def write(users, identities, factors):
        write_users(users, identities, factors)
        with engine.begin() as connection:
            # The rows come from users just written: checking each against users is wasted.
            connection.execute(sa.text("SET SESSION foreign_key_checks = 0"))
            ids = [user["id"] for user in users]
            # Past 1,000 values (in_predicate_conversion_threshold) MariaDB makes IN a join
            # with a temporary table: one statement for 20,000 users ran over 50 s here,
            # statements of 1,000 about 1 s each.
            for start in range(0, len(ids), 1000):
                connection.execute(batch_fill, {"ids": ids[start:start + 1000]})
            connection.execute(sa.text("SET SESSION foreign_key_checks = 1"))

    def finish():
        with engine.begin() as connection:
            for statement in migration.MARIADB_TRIGGERS:
                connection.execute(sa.text(statement))
    write.finish = finish
    return write


def _copy_writer(engine):
    from psycopg.types.json import Jsonb

    json_columns = {"raw_app_meta_data", "raw_user_meta_data", "identity_data"}

    def copy(cursor, table: str, columns: tuple, rows: list[dict]) -> None:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as stream:
            for row in rows:
                stream.write_row([Jsonb(row[c]) if c in json_columns else row[c]
                                  for c in columns])

    def write(users, identities, factors):
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                copy(cursor, "users", USER_COLUMNS, users)
                copy(cursor, "identities", IDENTITY_COLUMNS, identities)
                copy(cursor, "mfa_factors", FACTOR_COLUMNS, factors)
            raw.commit()
        finally:
            raw.close()
    return write


# --- the queries ----------------------------------------------------------------------------------


@dataclass
class Case:
    group: str
    label: str
    run: Callable[[], tuple[float, float | None, int]]  # page ms, count ms (None), rows
    samples: list[tuple[float, float | None, int]] | None = None


def _clock(call):
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def page_and_count(args: dict, page_args: dict | None = None, with_count: bool = True):
    """What the view does for one request: the page, then the capped count."""
    def run():
        filters = UserFilters.from_args(args)
        page = PageRequest.from_args(page_args or {}, filters.sort_spec)
        page_ms, result = _clock(lambda: user_search.find_page(filters, page, NOW))
        count_ms = None
        if with_count:
            count_ms, _total = _clock(lambda: user_search.count(filters, NOW))
        db.session.remove()
        return page_ms, count_ms, len(result.rows)
    return run


def exact_count(args: dict):
    def run():
        filters = UserFilters.from_args(args)
        count_ms, total = _clock(lambda: user_search.count(filters, NOW, cap=None))
        db.session.remove()
        return 0.0, count_ms, total.value
    return run


def cursor_at(sort_name: str, offset: int) -> str:
    """The page link of the row ``offset`` rows into a sort (found once, not timed)."""
    sort = user_search.SORTS[sort_name]
    order = [sort.column.desc() if sort.descending else sort.column.asc(),
             User.id.desc() if sort.descending else User.id.asc()]
    with_value = db.session.execute(
        sa.select(sa.func.count()).select_from(User).where(sort.column.is_not(None))).scalar_one()
    if offset < with_value:
        statement = (sa.select(User).where(sort.column.is_not(None)).order_by(*order)
                     .offset(offset).limit(1))
    else:
        statement = (sa.select(User).where(sort.column.is_(None)).order_by(order[1])
                     .offset(offset - with_value).limit(1))
    user = db.session.execute(statement).scalar_one()
    token = Cursor.of(sort, user).encode()
    db.session.remove()
    return token


def follow_pages(args: dict, pages: int):
    """Page 1 then ``pages`` "next" links; one sample per page, as the clicks would be."""
    def run_all() -> list[tuple[float, float | None, int]]:
        samples = []
        filters = UserFilters.from_args(args)
        page = PageRequest.from_args({}, filters.sort_spec)
        for _ in range(pages + 1):
            page_ms, result = _clock(lambda: user_search.find_page(filters, page, NOW))
            samples.append((page_ms, None, len(result.rows)))
            db.session.remove()
            if result.next_cursor is None:
                break
            page = PageRequest(after=result.next_cursor)
        return samples
    return run_all


def sample_users() -> tuple[User, User]:
    """A user with an email and one with a phone, from the middle of the id range."""
    middle = uuid.UUID(int=1 << 127)
    users = db.session.execute(sa.select(User).where(User.id >= middle).order_by(User.id)
                               .limit(200)).scalars().all()
    with_email = next(u for u in users if u.email and u.raw_user_meta_data)
    with_phone = next(u for u in users if u.phone)
    return with_email, with_phone


def cases(total: int) -> list[Case]:
    user, phone_user = sample_users()
    email, user_id, name = user.email, user.id, user.raw_user_meta_data["full_name"]
    phone = phone_user.phone
    db.session.remove()
    local = email.split("@")[0]
    month = NOW.date() - timedelta(days=400)
    found: list[Case] = []

    def add(group, label, run):
        found.append(Case(group, label, run))

    for sort in user_search.SORTS:
        add("first page", f"sort={sort}", page_and_count({"sort": sort}))
    add("paging", "created_desc, next 50 pages", follow_pages({}, 50))
    add("paging", "last_sign_in_asc, next 50 pages", follow_pages({"sort": "last_sign_in_asc"}, 50))
    add("paging", "state=banned, next 50 pages", follow_pages({"state": "banned"}, 50))
    deep = total - 100
    for sort in ("created_desc", "email_asc", "last_sign_in_desc"):
        token = cursor_at(sort, deep)
        add("paging", f"{sort}, after row {deep:,}",
            page_and_count({"sort": sort}, {"after": token}, with_count=False))
    token = cursor_at("created_desc", total // 2)
    add("paging", f"created_desc, before row {total // 2:,}",
        page_and_count({}, {"before": token}, with_count=False))
    # Into the users who never signed in, which come last.
    token = cursor_at("last_sign_in_desc", total - 1000)
    add("paging", f"last_sign_in_desc, after row {total - 1000:,}",
        page_and_count({"sort": "last_sign_in_desc"}, {"after": token}, with_count=False))

    searches = (
        ("email prefix", f"{local[:len(local) - 2]}"),  # no '@': a substring search
        ("email prefix with @", f"{local}@"),
        ("full email", email),
        ("full email, sort=email_asc", email),
        ("id", str(user_id)),
        ("id prefix (8 hex)", user_id.hex[:8]),
        ("phone prefix", "+" + phone[:7]),
        ("full phone", "+" + phone),
        ("name", name),
        ("last name", name.split()[-1]),
        ("no match", "nobody-at-all"),
    )
    for label, text in searches:
        args = {"q": text}
        if "sort=" in label:
            args["sort"] = label.split("sort=")[1]
        add("search", f"{label}: {text!r}", page_and_count(args))

    # Free text through the substring index (migration 0012), from rare to everywhere.
    first, last = name.split()[0], name.split()[-1]
    substrings = (
        ("middle of an email with its number", local[2:]),
        ("middle of a whole name", f"{first[1:]} {last[:-1]}"),
        ("middle of a last name", last[1:-1]),
        ("middle of a first name", first[1:]),
        ("last_first email part", f"{last.lower()[1:]}_"),
        ("part of a domain", "mail.exam"),
        ("in every email", "xample"),
        ("no match", "qqzxw"),
        ("3 characters", last[1:4]),
    )
    for label, text in substrings:
        add("substring", f"{label}: {text!r}", page_and_count({"q": text}))
    for label, args in (
            ("last name + state=unconfirmed", {"q": last[1:-1], "state": "unconfirmed"}),
            ("first name + provider=github", {"q": first[1:], "provider": "github"}),
            ("whole name, sort=email_asc", {"q": f"{first[1:]} {last[:-1]}",
                                            "sort": "email_asc"}),
            ("domain part + created one month", {"q": "mail.exam",
                                                 "created_from": month.isoformat(),
                                                 "created_to": (month + timedelta(days=30))
                                                 .isoformat()})):
        add("substring", label, page_and_count(args))
    add("substring", "middle of a last name, next 20 pages", follow_pages({"q": last[1:-1]}, 20))

    for state in user_search.STATES:
        add("filter", f"state={state}", page_and_count({"state": state}))
    add("filter", "mfa=yes", page_and_count({"mfa": "yes"}))
    add("filter", "mfa=no", page_and_count({"mfa": "no"}))
    for provider in ("email", "phone", "github"):
        add("filter", f"provider={provider}", page_and_count({"provider": provider}))
    add("filter", "provider=saml (none)", page_and_count({"provider": "saml"}))
    add("range", "created in one month", page_and_count(
        {"created_from": month.isoformat(), "created_to": (month + timedelta(days=30)).isoformat()}))
    add("range", "signed in on one day", page_and_count(
        {"signed_in_from": month.isoformat(), "signed_in_to": month.isoformat()}))
    add("range", "created one month, sort=last_sign_in_desc", page_and_count(
        {"created_from": month.isoformat(), "created_to": (month + timedelta(days=30)).isoformat(),
         "sort": "last_sign_in_desc"}))
    add("combined", "confirmed + github, sort=last_sign_in_desc", page_and_count(
        {"state": "confirmed", "provider": "github", "sort": "last_sign_in_desc"}))
    add("combined", "mfa=yes + created one year, sort=email_asc", page_and_count(
        {"mfa": "yes", "created_from": (NOW.date() - timedelta(days=365)).isoformat(),
         "sort": "email_asc"}))
    add("combined", "unconfirmed + name, sort=created_asc", page_and_count(
        {"state": "unconfirmed", "q": name.split()[-1], "sort": "created_asc"}))
    add("count", "exact count, all users", exact_count({}))
    add("count", "exact count, state=confirmed", exact_count({"state": "confirmed"}))
    return found


# --- measuring ---------------------------------------------------------------------------------------


def measure(case: Case, repeat: int, budget_s: float) -> None:
    if "next" in case.label and "pages" in case.label:
        samples = case.run()
        # A second walk, so the median does not depend on a cold cache alone.
        case.samples = samples + case.run()
        return
    case.samples = []
    case.run()  # warm-up: caches, statement compilation
    started = time.monotonic()
    while len(case.samples) < repeat:
        case.samples.append(case.run())
        if len(case.samples) >= 3 and time.monotonic() - started > budget_s:
            break


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return f"{'':>9} {'':>9}"
    return f"{statistics.median(values):9.1f} {percentile(values, 0.95):9.1f}"


HEADER = (f"{'query':<55} {'page ms':>9} {'p95':>9} {'count ms':>9} {'p95':>9} {'rows':>7} "
          f"{'n':>3}")


def report_line(case: Case) -> str:
    pages = [s[0] for s in case.samples] if case.group != "count" else []
    counts = [s[1] for s in case.samples]
    return (f"{case.label[:55]:<55} {summary(pages)} {summary(counts)} {case.samples[0][2]:>7} "
            f"{len(case.samples):>3}")


def explain(found: list[Case], backend: str) -> None:
    """The plan of every statement each case runs (--explain)."""
    statements: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN ANALYZE ",
              "mysql": "EXPLAIN "}[backend]
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for case in found:
            statements.clear()
            result = case.run()
            if isinstance(result, list):
                statements[:] = statements[:3]
            print(f"\n=== {case.group}: {case.label}")
            seen = set()
            # One transaction, the statements in order: the search's transaction-local
            # settings (PostgreSQL set_config(..., true): enable_indexscan off) apply to the
            # plans as they did to the run.
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, parameters in list(statements):
                    if "set_config(" in statement:
                        cursor.execute(statement, parameters)
                    if statement in seen:
                        continue
                    seen.add(statement)
                    print(re.sub(r"\s+", " ", statement)[:400])
                    cursor.execute(prefix + statement, parameters)
                    for row in cursor.fetchall():
                        print("   ", " | ".join(str(v) for v in row))
            finally:
                raw.rollback()
                raw.close()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL or MariaDB server (default: a SQLite file in "
                             "bench/results/)")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="samples per query (default 15)")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds per query after which sampling stops (at least 3 samples)")
    parser.add_argument("--batch", type=int, default=20_000, help="users per insert batch")
    parser.add_argument("--refill", action="store_true",
                        help="drop the database and fill it again")
    parser.add_argument("--reindex", action="store_true",
                        help="drop the search indexes and run migrations 0004 and 0012 again "
                             "(after changing them)")
    parser.add_argument("--refill-activity", action="store_true",
                        help="delete the overview's month of activity and generate it again")
    parser.add_argument("--only", default="",
                        help="run the queries whose label contains this, or of this group "
                             "(e.g. substring)")
    parser.add_argument("--explain", action="store_true",
                        help="print the query plans instead of timing")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    target = target_for(args.database_url, args.users)
    app = build_app(target)
    print(f"{target.backend}: {target.label}, {args.users:,} users")
    if args.refill:
        drop_everything(app, target)
        app = build_app(target)
    with app.app_context():
        upgrade()
        if args.reindex:
            rebuild_search_indexes()
        db.engine.dispose()
    present = user_count(app)
    if present == 0:
        fill(app, target, args.users, args.batch)
    elif present != args.users:
        print(f"the database holds {present:,} users, not {args.users:,}: use --refill")
        return 1
    else:
        print("  already filled: reusing it")
    if args.refill_activity:
        console_overview.drop_activity(app)
    with app.app_context():
        active = console_overview.has_activity()
        db.session.remove()
    if not active:
        console_overview.fill_activity(app, target.backend, args.users, NOW)
    with app.app_context():
        found = [case for case in cases(args.users)
                 + console_overview.cases(app, NOW, Case)
                 if args.only in case.label or args.only == case.group]
        if args.explain:
            explain(found, target.backend)
            return 0
        print("\n" + HEADER)
        group = None
        for case in found:
            if case.group != group:
                group = case.group
                print(f"-- {group}")
            measure(case, args.repeat, args.budget)
            print(report_line(case), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
