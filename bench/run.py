"""Throughput of gotrue-web's hot paths against a bare Flask floor, each on its own gunicorn.

Run it through bench/run.sh (see bench/README.md). Steps:

1. a temporary database: a SQLite file, or on the server DATABASE_URL names a schema
   (PostgreSQL) or database (MariaDB) of its own; migrated with ``flask db upgrade``;
2. with --fill-users N, bulk-filled first with N generated users and N sessions (bench/fill.py);
   seeded through the project's services (bench/seed.py): confirmed users with real bcrypt
   cost-10 hashes and one session each, then per write scenario a pool that is used once:
   refresh tokens, new addresses to sign up, outstanding email codes;
3. one request of each kind through the Flask test client, counting database round trips;
4. two gunicorns (bench/servers.py): the project's (``wsgi:app``, gunicorn.conf.py) and the
   floor's (bench/floor_app.py: bare Flask JSON, bcrypt cost-10 check and hash) with the same
   worker class, workers and threads; wrk against each scenario; any non-2xx answer or socket
   error fails the run;
   The selected scenarios run in that order ``--rounds`` times; a ratio is the median over the
   rounds of the scenario's req/s over its baseline's in the same round, so a machine whose
   speed drifts during the run moves both sides of each ratio alike;
5. req/s and CPU per request per scenario, the ratios against the aims, each worker's resident
   memory; then everything is removed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

from bench_app import PASSWORD  # noqa: E402
from fill import fill  # noqa: E402
from seed import (  # noqa: E402
    BenchFailure,
    count_round_trips,
    migrate,
    provision_database,
    row_counts,
    seed_email_codes,
    seed_refresh_tokens,
    seed_users,
    server_environment,
    settle,
    token_counts,
)
from servers import (  # noqa: E402
    Server,
    database_server_cpu_seconds,
    free_port,
    project_settings,
)

from gotrue_web import create_app  # noqa: E402
from gotrue_web.extensions import db  # noqa: E402
from gotrue_web.settings import from_env  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    server: str  # "floor" or "project"
    once: bool = False  # each data line is presented once (a pool), else lines cycle


SCENARIOS = {
    s.name: s for s in (
        Scenario("json", "floor: bare Flask JSON", "floor"),
        Scenario("user", "GET /user", "project"),
        Scenario("refresh", "POST /token refresh_token", "project", once=True),
        Scenario("bcrypt", "floor: bare bcrypt check", "floor"),
        Scenario("password", "POST /token password", "project"),
        Scenario("bcrypt_hash", "floor: bare bcrypt hash", "floor"),
        Scenario("signup", "POST /signup (autoconfirm)", "project", once=True),
        Scenario("verify", "POST /verify (email code)", "project", once=True),
    )
}
# (scenario, baseline, minimum ratio of their req/s; None: reported only)
TARGETS = (("user", "json", 0.5), ("refresh", "json", 0.2), ("password", "bcrypt", 0.9),
           ("signup", "bcrypt_hash", 0.8), ("verify", "json", None))
# Resident memory of each project worker after the run.
MEMORY_AIM_MB = 150


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
    db_cpu_ms: float = 0.0  # a database server's on this machine, per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def combined(cls, rounds: list[Result]) -> Result:
        """The rounds of one scenario as one measurement: counts and times add up, CPU per
        request is over all requests, latency percentiles are the rounds' medians."""
        requests = sum(r.requests for r in rounds)

        def per_request(field: str) -> float:
            return sum(getattr(r, field) * r.requests for r in rounds) / max(requests, 1)

        def median(field: str) -> float:
            return statistics.median(getattr(r, field) for r in rounds)

        return cls(
            scenario=rounds[0].scenario, requests=requests,
            seconds=sum(r.seconds for r in rounds), non2xx=sum(r.non2xx for r in rounds),
            exhausted=sum(r.exhausted for r in rounds),
            socket_errors=sum(r.socket_errors for r in rounds),
            timeouts=sum(r.timeouts for r in rounds), p50_ms=median("p50_ms"),
            p95_ms=median("p95_ms"), p99_ms=median("p99_ms"),
            first_bad=next((r.first_bad for r in rounds if r.first_bad), ""),
            cpu_ms=per_request("cpu_ms"), db_cpu_ms=per_request("db_cpu_ms"))

    def problems(self) -> list[str]:
        found = []
        if self.exhausted:
            found.append(f"{self.scenario} pool ran out ({self.exhausted} requests without a "
                         f"line): raise --{self.scenario}-pool")
        # Requests sent after the pool ran out are refused on purpose.
        refused = self.non2xx - self.exhausted
        if refused > 0:
            found.append(f"{refused} non-2xx responses, first: {self.first_bad}")
        if self.socket_errors or self.timeouts:
            found.append(f"{self.socket_errors} socket errors, {self.timeouts} timeouts")
        return found


def run_wrk(args, port: int, scenario: str, data_file: Path | None, seconds: int,
            profile_pids: list[int] = (), profile_dir: Path | None = None,
            profile_name: str = "") -> Result:
    command = [
        args.wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", "10s", "-s", str(BENCH_DIR / "scenario.lua"), f"http://127.0.0.1:{port}",
        "--", scenario, str(data_file) if data_file else "-", str(args.threads), PASSWORD,
    ]
    profilers = [
        subprocess.Popen([args.py_spy, "record", "--pid", str(pid), "--duration",
                          str(seconds), "--rate", "200", "--format", "raw",
                          "--output", str(profile_dir / f"{profile_name or scenario}-{pid}.txt"),
                          "--nonblocking"],
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
               "GUNICORN_CMD_ARGS overrides gunicorn.conf.py for both gunicorns "
               "(e.g. \"--worker-class sync --threads 1\").")
    parser.add_argument("--duration", type=int, default=5,
                        help="measured seconds per scenario and round [5]")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times the selected scenarios run, in turn [3]")
    parser.add_argument("--warmup", type=int, default=2,
                        help="unmeasured seconds before each scenario's first round [2]")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections [8]")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads [1]")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both [2]")
    parser.add_argument("--users", type=int, default=50, help="seeded users [50]")
    parser.add_argument("--fill-users", type=int, default=0, metavar="N",
                        help="first bulk-fill N more users and N sessions (bench/fill.py) [0]")
    parser.add_argument("--fill-cache", type=Path, metavar="DIR",
                        help="SQLite: keep the filled database file in DIR and start later runs "
                             "with the same --fill-users, migrations and fill.py from a copy")
    for name, what in (("refresh", "refresh tokens"), ("signup", "new addresses"),
                       ("verify", "users with an email code")):
        parser.add_argument(f"--{name}-pool", type=int, default=0,
                            help=f"{what} to seed [sized from the earlier scenarios' rates]")
    parser.add_argument("--refresh-tokens", type=int, choices=(0, 2), default=0,
                        help="GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION of the project "
                             "(2: signed tokens, no token rows) [0]")
    parser.add_argument("--only", default="",
                        help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements of each round-trip probe")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record py-spy profiles (raw collapsed stacks) of each worker")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.only = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if not Path(args.wrk).is_file():
        parser.error(f"wrk not found at {args.wrk} (apt-get install wrk)")
    return args


def fill_database(args, database) -> None:
    """--fill-users, from a copy kept by an earlier run with --fill-cache where there is one."""
    kept = None
    if args.fill_cache and database.backend != "sqlite":
        print("--fill-cache keeps SQLite fills only: filling the server's database", flush=True)
    elif args.fill_cache:
        kept = args.fill_cache / fill_cache_name(args.fill_users)
        if kept.is_file():
            # The migrated file's write-ahead log, if any, belongs to the file replaced.
            for suffix in ("-wal", "-shm"):
                Path(f"{database.path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(kept, database.path)
            print(f"filled database copied from {kept}", flush=True)
            return
    print(f"filling {args.fill_users:,} users and as many sessions ...", flush=True)
    seconds = fill(database.url, database.namespace, args.fill_users, args.fill_users)
    print(f"  filled in {seconds:.0f} s", flush=True)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a run cut short never leaves half a file to copy.
        partial = kept.with_suffix(".partial")
        shutil.copyfile(database.path, partial)
        partial.replace(kept)


def fill_cache_name(users: int) -> str:
    """A kept fill is valid for the same size, migrations and generator."""
    digest = hashlib.sha256()
    sources = [BENCH_DIR / "fill.py", BENCH_DIR / "console_users.py",
               *sorted((BENCH_DIR.parent / "migrations").rglob("*.py"))]
    for path in sources:
        digest.update(path.read_bytes())
    return f"fill-{users}-{digest.hexdigest()[:16]}.sqlite"


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gotrue-bench-"))
    database = app = None
    servers: dict[str, Server] = {}
    try:
        database = provision_database(os.environ.get("DATABASE_URL", ""), workdir)
        port = free_port()
        env = server_environment(database, port, args.workers)
        env["GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION"] = str(args.refresh_tokens)
        migrate(env, workdir)
        if args.fill_users:
            fill_database(args, database)
        app = create_app(from_env(env, env_file=None))

        print(f"seeding {args.users} users (bcrypt cost 10) ...", flush=True)
        emails, access_tokens = seed_users(app, args.users)
        (workdir / "emails.txt").write_text("\n".join(emails) + "\n")
        (workdir / "access_tokens.txt").write_text("\n".join(access_tokens) + "\n")
        round_trips = count_round_trips(app, emails[0], access_tokens[0])
        counts = row_counts(app)
        print(f"database: {counts['users']:,} users, {counts['sessions']:,} sessions", flush=True)

        settings = project_settings(env, workdir)
        servers["project"] = Server.project(env, workdir, port)
        servers["floor"] = Server.floor(settings, env, workdir, free_port())
        servers["project"].wait_ready("/health")
        servers["floor"].wait_ready("/json")
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        print(f"project gunicorn: {servers['project'].description()}; floor gunicorn: "
              f"{servers['floor'].description()}; threads {settings.get('threads')}; "
              f"GUNICORN_CMD_ARGS={os.environ.get('GUNICORN_CMD_ARGS', '')!r}", flush=True)
        print(f"wrk: {args.threads} thread(s), {args.connections} connections, "
              f"{args.rounds} round(s) of {args.duration:g} s per scenario (+{args.warmup:g} s "
              f"warm-up before the first); database: {database.backend}", flush=True)

        rounds: dict[str, list[Result]] = {}
        failures: dict[str, str] = {}
        files = {"user": workdir / "access_tokens.txt", "password": workdir / "emails.txt"}
        for round_number in range(1, args.rounds + 1):
            for name in [s for s in SCENARIOS if s in args.only and s not in failures]:
                try:
                    rounds.setdefault(name, []).append(_run_scenario(
                        args, name, app, servers, workdir, files, rounds, round_number))
                except BenchFailure as failure:
                    failures[name] = str(failure)
                    rounds.pop(name, None)
                    print(f"  {SCENARIOS[name].label:<30} FAILED\n{failure}", flush=True)

        memory = {name: server.worker_rss_mb() for name, server in servers.items()}
        missed = report(rounds, failures, round_trips, memory, args.show_sql)
        if failures:
            return 1
        return 2 if missed else 0
    except BenchFailure as failure:
        print(f"\nBENCH FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        for server in servers.values():
            server.stop()
        if app is not None:
            # Its background threads first: they would go on asking a dropped database.
            app.extensions["gotrue"].outbox.stop()
            app.extensions["gotrue"].live_settings.stop()
            with app.app_context():
                db.engine.dispose()
        if database is not None:
            database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def _pool_size(args, name: str, rounds: dict[str, list[Result]]) -> int:
    """Lines for one round of a once-only scenario: more than it can use at the rate of a
    faster one."""
    chosen = getattr(args, f"{name}_pool")
    if chosen:
        return chosen

    def rate(scenario: str) -> Result | None:
        return Result.combined(rounds[scenario]) if rounds.get(scenario) else None

    if name == "refresh":  # a refresh writes: slower than GET /user, a single read
        ceiling = rate("user").rate * 1.3 if rate("user") else 3000
    elif name == "signup":  # a signup hashes the password
        ceiling = rate("bcrypt_hash").rate * 1.5 if rate("bcrypt_hash") else 100
    else:  # verify: a keyed digest, a row lock and a new session, about a refresh's work
        ceiling = rate("refresh").rate * 2 if rate("refresh") else 600
    return int(ceiling * args.duration) + 300


def _prepare_pool(args, name: str, app, workdir: Path, files: dict, rounds,
                  round_number: int) -> Path | None:
    """Seed a round's measured pool of a once-only scenario (each round presents lines of its
    own), and in the first round the warm-up's; return the warm-up's file."""
    pool = _pool_size(args, name, rounds)
    warm = max(200, int(pool * args.warmup / args.duration)) if round_number == 1 else 0
    print(f"seeding {pool} + {warm} (warm-up) lines for {name} ...", flush=True)
    tag = f"{round_number}"
    if name == "refresh":
        warm_lines = seed_refresh_tokens(app, warm) if warm else []
        lines = seed_refresh_tokens(app, pool)
    elif name == "signup":
        warm_lines = [f"signup-warm-{i}@example.com" for i in range(warm)]
        lines = [f"signup-{tag}-{i}@example.com" for i in range(pool)]
    else:
        warm_lines = seed_email_codes(app, warm, "verify-warm") if warm else []
        lines = seed_email_codes(app, pool, f"verify-{tag}")
    files[name] = workdir / f"{name}-{tag}.txt"
    files[name].write_text("\n".join(lines) + "\n")
    if not warm_lines:
        return None
    (workdir / f"{name}_warmup.txt").write_text("\n".join(warm_lines) + "\n")
    return workdir / f"{name}_warmup.txt"


def _run_scenario(args, name: str, app, servers: dict[str, Server], workdir: Path, files: dict,
                  rounds: dict[str, list[Result]], round_number: int) -> Result:
    """Measure one round of a scenario, warmed up first in the first round; BenchFailure if
    any answer was not 2xx."""
    scenario = SCENARIOS[name]
    server = servers[scenario.server]
    warm_file = files.get(name)
    if scenario.once:
        warm_file = _prepare_pool(args, name, app, workdir, files, rounds, round_number)
    if args.warmup > 0 and round_number == 1:
        warm_result = run_wrk(args, server.port, name, warm_file, args.warmup)
        # The warm-up pool may run dry; only real refusals matter there.
        problems = [p for p in warm_result.problems() if "pool ran out" not in p]
        if problems:
            raise BenchFailure("warm-up: " + "; ".join(problems) + "\n" + server.error_log())
    # Let the warm-up's last in-flight requests land and its connections close: a worker
    # still holding them when wrk connects again would leave the new ones to the other.
    time.sleep(1)
    settle(app)
    before = None
    if scenario.once:
        before = token_counts(app) if name == "refresh" else row_counts(app)
    cpu_before, db_before = server.cpu_by_process(), database_server_cpu_seconds()
    result = run_wrk(args, server.port, name, files.get(name), args.duration,
                     server.worker_pids() if args.profile else (), args.profile,
                     f"{name}-{round_number}")
    cpu_after, db_after = server.cpu_by_process(), database_server_cpu_seconds()
    result.db_cpu_ms = (db_after - db_before) * 1000 / max(result.requests, 1)
    used = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    result.cpu_ms = sum(used.values()) * 1000 / max(result.requests, 1)
    workers = [used[pid] for pid in server.worker_pids() if pid in used]
    shares = "/".join(f"{100 * w / max(sum(workers), 1e-9):.0f}" for w in workers)
    print(f"  {scenario.label:<30} round {round_number}/{args.rounds} {result.rate:9.1f} req/s  "
          f"(worker CPU shares {shares} %)", flush=True)
    if result.problems():
        raise BenchFailure("; ".join(result.problems()) + "\n" + server.error_log())
    if name == "refresh":
        _check_rotations(app, before, result, args.connections)
    elif scenario.once:
        _check_rows(app, name, before, result, args.connections)
    return result


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


def _check_rows(app, name: str, before: dict[str, int], result: Result,
                connections: int) -> None:
    """Every counted signup made a user, every counted verify a session."""
    time.sleep(1)
    table = "users" if name == "signup" else "sessions"
    made = row_counts(app)[table] - before[table]
    if not result.requests <= made <= result.requests + connections:
        raise BenchFailure(f"{name}: {result.requests} answers but {made} new {table}")


def paired_ratios(scenario: list[Result], baseline: list[Result]) -> list[float]:
    """Each round's req/s of a scenario over its baseline's in the same round."""
    return [mine.rate / base.rate for mine, base in zip(scenario, baseline) if base.rate]


def report(rounds, failures, round_trips, memory, show_sql: bool) -> list[str]:
    """Print the figures; return the aims missed."""
    missed = []
    results = {name: Result.combined(measured) for name, measured in rounds.items()}
    print()
    print("all rounds together (latency percentiles: the rounds' medians)")
    print(f"{'scenario':<30} {'server':>7} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'requests':>9} {'CPU ms/req':>10} {'DB CPU ms/req':>13}")
    for name, result in results.items():
        print(f"{SCENARIOS[name].label:<30} {SCENARIOS[name].server:>7} {result.rate:9.1f} "
              f"{result.p50_ms:8.1f} {result.p95_ms:8.1f} {result.p99_ms:8.1f} "
              f"{result.requests:9d} {result.cpu_ms:10.2f} {result.db_cpu_ms:13.2f}")
    print()
    print("aims (the median over the rounds of the req/s ratio in each round, the rounds' own "
          "after it; in brackets the ratio of CPU ms/req of each gunicorn over all rounds, "
          "which other load on the machine disturbs less)")
    for scenario, baseline, minimum in TARGETS:
        label = SCENARIOS[scenario].label
        if scenario in failures:
            print(f"  {label:<30} FAILED (see above)")
            missed.append(scenario)
        elif scenario in results and baseline in results:
            mine, base = results[scenario], results[baseline]
            each = paired_ratios(rounds[scenario], rounds[baseline])
            ratio = statistics.median(each)
            cpu_ratio = base.cpu_ms / mine.cpu_ms if mine.cpu_ms else 0.0
            if minimum is None:
                verdict = "(reported only)"
            else:
                verdict = f"(aim >= {minimum:.2f})  " + ("ok" if ratio >= minimum else "MISSED")
                if ratio < minimum:
                    missed.append(scenario)
            shown = " ".join(f"{value:.2f}" for value in each)
            print(f"  {label:<30} {ratio:5.2f} x {baseline:<11} ({shown}) [{cpu_ratio:4.2f}]  "
                  f"{verdict}")
    print()
    print(f"resident memory of each worker after the run (VmRSS; aim for the project's: "
          f"< {MEMORY_AIM_MB} MB)")
    for name, workers in memory.items():
        sizes = ", ".join(f"{pid}: {mb:.0f} MB" for pid, mb in sorted(workers.items()))
        over = name == "project" and any(mb >= MEMORY_AIM_MB for mb in workers.values())
        if over:
            missed.append("memory")
        verdict = ("MISSED" if over else "ok") if name == "project" else "(reference)"
        print(f"  {name:<8} {sizes}  {verdict}")
    print()
    print("database round trips per request (statements + BEGIN/COMMIT/ROLLBACK)")
    for name, log in round_trips.items():
        statements = sum(1 for entry in log if not entry.startswith(("BEGIN", "COMMIT",
                                                                      "ROLLBACK")))
        print(f"  {SCENARIOS[name].label:<30} {len(log):3d} round trips, "
              f"{statements} statements")
        if show_sql:
            for entry in log:
                print(f"      {entry[:160]}")
    if missed:
        print(f"\naims missed: {', '.join(missed)}")
    return missed


if __name__ == "__main__":
    sys.exit(main())
