"""Throughput of gotrue-web's hot paths next to bare baselines, on one gunicorn over loopback.

Run it through bench/run.sh (see bench/README.md). Steps:

1. a temporary database: a SQLite file, or on the server DATABASE_URL names a schema
   (PostgreSQL) or database (MariaDB) of its own; migrated with ``flask db upgrade``;
2. seeded through the project's services: confirmed users with real bcrypt cost-10 hashes, one
   session each (access tokens for GET /user), and a pool of sessions whose refresh tokens are
   each presented exactly once;
3. one request of each kind through the Flask test client, counting database round trips;
4. gunicorn with gunicorn.conf.py (2 workers, loopback) serving bench/bench_app.py, and wrk
   against each scenario; any non-2xx answer or socket error fails the run;
5. req/s per scenario and the ratios against the targets; then everything is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

import sqlalchemy as sa  # noqa: E402
from bench_app import PASSWORD, RoundTrips  # noqa: E402

from gotrue_web import create_app  # noqa: E402
from gotrue_web.extensions import db  # noqa: E402
from gotrue_web.models import RefreshToken, User  # noqa: E402
from gotrue_web.runtime import RequestInfo  # noqa: E402
from gotrue_web.services import audit, sessions  # noqa: E402
from gotrue_web.services.admin.users import AdminUserParams, create_user  # noqa: E402
from gotrue_web.settings import from_env, normalize_database_url  # noqa: E402

AUD = "authenticated"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str


SCENARIOS = {
    s.name: s for s in (
        Scenario("json", "bare JSON       GET /__bench/json"),
        Scenario("user", "GET /user"),
        Scenario("refresh", "POST /token?grant_type=refresh_token"),
        Scenario("bcrypt", "bare bcrypt     POST /__bench/bcrypt"),
        Scenario("password", "POST /token?grant_type=password"),
    )
}
# (scenario, baseline, minimum ratio of their req/s)
TARGETS = (("user", "json", 0.5), ("password", "bcrypt", 0.85), ("refresh", "json", 0.2))


class BenchFailure(Exception):
    """The run cannot give trustworthy figures; the message says why."""


# --- database ---------------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    url: str
    backend: str
    namespace: str = "auth"
    cleanup: list = field(default_factory=list)

    def drop(self) -> None:
        for step in reversed(self.cleanup):
            step()


def provision_database(raw_url: str, workdir: Path) -> BenchDatabase:
    if not raw_url:
        return BenchDatabase(url=f"sqlite:///{workdir / 'gotrue.db'}", backend="sqlite")
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        emails = [f"bench-{i}@example.com" for i in range(count)]
        for email in emails:
            create_user(rt, AdminUserParams(email=email, password_hash=hashed, email_confirm=True),
                        audit.Actor(), INFO)
        db.session.commit()
        users = db.session.execute(sa.select(User).order_by(User.email)).scalars().all()
        tokens = [sessions.start_session(rt, user, "password", INFO).access_token
                  for user in users]
        db.session.commit()
        return emails, tokens


def seed_refresh_tokens(app, count: int, batch: int = 2000) -> list[str]:
    """``count`` live sessions spread over the users; one unused refresh token each."""
    tokens: list[str] = []
    with app.app_context():
        rt = app.extensions["gotrue"]
        users = db.session.execute(sa.select(User)).unique().scalars().all()
        while len(tokens) < count:
            for _ in range(min(batch, count - len(tokens))):
                user = users[len(tokens) % len(users)]
                tokens.append(sessions.start_session(rt, user, "password", INFO).refresh_token)
            db.session.commit()
        db.session.remove()
    return tokens


def token_counts(app) -> tuple[int, int]:
    """(all refresh tokens, revoked refresh tokens)."""
    with app.app_context():
        total, revoked = db.session.execute(sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((RefreshToken.revoked.is_(True), 1), else_=0)),
        ).select_from(RefreshToken)).one()
        db.session.remove()
    return int(total), int(revoked or 0)


def count_round_trips(app, email: str, access_token: str) -> dict[str, list[str]]:
    """One request of each product scenario through the test client, with its database log."""
    with app.app_context():
        counter = RoundTrips(db.engine)
    refresh_token = seed_refresh_tokens(app, 1)[0]
    client = app.test_client()
    requests = {
        "user": lambda: client.get("/user", headers={"Authorization": f"Bearer {access_token}"}),
        "refresh": lambda: client.post("/token?grant_type=refresh_token",
                                       json={"refresh_token": refresh_token}),
        "password": lambda: client.post("/token?grant_type=password",
                                        json={"email": email, "password": PASSWORD}),
    }
    logs = {}
    for name, send in requests.items():
        counter.take()
        response = send()
        if response.status_code != 200:
            raise BenchFailure(f"{name}: {response.status_code} {response.get_data(as_text=True)}")
        logs[name] = counter.take()
    return logs


# --- gunicorn and wrk -------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict, workdir: Path, port: int):
        self.port = port
        self.log_path = workdir / "gunicorn.log"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"), "bench_app:build()"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def error_log(self, lines: int = 25) -> str:
        """The end of gunicorn's output without access-log lines: tracebacks and warnings."""
        access = re.compile(r"^\S+ \[\d\d/\w{3}/\d{4}:")
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join([line for line in text if not access.match(line)][-lines:])

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailure("gunicorn exited at start-up:\n" + self.log_tail())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    pass
                if len(self.worker_pids()) >= 1:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchFailure("gunicorn did not answer /health in time:\n" + self.log_tail())

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the master and its workers.

        Divided by the requests served, it is the cost of a request, which other load on the
        machine does not change the way it changes req/s.
        """
        ticks = 0
        for pid in [self.process.pid, *self.worker_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def worker_description(self) -> str:
        text = self.log_path.read_text(errors="replace")
        worker = re.search(r"Using worker: (\S+)", text)
        booted = len(re.findall(r"Booting worker with pid", text))
        return f"{worker.group(1) if worker else '?'} worker, {booted} workers booted"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Result:
    scenario: str
    requests: int
    seconds: float
    non2xx: int
    exhausted: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    first_bad: str
    cpu_ms: float = 0.0  # server CPU time per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.exhausted:
            found.append(f"refresh-token pool ran out ({self.exhausted} requests without a "
                         "token): raise --refresh-pool")
        # Requests sent after the pool ran out carry no token and are refused on purpose.
        refused = self.non2xx - self.exhausted
        if refused > 0:
            found.append(f"{refused} non-2xx responses, first: {self.first_bad}")
        if self.socket_errors or self.timeouts:
            found.append(f"{self.socket_errors} socket errors, {self.timeouts} timeouts")
        return found


def run_wrk(args, port: int, scenario: str, data_file: Path | None, seconds: int,
            profile_pids: list[int] = (), profile_dir: Path | None = None) -> Result:
    command = [
        args.wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", "10s", "-s", str(BENCH_DIR / "scenario.lua"), f"http://127.0.0.1:{port}",
        "--", scenario, str(data_file) if data_file else "-", str(args.threads), PASSWORD,
    ]
    profilers = [
        subprocess.Popen([args.py_spy, "record", "--pid", str(pid), "--duration",
                          str(seconds), "--rate", "200", "--format", "raw",
                          "--output", str(profile_dir / f"{scenario}-{pid}.txt"), "--nonblocking"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in profile_pids
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    for profiler in profilers:
        profiler.wait(timeout=60)
    line = next((line for line in completed.stdout.splitlines()
                 if line.startswith("BENCH_RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise BenchFailure(f"wrk failed for {scenario}:\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    return Result(
        scenario=scenario, requests=data["requests"], seconds=data["duration_us"] / 1e6,
        non2xx=data["non2xx"], exhausted=data["exhausted"],
        socket_errors=data["socket_errors"], timeouts=data["timeouts"],
        p50_ms=data["p50_us"] / 1000, p95_ms=data["p95_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        first_bad=data["first_bad"],
    )


# --- the run ----------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench/run.sh", description=__doc__.split("\n\n")[0],
        epilog="DATABASE_URL=<server URL> runs on PostgreSQL or MariaDB in a scratch schema; "
               "GUNICORN_CMD_ARGS overrides gunicorn.conf.py (e.g. \"--worker-class sync\").")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario [10]")
    parser.add_argument("--warmup", type=int, default=2,
                        help="unmeasured seconds before each scenario [2]")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections [8]")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads [1]")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers [2]")
    parser.add_argument("--users", type=int, default=50, help="seeded users [50]")
    parser.add_argument("--refresh-pool", type=int, default=0,
                        help="refresh tokens to seed [enough for the bare JSON rate]")
    parser.add_argument("--only", default="",
                        help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements of each round-trip probe")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record py-spy profiles (raw collapsed stacks) of each worker")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    args = parser.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if not Path(args.wrk).is_file():
        parser.error(f"wrk not found at {args.wrk} (apt-get install wrk)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gotrue-bench-"))
    database = server = app = None
    try:
        database = provision_database(os.environ.get("DATABASE_URL", ""), workdir)
        port = free_port()
        env = server_environment(database, port, args.workers)
        migrate(env, workdir)
        app = create_app(from_env(env, env_file=None))

        print(f"seeding {args.users} users (bcrypt cost 10) ...", flush=True)
        emails, access_tokens = seed_users(app, args.users)
        (workdir / "emails.txt").write_text("\n".join(emails) + "\n")
        (workdir / "access_tokens.txt").write_text("\n".join(access_tokens) + "\n")
        round_trips = count_round_trips(app, emails[0], access_tokens[0])

        server = Server(env, workdir, port)
        server.wait_ready()
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        print(f"gunicorn: {server.worker_description()}; wrk: {args.threads} thread(s), "
              f"{args.connections} connections, {args.duration:g} s per scenario "
              f"(+{args.warmup:g} s warm-up); database: {database.backend}", flush=True)

        results: dict[str, Result] = {}
        failures: dict[str, str] = {}
        files = {"user": workdir / "access_tokens.txt", "password": workdir / "emails.txt"}
        for name in [s for s in SCENARIOS if s in args.only]:
            try:
                results[name] = _run_scenario(args, name, app, server, workdir, files, results)
            except BenchFailure as failure:
                failures[name] = str(failure)
                print(f"  {SCENARIOS[name].label:<40} FAILED", flush=True)

        _report(results, failures, round_trips, args.show_sql)
        if failures:
            return 1
        missed = [t for t in TARGETS if t[0] in results and t[1] in results
                  and results[t[0]].rate < t[2] * results[t[1]].rate]
        return 2 if missed else 0
    except BenchFailure as failure:
        print(f"\nBENCH FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        if database is not None:
            database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def _run_scenario(args, name: str, app, server: Server, workdir: Path, files: dict,
                  results: dict[str, Result]) -> Result:
    """Warm up, then measure one scenario; BenchFailure if any answer was not 2xx."""
    if name == "refresh":
        pool = args.refresh_pool or _default_pool(results, args)
        print(f"seeding {pool} refresh tokens ...", flush=True)
        warm = seed_refresh_tokens(app, max(200, int(pool * args.warmup / args.duration)))
        (workdir / "refresh_warmup.txt").write_text("\n".join(warm) + "\n")
        (workdir / "refresh.txt").write_text("\n".join(seed_refresh_tokens(app, pool)) + "\n")
        files["refresh"] = workdir / "refresh.txt"
    if args.warmup > 0:
        warm_file = workdir / "refresh_warmup.txt" if name == "refresh" else files.get(name)
        warm_result = run_wrk(args, port=server.port, scenario=name, data_file=warm_file,
                              seconds=args.warmup)
        # The warm-up pool may run dry; only real refusals matter there.
        problems = [p for p in warm_result.problems() if "pool ran out" not in p]
        if problems:
            raise BenchFailure("warm-up: " + "; ".join(problems) + "\n" + server.error_log())
    rotation = None
    if name == "refresh":
        time.sleep(1)  # let the warm-up's last in-flight refreshes land
        rotation = token_counts(app)
    cpu_before = server.cpu_seconds()
    result = run_wrk(args, server.port, name, files.get(name), args.duration,
                     server.worker_pids() if args.profile else (), args.profile)
    result.cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / max(result.requests, 1)
    print(f"  {SCENARIOS[name].label:<40} {result.rate:9.1f} req/s", flush=True)
    if result.problems():
        raise BenchFailure("; ".join(result.problems()) + "\n" + server.error_log())
    if rotation is not None:
        _check_rotations(app, rotation, result, args.connections)
    return result


def _default_pool(results: dict, args) -> int:
    # No refresh can be faster than the bare JSON endpoint; without that figure, assume 3000/s.
    ceiling = results["json"].rate if "json" in results else 3000
    return int(ceiling * args.duration * 1.1) + 500


def _check_rotations(app, before: tuple[int, int], result: Result, connections: int) -> None:
    """Every counted refresh rotated a token: one token revoked and one issued per request."""
    time.sleep(1)  # requests still in flight when wrk stopped
    total, revoked = token_counts(app)
    issued, newly_revoked = total - before[0], revoked - before[1]
    # wrk stops with up to one request per connection answered but not counted.
    if not (issued == newly_revoked and result.requests <= issued
            <= result.requests + connections):
        raise BenchFailure(f"refresh: {result.requests} answers but {issued} tokens issued and "
                           f"{newly_revoked} revoked")


def _report(results: dict[str, Result], failures: dict[str, str],
            round_trips: dict[str, list[str]], show_sql: bool):
    for name, message in failures.items():
        print(f"\nFAILED {SCENARIOS[name].label}: {message}", file=sys.stderr)
    print()
    print(f"{'scenario':<40} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'requests':>9} {'CPU ms/req':>10}")
    for name, result in results.items():
        print(f"{SCENARIOS[name].label:<40} {result.rate:9.1f} {result.p50_ms:8.1f} "
              f"{result.p95_ms:8.1f} {result.p99_ms:8.1f} {result.requests:9d} "
              f"{result.cpu_ms:10.2f}")
    print()
    print("targets (req/s ratio; in brackets the same ratio computed from CPU ms/req, which "
          "other load on the machine disturbs less)")
    for scenario, baseline, minimum in TARGETS:
        if scenario in failures:
            print(f"  {SCENARIOS[scenario].label:<40} FAILED (see above)")
        elif scenario in results and baseline in results:
            ratio = results[scenario].rate / results[baseline].rate
            cpu_ratio = results[baseline].cpu_ms / results[scenario].cpu_ms \
                if results[scenario].cpu_ms else 0.0
            verdict = "ok" if ratio >= minimum else "MISSED"
            print(f"  {SCENARIOS[scenario].label:<40} {ratio:5.2f} x {baseline:<6} "
                  f"[{cpu_ratio:4.2f}]  (target >= {minimum:.2f})  {verdict}")
    print()
    print("database round trips per request (statements + BEGIN/COMMIT/ROLLBACK)")
    for name, log in round_trips.items():
        statements = sum(1 for entry in log if not entry.startswith(("BEGIN", "COMMIT",
                                                                      "ROLLBACK")))
        print(f"  {SCENARIOS[name].label:<40} {len(log):3d} round trips, "
              f"{statements} statements")
        if show_sql:
            for entry in log:
                print(f"      {entry[:160]}")


if __name__ == "__main__":
    sys.exit(main())
