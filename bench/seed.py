"""The benchmark's database: made, migrated, seeded through the project's services, counted.

Part of bench/run.py (see bench/README.md): a scratch SQLite file, PostgreSQL schema or MariaDB
database; confirmed users with real bcrypt cost-10 hashes, their sessions, pools of refresh
tokens and of outstanding email codes (each presented once), and one request of each kind
through the Flask test client with its database round trips.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from bench_app import PASSWORD, RoundTrips

from gotrue_web.extensions import db
from gotrue_web.models import RefreshToken, Session, User
from gotrue_web.runtime import RequestInfo
from gotrue_web.services import audit, sessions
from gotrue_web.services.admin.generate_link import GenerateLinkRequest, generate
from gotrue_web.services.admin.users import AdminUserParams, create_user
from gotrue_web.settings import normalize_database_url

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
AUD = "authenticated"
BENCH_USER_PREFIX = "bench-"


class BenchFailure(Exception):
    """The run cannot give trustworthy figures; the message says why."""


# --- database ---------------------------------------------------------------------------------

@dataclass
class BenchDatabase:
    url: str
    backend: str
    namespace: str = "auth"
    cleanup: list = field(default_factory=list)
    path: Path | None = None  # SQLite's file

    def drop(self) -> None:
        for step in reversed(self.cleanup):
            step()


def provision_database(raw_url: str, workdir: Path) -> BenchDatabase:
    if not raw_url:
        path = workdir / "gotrue.db"
        return BenchDatabase(url=f"sqlite:///{path}", backend="sqlite", path=path)
    url = normalize_database_url(raw_url)
    backend = sa.engine.make_url(url).get_backend_name()
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(url)
    if backend == "postgresql":
        namespace = f"bench_{suffix}"

        def drop_schema():
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE'))
            admin.dispose()

        # The migration creates the schema; dropping it removes everything the run made.
        return BenchDatabase(url=url, backend=backend, namespace=namespace, cleanup=[drop_schema])
    if backend in ("mysql", "mariadb"):
        name = f"gotrue_bench_{suffix}"
        with admin.begin() as connection:
            connection.execute(sa.text(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))

        def drop_database():
            with admin.begin() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
            admin.dispose()

        bench_url = sa.engine.make_url(url).set(database=name).render_as_string(
            hide_password=False)
        return BenchDatabase(url=bench_url, backend="mysql", cleanup=[drop_database])
    raise BenchFailure(f"unsupported database backend {backend!r}")


def settle(app) -> None:
    """Finish the database's housekeeping of the writes made so far (the seeding's and the
    scenarios' before), so that the next scenario is measured without paying for it: SQLite's
    WAL is copied into the database file and emptied (else a commit of the next scenario does
    it), PostgreSQL takes a checkpoint and vacuums and analyzes the run's tables (else the
    checkpointer and autovacuum work during the next scenario). InnoDB purges in the
    background and has nothing to ask for here."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                tables = connection.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                ).scalars().all()
                connection.exec_driver_sql(
                    "VACUUM (ANALYZE) " + ", ".join(f'"{name}"' for name in tables))
                try:
                    connection.exec_driver_sql("CHECKPOINT")
                except sa.exc.DBAPIError:
                    pass  # a role without pg_checkpoint: the checkpointer's own schedule then
        db.session.remove()


# --- environment ------------------------------------------------------------------------------

# Variables of the caller's shell that would change what is measured.
_INHERITED_OUT = ("DATABASE_URL", "API_EXTERNAL_URL", "PORT", "WEB_CONCURRENCY",
                  "FORWARDED_ALLOW_IPS")


def server_environment(database: BenchDatabase, port: int, workers: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GOTRUE_") and k not in _INHERITED_OUT}
    env.update({
        "GOTRUE_SITE_URL": "http://localhost:3000",
        "API_EXTERNAL_URL": f"http://127.0.0.1:{port}",
        "GOTRUE_API_HOST": "127.0.0.1",
        "PORT": str(port),
        "GOTRUE_JWT_SECRET": secrets.token_urlsafe(32),
        "GOTRUE_JWT_AUD": AUD,
        "GOTRUE_JWT_DEFAULT_GROUP_NAME": AUD,
        "GOTRUE_MAILER_AUTOCONFIRM": "true",
        "DATABASE_URL": database.url,
        "GOTRUE_DB_NAMESPACE": database.namespace,
        "WEB_CONCURRENCY": str(workers),
        # scenario.lua sends each data line as its own client; cycling password lines reuse
        # a client, so its per-client allowance is raised: the limiter still counts every hit.
        "GOTRUE_RATE_LIMIT_HEADER": "X-Bench-Client",
        "GOTRUE_RATE_LIMIT_TOKEN_REFRESH": "100000",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH_DIR)]),
    })
    return env


def migrate(env: dict, workdir: Path) -> None:
    # The working directory is the scratch folder, so a developer's .env is not read.
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                            cwd=workdir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchFailure("flask db upgrade failed:\n" + result.stderr[-3000:])


# --- seeding and round trips ------------------------------------------------------------------

INFO = RequestInfo(ip="127.0.0.1", user_agent="", aud=AUD)


def seed_users(app, count: int) -> tuple[list[str], list[str]]:
    """``count`` confirmed users (one shared cost-10 hash); their emails and access tokens."""
    with app.app_context():
        rt = app.extensions["gotrue"]
        hashed = rt.hasher.hash(PASSWORD)
        emails = [f"{BENCH_USER_PREFIX}{i}@example.com" for i in range(count)]
        for email in emails:
            create_user(rt, AdminUserParams(email=email, password_hash=hashed, email_confirm=True),
                        audit.Actor(), INFO)
        db.session.commit()
        users = _bench_users()
        tokens = [sessions.start_session(rt, user, "password", INFO).access_token
                  for user in users]
        db.session.commit()
        return emails, tokens


def _bench_users() -> list[User]:
    """The users seed_users made, not those a --fill-users run added (bench/fill.py)."""
    return db.session.execute(sa.select(User).where(User.email.like(f"{BENCH_USER_PREFIX}%"))
                              .order_by(User.email)).unique().scalars().all()


def seed_refresh_tokens(app, count: int, batch: int = 2000) -> list[str]:
    """``count`` live sessions spread over the bench users; one unused refresh token each."""
    tokens: list[str] = []
    with app.app_context():
        rt = app.extensions["gotrue"]
        users = _bench_users()
        while len(tokens) < count:
            for _ in range(min(batch, count - len(tokens))):
                user = users[len(tokens) % len(users)]
                tokens.append(sessions.start_session(rt, user, "password", INFO).refresh_token)
            db.session.commit()
        db.session.remove()
    return tokens


def token_counts(app) -> tuple[int, int]:
    """(refresh tokens issued, refresh tokens revoked): the rows of classic tokens; a signed
    session's counter (algorithm 2) adds one of each per step, as a rotation would."""
    with app.app_context():
        total, revoked = db.session.execute(sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((RefreshToken.revoked.is_(True), 1), else_=0)),
        ).select_from(RefreshToken)).one()
        steps = db.session.execute(
            sa.select(sa.func.sum(Session.refresh_token_counter))
            .where(Session.refresh_token_hmac_key.is_not(None))).scalar()
        db.session.remove()
    return int(total) + int(steps or 0), int(revoked or 0) + int(steps or 0)


def seed_email_codes(app, count: int, prefix: str, batch: int = 500) -> list[str]:
    """``count`` new confirmed users (one shared cost-10 hash), each with an outstanding email
    code (a magic link's, issued as POST /admin/generate_link issues it, nothing mailed).
    Lines "email<TAB>code"; each code works once."""
    lines: list[str] = []
    with app.app_context():
        rt = app.extensions["gotrue"]
        hashed = rt.hasher.hash(PASSWORD)
        while len(lines) < count:
            for _ in range(min(batch, count - len(lines))):
                email = f"{prefix}-{len(lines)}@example.com"
                create_user(rt, AdminUserParams(email=email, password_hash=hashed,
                                                email_confirm=True), audit.Actor(), INFO)
                link = generate(rt, GenerateLinkRequest(type="magiclink", email=email),
                                audit.Actor(), INFO)
                lines.append(f"{email}\t{link.email_otp}")
            db.session.commit()
        db.session.remove()
    return lines


def row_counts(app) -> dict[str, int]:
    """Rows of the tables the write scenarios add to."""
    with app.app_context():
        counts = {name: int(db.session.execute(
            sa.select(sa.func.count()).select_from(model)).scalar_one())
            for name, model in (("users", User), ("sessions", Session))}
        db.session.remove()
    return counts


def count_round_trips(app, email: str, access_token: str) -> dict[str, list[str]]:
    """One request of each product scenario through the test client, with its database log."""
    with app.app_context():
        counter = RoundTrips(db.engine)
    refresh_token = seed_refresh_tokens(app, 1)[0]
    verify_email, code = seed_email_codes(app, 1, "probe-verify")[0].split("\t")
    client = app.test_client()
    requests = {
        "user": lambda: client.get("/user", headers={"Authorization": f"Bearer {access_token}"}),
        "refresh": lambda: client.post("/token?grant_type=refresh_token",
                                       json={"refresh_token": refresh_token}),
        "password": lambda: client.post("/token?grant_type=password",
                                        json={"email": email, "password": PASSWORD}),
        "signup": lambda: client.post("/signup", json={"email": "probe-signup@example.com",
                                                       "password": PASSWORD}),
        "verify": lambda: client.post("/verify", json={"type": "email", "email": verify_email,
                                                       "token": code}),
    }
    # A first request loads what a process reads once (the live settings, refreshed every few
    # seconds afterwards, not per request): it is not part of any scenario's cost.
    requests["user"]()
    logs = {}
    for name, send in requests.items():
        counter.take()
        response = send()
        if response.status_code != 200:
            raise BenchFailure(f"{name}: {response.status_code} {response.get_data(as_text=True)}")
        logs[name] = counter.take()
    return logs
